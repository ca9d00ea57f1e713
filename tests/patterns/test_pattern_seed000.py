"""Seed 000 (paragami "Parameter containers"): the tutorial's printed numbers."""

import runpy
from pathlib import Path

import pytest
import torch

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial" / "seed000_patterns.py"


@pytest.fixture(scope="module")
def seed():
    dtype = torch.get_default_dtype()
    ns = runpy.run_path(str(TUTORIAL), run_name="seed000")
    try:
        yield {
            "dicts": ns["section_dicts"](),
            "nested": ns["section_nested"](),
            "locking": ns["section_locking"](),
            "arrays": ns["section_arrays"](),
            "timing": ns["section_timing"](test_times=3),
            "ns": ns,
        }
    finally:
        torch.set_default_dtype(dtype)


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_free_flat_vector_is_exact(seed):
    free = seed["dicts"]["free"]
    assert free.dtype == torch.float64
    expected = t([0.87367236, 0.21280422, 0.04765509, 0.95346259, -0.82797896])
    assert torch.allclose(free, expected, atol=5e-9, rtol=0)


def test_fold_round_trip_is_ordered(seed):
    folded = seed["dicts"]["folded"]
    assert list(folded) == ["mean", "cov"]
    assert torch.allclose(folded["mean"], t([0.87367236, 0.21280422]), atol=1e-15)
    assert torch.allclose(folded["cov"], t([[1.1, 1.0], [1.0, 1.1]]), atol=1e-14)


def test_flatten_function_input_loss_and_gradient(seed):
    d = seed["dicts"]
    assert d["free_loss"].item() == pytest.approx(d["original_loss"].item(), abs=1e-10)
    assert d["free_loss"].item() == pytest.approx(219.8143711666299, abs=1e-9)
    expected = t([-59.66882221, 78.5304, -24.49767189, -12.36127117, 36.00719091])
    assert torch.allclose(d["grad"], expected, atol=6e-9, rtol=0)
    hess = d["hessian"]
    assert torch.allclose(hess, hess.T, atol=1e-8)
    assert torch.linalg.eigvalsh(hess).min() > 0  # the true parameters are near the optimum


def test_nested_dicts(seed):
    n = seed["nested"]
    expected = t(
        [0.87367236, 0.21280422, 0.04765509, 0.95346259, -0.82797896, 0.9666736,
         0.24848757, 0.7820626, 0.71722798, 0.14226413, 0.84729786]
    )  # fmt: skip
    assert torch.allclose(n["free"], expected, atol=5e-9, rtol=0)
    mvn2 = n["par"]["mvn2"]
    assert torch.allclose(mvn2["mean"], t([0.9666736, 0.24848757]), atol=1e-12)
    cov2 = t([[4.77849291, 1.56784344], [1.56784344, 1.84355085]])
    assert torch.allclose(mvn2["cov"], cov2, atol=5e-8, rtol=0)  # from 8-digit free
    assert torch.allclose(n["member_free"], expected[:5], atol=5e-9, rtol=0)
    # storing mvn_pattern in mvns_pattern locked it (paragami's rule)
    assert n["pattern"]["mvn1"].locked


def test_locking(seed):
    lock = seed["locking"]
    assert lock["lengths"] == [2, 5, 13]
    assert len(lock["errors"]) == 2
    assert all("The dictionary is locked" in e for e in lock["errors"])


def test_mixture_pattern_array_round_trip(seed):
    a = seed["arrays"]
    folded, par = a["folded"], a["par"]
    assert list(folded) == ["prob", "means", "covs"]
    for key in par:
        assert torch.allclose(folded[key], par[key], atol=1e-12), key
    assert torch.allclose(folded["prob"], t([[0.1, 0.2, 0.3, 0.4]]), atol=1e-15)
    assert a["pattern"].flat_length(free=True) == 3 + 8 + 12
    assert "PatternArray does not support patterns whose folded values are not" in a["error"]


def test_timing_section_runs(seed):
    tm = seed["timing"]
    assert tm["array_time"] > 0 and tm["simplex_time"] > 0
