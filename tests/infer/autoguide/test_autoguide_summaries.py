"""``median``/``quantiles`` agree with the guide's own samples, for every guide (table-driven).

For a level ``q`` and ``N`` independent draws, the fraction of draws below the guide's
``q``-quantile is Binomial(N, q)/N, with standard deviation ``sqrt(q (1 - q) / N)``;
we allow 4.5 of those (a false alarm rate below 1e-5 per check).
"""

import math

import pytest
import torch
from autoguide_models import mixed_model

import ppl
from ppl import poutine
from ppl.infer.autoguide import (
    AutoDelta,
    AutoDiagonalNormal,
    AutoGuideList,
    AutoLaplaceApproximation,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)

DATA = torch.tensor([0.5, 1.0, 1.5])
N = 4000
LEVELS = [0.1, 0.5, 0.9]


def _guide_list(model):
    guide = AutoGuideList(model)
    guide.append(AutoMultivariateNormal(poutine.block(model, hide=["p"])))
    guide.append(AutoNormal(poutine.block(model, expose=["p"])))
    return guide


GUIDES = {
    "AutoNormal": AutoNormal,
    "AutoDelta": AutoDelta,
    "AutoDiagonalNormal": AutoDiagonalNormal,
    "AutoMultivariateNormal": AutoMultivariateNormal,
    "AutoLowRankMultivariateNormal": lambda m: AutoLowRankMultivariateNormal(m, rank=2),
    "AutoLaplaceApproximation": AutoLaplaceApproximation,
    "AutoGuideList": _guide_list,
}
POINT_MASSES = {"AutoDelta", "AutoLaplaceApproximation"}


def _perturb(guide):
    """Move every unconstrained parameter off its init, so correlations are non-trivial."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in guide.named_parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen))


def _draws(guide):
    """N draws of every site: one vectorized guide run inside an outer particle plate."""
    with torch.no_grad(), ppl.plate("particles", N, dim=-2):
        values = guide(DATA)
    return {k: v.reshape(N, -1) for k, v in values.items()}


@pytest.mark.parametrize("name", list(GUIDES))
def test_median_and_quantiles_match_samples(name):
    guide = GUIDES[name](mixed_model)
    guide.setup(DATA)
    _perturb(guide)
    draws = _draws(guide)
    median = guide.median(DATA)
    quantiles = guide.quantiles(LEVELS, DATA)
    assert sorted(draws) == sorted(median) == sorted(quantiles) == ["mu", "p", "s"]
    for site, x in draws.items():
        assert quantiles[site].shape == (len(LEVELS),) + median[site].shape
        med = median[site].reshape(-1)
        qs = quantiles[site].reshape(len(LEVELS), -1)
        if name in POINT_MASSES:
            assert torch.allclose(x, med.expand_as(x))
            assert torch.allclose(qs, med.expand_as(qs))
            continue
        assert torch.allclose(qs[1], med, atol=1e-5)
        for level, q in zip(LEVELS, qs):
            below = (x <= q).double().mean(0)
            tol = 4.5 * math.sqrt(level * (1 - level) / N)
            assert torch.all((below - level).abs() < tol), (site, level, below)


@pytest.mark.parametrize("name", ["AutoDiagonalNormal", "AutoMultivariateNormal"])
def test_sequential_runs_match_the_vectorized_run_in_distribution(name):
    guide = GUIDES[name](mixed_model)
    guide.setup(DATA)
    _perturb(guide)
    with torch.no_grad():
        seq = torch.stack([guide(DATA)["p"] for _ in range(400)])
    assert seq.shape == (400, 3)
    q = guide.quantiles([0.5], DATA)["p"][0]
    below = (seq <= q).double().mean(0)
    assert torch.all((below - 0.5).abs() < 4.5 * math.sqrt(0.25 / 400))


@pytest.mark.parametrize("name", ["AutoNormal", "AutoMultivariateNormal"])
@pytest.mark.parametrize("parallel", [False, True])
def test_predictive_draws_from_the_guide(name, parallel):
    from ppl.infer.predictive import Predictive

    guide = GUIDES[name](mixed_model)
    guide.setup(DATA)
    samples = Predictive(mixed_model, guide=guide, num_samples=7, parallel=parallel)(DATA)
    shapes = {k: tuple(v.shape) for k, v in samples.items()}
    assert shapes == {"mu": (7, 1), "s": (7, 1), "p": (7, 3), "obs": (7, 3)}  # Pyro pads
