"""Empirical: exact moments of given samples, joint resampling, sample_node, errors."""

import numpy as np
import pytest
import torch

from ppl.infer.vi import Empirical


def test_exact_mean_and_std_of_the_given_samples():
    approx = Empirical(
        {"x": torch.tensor([1.0, 2.0, 3.0, 6.0]), "v": torch.tensor([[0.0, 1.0], [2.0, 3.0]] * 2)}
    )
    assert float(approx.mean["x"]) == 3.0
    assert torch.allclose(approx.std["x"], torch.tensor(1.8708287))  # sqrt(14 / 4), no Bessel
    assert approx.mean["v"].tolist() == [1.0, 2.0]
    assert approx.std["v"].tolist() == [1.0, 1.0]
    assert approx.num_draws == 4


def test_sample_keeps_rows_together_and_accepts_arrays():
    x = np.arange(10.0)
    approx = Empirical({"x": x, "y": 2 * torch.arange(10.0)})
    draws = approx.sample(50)
    assert draws["x"].shape == (50,)
    assert torch.equal(draws["y"], 2 * draws["x"])  # same row for every site
    assert set(draws["x"].tolist()) <= set(x.tolist())


def test_sample_node_vectorized_and_per_draw():
    approx = Empirical({"x": torch.tensor([-1.0, 1.0])})
    sq = approx.sample_node(lambda s: s["x"] ** 2, size=20)
    assert sq.shape == (20,) and bool((sq == 1.0).all())
    one = approx.sample_node(lambda s: torch.sin(s["x"]))
    assert one.shape == () and abs(abs(float(one)) - float(np.sin(1.0))) < 1e-6
    loop = approx.sample_node(lambda s: {"a": s["x"] * 0 + 3}, size=4, vectorized=False)
    assert loop["a"].tolist() == [3.0, 3.0, 3.0, 3.0]


def test_integer_samples_give_float_moments():
    approx = Empirical({"k": torch.tensor([0, 1, 1, 2])})
    assert float(approx.mean["k"]) == 1.0


@pytest.mark.parametrize(
    "samples, err, match",
    [
        ({}, TypeError, "non-empty dict"),
        ([1, 2], TypeError, "non-empty dict"),
        ({"x": torch.tensor(1.0)}, ValueError, "is a scalar"),
        ({"x": torch.zeros(3), "y": torch.zeros(4)}, ValueError, "has 4 draws but"),
        ({"x": torch.zeros(0)}, ValueError, "0 draws"),
        ({"x": object()}, TypeError, "must be a tensor or array"),
    ],
)
def test_bad_samples(samples, err, match):
    with pytest.raises(err, match=match):
        Empirical(samples)


def test_sample_and_refine_errors():
    approx = Empirical({"x": torch.zeros(3)})
    with pytest.raises(ValueError, match="draws must be >= 1"):
        approx.sample(0)
    with pytest.raises(TypeError, match="fn must be callable"):
        approx.sample_node("x ** 2")
    with pytest.raises(ValueError, match="nothing to continue"):
        approx.refine(10)
