"""Posterior accuracy of autoguides fitted with SVI, against analytic answers.

Every fit uses ``ClippedAdam`` with a learning rate decaying geometrically by a factor
``lr_end / lr`` over the run, so the last iterates average many gradient steps and the
result is limited by Monte Carlo noise. The tolerances are about four times the
seed-to-seed spread of the fitted numbers, measured on these problems (see each test).
"""

import math

import pytest
import torch
from autoguide_models import EIGHT_SIGMA, EIGHT_Y, SIG1, SIG2, eight_schools, model_forauto

import ppl
import ppl.distributions as dist
from ppl.infer.autoguide import (
    AutoDelta,
    AutoDiagonalNormal,
    AutoGuideList,
    AutoLaplaceApproximation,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.optim import ClippedAdam


def fit(model, guide, steps, *args, lr=0.05, lr_end=5e-4, particles=1):
    optim = ClippedAdam({"lr": lr, "lrd": (lr_end / lr) ** (1.0 / steps)})
    loss = Trace_ELBO(num_particles=particles, vectorize_particles=particles > 1)
    return SVI(model, guide, optim, loss).run(steps, *args, progress_bar=False)


# --------------------------------------------------------------------- Normal-Normal
N_OBS = 10
NN_DATA = torch.linspace(-1.0, 3.0, N_OBS) + 1.0  # mean 2


def normal_normal(data):
    z = ppl.sample("z", dist.Normal(0.0, 1.0))
    with ppl.plate("data", len(data)):
        ppl.sample("x", dist.Normal(z, 1.0), obs=data)


POST_MEAN = float(NN_DATA.sum()) / (N_OBS + 1)
POST_SD = math.sqrt(1.0 / (N_OBS + 1))


@pytest.mark.parametrize(
    "cls",
    [AutoNormal, AutoDiagonalNormal, AutoMultivariateNormal, AutoLowRankMultivariateNormal],
    ids=lambda c: c.__name__,
)
def test_normal_normal_posterior_mean_and_sd(cls):
    # 800 steps; over seeds 0-2 the mean error was <= 0.03 (0.1 sd) and the sd ratio
    # within 6%, so we allow 0.2 posterior sds for the mean and 15% for the sd.
    guide = cls(normal_normal)
    result = fit(normal_normal, guide, 800, NN_DATA)
    assert result.losses.shape == (800,)
    lo, med, hi = guide.quantiles([0.158655, 0.5, 0.841345], NN_DATA)["z"].tolist()
    assert med == pytest.approx(POST_MEAN, abs=0.2 * POST_SD)
    assert 0.5 * (hi - lo) == pytest.approx(POST_SD, rel=0.15)


@pytest.mark.parametrize("cls", [AutoDelta, AutoLaplaceApproximation], ids=lambda c: c.__name__)
def test_normal_normal_map(cls):
    # MAP = posterior mean for a Gaussian posterior; the loss is deterministic, so the
    # optimum is reached to the precision of the final learning rate.
    guide = cls(normal_normal)
    fit(normal_normal, guide, 500, NN_DATA)
    assert float(guide.median(NN_DATA)["z"]) == pytest.approx(POST_MEAN, abs=0.01)


# --------------------------------------------------------------------- Beta-Bernoulli
def beta_bernoulli(data):
    p = ppl.sample("p", dist.Beta(2.0, 2.0))
    with ppl.plate("data", len(data)):
        ppl.sample("x", dist.Bernoulli(p), obs=data)


def test_beta_bernoulli_via_autonormal_on_the_logit():
    data = torch.tensor([1.0] * 14 + [0.0] * 6)
    a, b = 2.0 + 14, 2.0 + 6  # posterior Beta(16, 8)
    # Under Beta(a, b), logit(p) has mean digamma(a) - digamma(b) and variance
    # trigamma(a) + trigamma(b); AutoNormal is a Normal on exactly that scale.
    mean = float(torch.digamma(torch.tensor(a)) - torch.digamma(torch.tensor(b)))
    sd = math.sqrt(float(torch.polygamma(1, torch.tensor(a)) + torch.polygamma(1, torch.tensor(b))))
    guide = AutoNormal(beta_bernoulli)
    fit(beta_bernoulli, guide, 800, data)
    # the guide's site p is sigmoid(u), u ~ Normal(loc, scale)
    assert float(guide.locs.p.detach()) == pytest.approx(mean, abs=0.2 * sd)
    assert float(guide.scales.p.detach()) == pytest.approx(sd, rel=0.15)
    assert float(guide.median(data)["p"]) == pytest.approx(1 / (1 + math.exp(-mean)), abs=0.02)


# --------------------------------------------------------------------- eight schools
@pytest.mark.parametrize(
    "cls",
    [
        AutoNormal,
        AutoDelta,
        AutoDiagonalNormal,
        AutoMultivariateNormal,
        AutoLowRankMultivariateNormal,
        AutoLaplaceApproximation,
    ],
    ids=lambda c: c.__name__,
)
def test_eight_schools_runs_and_gives_finite_quantiles(cls):
    guide = cls(eight_schools)
    result = fit(eight_schools, guide, 300, EIGHT_SIGMA, EIGHT_Y, lr=0.02)
    assert torch.isfinite(result.losses).all()
    qs = guide.quantiles([0.05, 0.5, 0.95], EIGHT_SIGMA, EIGHT_Y)
    assert qs["theta"].shape == (3, 8) and qs["mu"].shape == (3,) and qs["tau"].shape == (3,)
    for value in qs.values():
        assert torch.isfinite(value).all()
        assert bool((value[0] <= value[1]).all() and (value[1] <= value[2]).all())
    assert bool((qs["tau"] > 0).all())
    # the posterior mean of mu is about 4.4 (sd 3.3); any sensible fit lands near it
    assert -3.0 < float(qs["mu"][1]) < 12.0


def test_eight_schools_guide_list_with_custom_tau_guide():
    def tau_guide(sigma, y=None):
        loc = ppl.param("tau_loc", torch.tensor(1.0))
        return {"tau": ppl.sample("tau", dist.LogNormal(loc, 0.3))}

    guide = AutoGuideList(eight_schools)
    guide.append(AutoNormal(ppl.poutine.block(eight_schools, hide=["tau"])))
    guide.append(tau_guide)
    result = fit(eight_schools, guide, 300, EIGHT_SIGMA, EIGHT_Y, lr=0.02)
    assert torch.isfinite(result.losses).all()
    assert sorted(guide(EIGHT_SIGMA, EIGHT_Y)) == ["mu", "tau", "theta"]
    assert sorted(guide.quantiles([0.5], EIGHT_SIGMA, EIGHT_Y)) == ["mu", "theta"]


# --------------------------------------------------------------------- seed 002
TRUE_COV = torch.tensor([[5.0, 4.0], [4.0, 5.0]])


def test_seed002_autoguide_recovers_the_covariance():
    # 400 steps of 32 vectorized particles; over seeds 0-2 the covariance entries were
    # within 0.16 of the truth, the sds within 1.5% and the angle within 0.3 degrees.
    guide = AutoMultivariateNormal(model_forauto)
    result = fit(model_forauto, guide, 400, lr=0.1, lr_end=1e-3, particles=32)
    assert float(result.losses[:10].mean()) > float(result.losses[-50:].mean())
    store = ppl.get_param_store()
    scale = store["AutoMultivariateNormal.scale"].detach()
    unit_tril = store["AutoMultivariateNormal.scale_tril"].detach()
    assert torch.equal(unit_tril.diagonal(), torch.ones(2))  # Pyro's unit_lower_cholesky
    scale_tril = scale[:, None] * unit_tril
    assert torch.equal(scale_tril, guide.covariance_factor().detach())
    cov = scale_tril @ scale_tril.T
    assert torch.allclose(cov, TRUE_COV, atol=0.5)
    variances, vectors = torch.linalg.eigh(cov)
    sig1, sig2 = variances.sqrt().tolist()
    assert sig1 == pytest.approx(SIG1, rel=0.07) and sig2 == pytest.approx(SIG2, rel=0.07)
    major = vectors[:, 1]
    angle = math.degrees(math.atan(float(major[1] / major[0])))
    assert angle == pytest.approx(45.0, abs=3.0)
    # the guide's posterior is the same Gaussian
    assert torch.allclose(guide.get_posterior().covariance_matrix.detach(), cov, atol=1e-5)
