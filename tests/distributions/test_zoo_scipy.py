"""log_prob of Pyro's extra distributions against scipy; sample moments against closed forms."""

import math

import pytest
import scipy.stats as sp
import torch

import ppl.distributions as dist

X = torch.linspace(-3.0, 4.0, 15, dtype=torch.float64)
K = torch.arange(0.0, 7.0, dtype=torch.float64)

CONTINUOUS = [
    (dist.Logistic(0.5, 2.0), sp.logistic(loc=0.5, scale=2.0)),
    (dist.SkewLogistic(0.5, 2.0, 1.7), sp.genlogistic(1.7, loc=0.5, scale=2.0)),
    (dist.SoftLaplace(0.5, 2.0), sp.hypsecant(loc=0.5, scale=2.0)),
    (dist.AsymmetricLaplace(0.5, 2.0, 1.5), sp.laplace_asymmetric(1.5, loc=0.5, scale=2.0)),
    (dist.FoldedDistribution(dist.Normal(0.5, 2.0)), sp.foldnorm(0.25, scale=2.0)),
]
DISCRETE = [
    (dist.BetaBinomial(2.0, 3.0, 6), sp.betabinom(6, 2.0, 3.0)),
    (dist.ExtendedBetaBinomial(2.0, 3.0, 6), sp.betabinom(6, 2.0, 3.0)),
    (dist.GammaPoisson(2.5, 0.5), sp.nbinom(2.5, 0.5 / 1.5)),
]


def _as64(d):
    return d.expand(torch.Size())


@pytest.mark.parametrize("d, ref", CONTINUOUS, ids=lambda x: type(x).__name__)
def test_continuous_log_prob_matches_scipy(d, ref):
    x = X.abs() if isinstance(d, dist.FoldedDistribution) else X
    actual = d.log_prob(x.to(torch.get_default_dtype())).double()
    assert torch.allclose(actual, torch.as_tensor(ref.logpdf(x.numpy())), atol=1e-4)


@pytest.mark.parametrize("d, ref", DISCRETE, ids=lambda x: type(x).__name__)
def test_discrete_log_prob_matches_scipy(d, ref):
    actual = d.log_prob(K.to(torch.get_default_dtype())).double()
    assert torch.allclose(actual, torch.as_tensor(ref.logpmf(K.numpy())), atol=1e-4)


@pytest.mark.parametrize("d, ref", CONTINUOUS + DISCRETE, ids=lambda x: type(x).__name__)
def test_sample_mean_within_monte_carlo_error(d, ref):
    n = 20000
    samples = d.sample((n,)).double()
    stderr = math.sqrt(ref.var() / n)
    assert abs(samples.mean().item() - ref.mean()) < 5 * stderr


def test_dirichlet_multinomial_matches_scipy():
    alpha = torch.tensor([1.5, 0.7, 2.0])
    d = dist.DirichletMultinomial(alpha, total_count=5)
    counts = torch.tensor([[2.0, 1.0, 2.0], [0.0, 0.0, 5.0]])
    ref = sp.dirichlet_multinomial(alpha.numpy(), 5).logpmf(counts.numpy())
    assert torch.allclose(d.log_prob(counts).double(), torch.as_tensor(ref), atol=1e-4)
    assert d.sample((4,)).sum(-1).eq(5).all()


def test_extended_binomial_is_minus_inf_outside_support():
    d = dist.ExtendedBinomial(torch.tensor(3.0), torch.tensor(0.3))
    lp = d.log_prob(torch.tensor([-1.0, 1.0, 4.0]))
    assert lp[0] == -math.inf and lp[2] == -math.inf
    assert lp[1].item() == pytest.approx(sp.binom(3, 0.3).logpmf(1), abs=1e-5)


def test_ordered_logistic_probs_are_cdf_differences():
    cut = torch.tensor([-1.0, 0.5, 2.0])
    d = dist.OrderedLogistic(torch.tensor(0.3), cut)
    cdf = torch.sigmoid(cut - 0.3)
    expected = torch.tensor([cdf[0], cdf[1] - cdf[0], cdf[2] - cdf[1], 1 - cdf[2]])
    assert torch.allclose(d.probs, expected)


def test_ordered_logistic_rejects_unordered_cutpoints():
    with pytest.raises(ValueError, match="strictly increasing"):
        dist.OrderedLogistic(torch.tensor(0.0), torch.tensor([1.0, 0.0]), validate_args=True)


def test_folded_rejects_multivariate_base():
    with pytest.raises(ValueError, match="univariate"):
        dist.FoldedDistribution(dist.Normal(torch.zeros(2), 1.0).to_event(1))


def test_mixin_conveniences_on_zoo():
    d = dist.GammaPoisson(torch.ones(3), 2.0).expand([2, 3]).to_event(1)
    assert d.shape() == torch.Size([2, 3])
    assert d.mask(torch.tensor([True, False])).log_prob(torch.zeros(2, 3))[1] == 0
