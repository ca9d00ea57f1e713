"""The seed-004 tutorial runs in quick mode and reproduces the seed's findings."""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[3] / "tutorial" / "seed004_variational_api.py"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("seed004_tutorial", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(["--quick", "--out", str(tmp_path_factory.mktemp("plots"))])


def test_svgd_recovers_the_mixture_moments(results):
    mixture = results["mixture"]
    assert abs(mixture["svgd_mean"] - 0.46) < 0.015  # tolerance: see tests/infer/test_svgd.py
    assert abs(mixture["svgd_std"] - 0.128) < 0.012


def test_convergence_check_measures_parameter_movement(results):
    conv = results["convergence"]
    assert conv["relative_steps"] == 1500
    # the absolute check stops exactly when a 100-step change falls below 1e-3
    stopped = conv["absolute_steps"] < 1500
    assert stopped == (conv["min_jump"] < 1e-3)


def test_tracker_and_refine_lengths(results):
    tracker = results["tracker"]
    assert tracker["hist"] == tracker["tracked"] == tracker["expected"] == 500


def test_sample_node_and_iris_and_minibatch(results):
    assert results["nodes"]["a_sample_shape"] == ()
    assert abs(results["nodes"]["x2_mean"] - 0.228) < 0.02  # E[x^2] = 0.0164 + 0.46**2
    iris = results["iris"]
    assert iris["steps"] == 80
    assert iris["train"] > 0.8 and iris["test"] > 0.8
    mb = results["minibatch"]
    assert mb["err_mini"] < 0.2 and mb["gap"] < 0.2  # minibatch and full batch agree
    assert mb["hist"] == 1000


def test_plots_are_written(results):
    names = {p.name for p in Path(results["out"]).glob("*.png")}
    assert {"mixture_densities.png", "convergence_hist.png", "iris_accuracy.png"} <= names
