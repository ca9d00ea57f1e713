"""tutorial/gmm.py: MAP globals, infer_discrete against the exact assignment posterior,
a guide-side enumerated assignment, and collapsed NUTS."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # ~10 s: 400 SVI steps and a few hundred infer_discrete runs

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial" / "gmm.py"


def _load():
    spec = importlib.util.spec_from_file_location("tutorial_gmm", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["tutorial_gmm"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gmm():
    return _load()


@pytest.fixture(scope="module")
def results(gmm):
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return gmm.run(num_steps=200, num_inits=10, num_samples=0)
    finally:
        torch.set_num_threads(old)


def _order(results):
    """Component order that sorts the fitted locs (the labels are arbitrary)."""
    return torch.argsort(results["locs"])


def test_map_globals_match_the_tutorial(results):
    order = _order(results)
    # the numbers Pyro's tutorial prints (up to relabelling the components)
    assert results["locs"][order].tolist() == pytest.approx([0.4989, 10.9845], abs=0.02)
    assert results["weights"][order].tolist() == pytest.approx([0.375, 0.625], abs=0.01)
    assert float(results["scale"]) == pytest.approx(0.6514, abs=0.01)
    assert results["final_loss"] < results["initial_loss"]


def test_infer_discrete_map_is_the_exact_argmax(gmm, results):
    w, locs, scale = results["weights"], results["locs"], results["scale"]
    for data_key, map_key in [("data", "map_assignment"), ("grid", "grid_map_assignment")]:
        data = gmm.DATA if data_key == "data" else results["grid"]
        exact = gmm.posterior_assignment_probs(w, locs, scale, data)
        assert torch.equal(results[map_key], exact.argmax(-1))
    low = int(_order(results)[0])
    assert results["map_assignment"].tolist() == [low, low, 1 - low, 1 - low, 1 - low]


def test_posterior_draws_match_the_exact_posterior(gmm, results):
    grid = results["boundary_grid"]
    exact = gmm.posterior_assignment_probs(
        results["weights"], results["locs"], results["scale"], grid
    )[:, 1]
    draws = results["boundary_samples"].double()  # 20 draws at each of 100 points
    n = draws.numel()
    se = float((exact * (1 - exact)).sum().sqrt()) / n
    assert abs(float(draws.mean()) - float(exact.mean())) < 4 * se + 1e-3
    # the boundary is where the posterior changes hands: both components are drawn
    assert 0 < float(draws.mean()) < 1


def test_guide_side_assignment_learns_the_posterior(gmm, results):
    exact = gmm.posterior_assignment_probs(
        results["weights"], results["locs"], results["scale"], gmm.DATA
    )
    assert torch.allclose(results["assignment_probs"], exact, atol=0.01)


def test_collapsed_nuts_finds_both_clusters(gmm):
    out = gmm.run(num_steps=50, num_inits=5, num_samples=60, warmup_steps=60, progress=False)
    locs = out["nuts_locs"].sort(-1).values  # undo label switching per sample
    assert locs.shape == (60, 2)
    assert float(locs[:, 0].median()) == pytest.approx(0.5, abs=1.5)
    assert float(locs[:, 1].median()) == pytest.approx(11.0, abs=1.5)
