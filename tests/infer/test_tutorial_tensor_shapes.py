"""tutorial/tensor_shapes.py: the shapes Pyro's tensor-shapes tutorial asserts, its two
shape tables (text identical to Pyro's), and the losses against their closed forms."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial" / "tensor_shapes.py"

# Trace.format_shapes() as Pyro prints it in the tutorial (model1, then model3 enumerated)
MODEL1_TABLE = (
    "Trace Shapes:            \n"
    " Param Sites:            \n"
    "Sample Sites:            \n"
    "       a dist       |    \n"
    "        value       |    \n"
    "     log_prob       |    \n"
    "       b dist       | 2  \n"
    "        value       | 2  \n"
    "     log_prob       |    \n"
    " c_plate dist       |    \n"
    "        value     2 |    \n"
    "     log_prob       |    \n"
    "       c dist     2 |    \n"
    "        value     2 |    \n"
    "     log_prob     2 |    \n"
    " d_plate dist       |    \n"
    "        value     3 |    \n"
    "     log_prob       |    \n"
    "       d dist     3 | 4 5\n"
    "        value     3 | 4 5\n"
    "     log_prob     3 |    \n"
    "  x_axis dist       |    \n"
    "        value     3 |    \n"
    "     log_prob       |    \n"
    "  y_axis dist       |    \n"
    "        value     2 |    \n"
    "     log_prob       |    \n"
    "       x dist   3 1 |    \n"
    "        value   3 1 |    \n"
    "     log_prob   3 1 |    \n"
    "       y dist 2 1 1 |    \n"
    "        value 2 1 1 |    \n"
    "     log_prob 2 1 1 |    \n"
    "      xy dist 2 3 1 |    \n"
    "        value 2 3 1 |    \n"
    "     log_prob 2 3 1 |    \n"
    "       z dist 2 3 1 | 5  \n"
    "        value 2 3 1 | 5  \n"
    "     log_prob 2 3 1 |    \n"
).rstrip("\n")
MODEL3_TABLE = (
    "Trace Shapes:                \n"
    " Param Sites:                \n"
    "            p             6  \n"
    "         locs             2  \n"
    "Sample Sites:                \n"
    "       a dist             |  \n"
    "        value       6 1 1 |  \n"
    "     log_prob       6 1 1 |  \n"
    "       b dist       6 1 1 |  \n"
    "        value     2 1 1 1 |  \n"
    "     log_prob     2 6 1 1 |  \n"
    " c_plate dist             |  \n"
    "        value           4 |  \n"
    "     log_prob             |  \n"
    "       c dist           4 |  \n"
    "        value   2 1 1 1 1 |  \n"
    "     log_prob   2 1 1 1 4 |  \n"
    " d_plate dist             |  \n"
    "        value           5 |  \n"
    "     log_prob             |  \n"
    "       d dist         5 4 |  \n"
    "        value 2 1 1 1 1 1 |  \n"
    "     log_prob 2 1 1 1 5 4 |  \n"
    "       e dist 2 1 1 1 5 4 | 7\n"
    "        value 2 1 1 1 5 4 | 7\n"
    "     log_prob 2 1 1 1 5 4 |  \n"
).rstrip("\n")


@pytest.fixture(scope="module")
def tutorial():
    spec = importlib.util.spec_from_file_location("tutorial_tensor_shapes", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["tutorial_tensor_shapes"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results(tutorial):
    return tutorial.run(seed=0)


def test_distribution_shapes(results):
    d = results["distributions"]
    assert d["scalar"] == dict(batch_shape=(), event_shape=(), sample=(), log_prob=())
    assert d["batched"] == dict(batch_shape=(3, 4), event_shape=(), sample=(3, 4), log_prob=(3, 4))
    assert d["expanded"] == d["batched"]
    assert d["mvn"] == dict(batch_shape=(), event_shape=(3,), sample=(3,), log_prob=())
    assert d["to_event"] == dict(batch_shape=(3,), event_shape=(4,), sample=(3, 4), log_prob=(3,))


def test_plate_shapes_and_table(results):
    assert results["model1_shapes"] == dict(
        a=(), b=(2,), c=(2,), d=(3, 4, 5), x=(3, 1), y=(2, 1, 1), xy=(2, 3, 1), z=(2, 3, 1, 5)
    )
    assert results["model1_table"] == MODEL1_TABLE
    # the guide is the model itself, replayed: log p - log q cancels site by site
    assert results["model1_loss"] == pytest.approx(0.0, abs=1e-4)


def test_subsampling_scales_the_minibatch(results):
    ind = results["model2_ind"]
    assert ind.shape == (10,) and len(set(ind.tolist())) == 10
    assert results["model2_x"] == (10,)
    data = torch.arange(100.0)[ind].double()
    expected = 10 * float((data**2 / 2 + 0.5 * math.log(2 * math.pi)).sum())
    assert results["model2_loss"] == pytest.approx(expected, rel=1e-6)


def test_enumeration_shapes_and_table(results):
    assert results["model3_shapes"] == dict(
        a=(6, 1, 1),
        b=(2, 1, 1, 1),
        c=(2, 1, 1, 1, 1),
        d=(2, 1, 1, 1, 1, 1),
        e=(2, 1, 1, 1, 5, 4, 7),
        e_loc=(2, 1, 1, 1, 1, 1, 1),
        e_scale=(7,),
    )
    assert results["model3_table"] == MODEL3_TABLE
    assert results["model3_loss"] == pytest.approx(0.0, abs=1e-4)


def test_shape_agnostic_pixel_model(tutorial, results):
    assert results["pixels_sampled_shapes"] == dict(
        x_active=(8, 1), y_active=(10,), p=(8, 10), dense=(8, 10)
    )
    assert results["pixels_enumerated_shapes"] == dict(
        x_active=(2, 1, 1), y_active=(2, 1, 1, 1), p=(2, 2, 1, 1), dense=(2, 2, 8, 10)
    )
    exact = tutorial.pixel_expected_loss()
    assert results["pixels_enumerated_loss"] == pytest.approx(exact, rel=1e-5)
    assert math.isfinite(results["pixels_sampled_loss"])
    for how in tutorial.SAMPLE_FNS:
        assert results[f"particles_{how}_shapes"] == dict(
            x_active=(2, 1, 1, 1),
            y_active=(2, 1, 1, 1, 1),
            p=(2, 2, 1, 1, 1),
            dense=(2, 2, 1, 8, 10),
        )
        # 100 particles in a plate: the sum of 100 exact enumerated losses
        assert results[f"particles_{how}_loss"] == pytest.approx(100 * exact, rel=1e-5)


def test_main_prints_the_tables(tutorial, capsys):
    tutorial.main([])
    assert MODEL3_TABLE in capsys.readouterr().out
