"""``Rejector`` and ``ppl.distributions.testing``: densities, sample moments, gof p-values."""

import math

import pytest
import scipy.stats as sp
import torch

import ppl.distributions as dist
from ppl.distributions.rejector import Rejector
from ppl.distributions.testing import fakes, gof
from ppl.distributions.testing.naive_dirichlet import NaiveBeta, NaiveDirichlet
from ppl.distributions.testing.rejection_exponential import RejectionExponential
from ppl.distributions.testing.rejection_gamma import (
    RejectionGamma,
    RejectionStandardGamma,
    ShapeAugmentedBeta,
    ShapeAugmentedDirichlet,
    ShapeAugmentedGamma,
)
from ppl.distributions.testing.special import chi2sf

N = 20000


def _close_mean(x, mean, var, n_se=5.0):
    se = (var / x.shape[0]).sqrt()
    assert ((x.mean(0) - mean).abs() < n_se * se).all(), (x.mean(0), mean, se)


def test_rejector_log_prob_and_score_parts():
    torch.manual_seed(0)
    r = Rejector(dist.Exponential(torch.tensor([1.0])), lambda x: -x, torch.tensor(0.5).log())
    x = r.rsample((N,))
    _close_mean(x, torch.tensor(0.5), torch.tensor(0.25))
    v = torch.tensor([0.3])
    assert torch.allclose(r.log_prob(v), torch.tensor([math.log(2) - 0.6]))
    parts = r.score_parts(v)
    assert torch.allclose(parts.score_function, torch.tensor([-0.3 - math.log(0.5)]))
    assert parts.entropy_term is parts.log_prob


def test_rejection_exponential_matches_scipy_and_gof():
    torch.manual_seed(1)
    d = RejectionExponential(torch.tensor([2.4, 5.5]), torch.tensor([0.5]))
    v = torch.tensor([0.7, 0.2])
    expected = sp.expon.logpdf(v.numpy(), scale=1 / d.rate.numpy())
    assert torch.allclose(d.log_prob(v), torch.tensor(expected, dtype=torch.float32))
    x = d.rsample((N,))
    assert x.shape == (N, 2)
    assert gof.auto_goodness_of_fit(x[:, 0], d.log_prob(x)[:, 0].exp()) > 1e-3


@pytest.mark.parametrize("alpha", [1.0, 2.5, 10.0])
def test_rejection_standard_gamma(alpha):
    torch.manual_seed(2)
    a = torch.tensor([alpha])
    d = RejectionStandardGamma(a)
    x = d.rsample((N,))
    _close_mean(x, a, a)
    v = torch.tensor([1.3])
    assert torch.allclose(d.log_prob(v), torch.tensor(sp.gamma.logpdf(1.3, alpha)).float())
    # log Z is log of the acceptance rate: between 0.9 and 1 for Marsaglia-Tsang.
    assert (-0.11 < d._log_scale).all() and (d._log_scale <= 0).all()
    assert d.expand((3, 1)).rsample().shape == (3, 1)


def test_rejection_standard_gamma_rejects_small_concentration():
    with pytest.raises(NotImplementedError, match="concentration < 1"):
        RejectionStandardGamma(torch.tensor([0.5]))


def test_rejection_and_shape_augmented_gamma_moments():
    torch.manual_seed(3)
    a, b = torch.tensor([0.4, 3.0]), torch.tensor([2.0, 0.5])
    mean, var = a / b, a / b**2
    for d in [ShapeAugmentedGamma(a, b, boost=1), RejectionGamma(a + 1, b)]:
        x = d.rsample((N,))
        m = (a + 1) / b if isinstance(d, RejectionGamma) else mean
        v = (a + 1) / b**2 if isinstance(d, RejectionGamma) else var
        _close_mean(x, m, v)
    d = ShapeAugmentedGamma(a, b)
    x = d.rsample()
    parts = d.score_parts(x)
    assert torch.allclose(parts.log_prob, dist.Gamma(a, b).log_prob(x))
    with pytest.raises(ValueError, match="boost"):
        ShapeAugmentedGamma(torch.tensor([0.3]), torch.tensor([1.0]), boost=0)


def test_dirichlet_beta_variants():
    torch.manual_seed(4)
    c = torch.tensor([0.5, 1.0, 2.0])
    mean = c / c.sum()
    var = mean * (1 - mean) / (c.sum() + 1)
    for d in [NaiveDirichlet(c), ShapeAugmentedDirichlet(c)]:
        x = d.rsample((N,))
        assert torch.allclose(x.sum(-1), torch.ones(N))
        _close_mean(x, mean, var)
        assert torch.allclose(d.log_prob(x[:5]), dist.Dirichlet(c).log_prob(x[:5]))
    a, b = torch.tensor([2.0]), torch.tensor([3.0])
    for d in [NaiveBeta(a, b), ShapeAugmentedBeta(a, b)]:
        x = d.rsample((N,))
        _close_mean(x, a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1)))
    assert ShapeAugmentedBeta(a, b).expand((4, 1)).rsample().shape == (4, 1)
    assert ShapeAugmentedDirichlet(c).expand((2,)).rsample().shape == (2, 3)


def test_fakes_are_not_reparameterized():
    for d in [fakes.NonreparameterizedNormal(0.0, 1.0), fakes.NonreparameterizedGamma(1.0, 1.0),
              fakes.NonreparameterizedBeta(1.0, 1.0),
              fakes.NonreparameterizedDirichlet(torch.ones(2))]:
        assert not d.has_rsample
        assert d.sample().shape == d.shape()


def test_chi2sf_matches_scipy():
    for x, k in [(0.5, 1), (3.3, 4), (20.0, 7), (100.0, 80)]:
        assert abs(chi2sf(x, k) - sp.chi2.sf(x, k)) < 1e-10


def test_gof_detects_mismatch_and_requires_samples():
    torch.manual_seed(5)
    d = dist.Gamma(2.0, 1.0)
    x = d.sample((5000,))
    assert gof.auto_goodness_of_fit(x, d.log_prob(x).exp()) > 1e-3
    assert gof.auto_goodness_of_fit(x, dist.Gamma(2.5, 1.0).log_prob(x).exp()) < 1e-6
    with pytest.raises(gof.InvalidTest):
        gof.density_goodness_of_fit(x[:50], d.log_prob(x[:50]).exp())
    counts = torch.tensor([30.0, 30.0, 40.0])
    p = gof.multinomial_goodness_of_fit(torch.tensor([0.3, 0.3, 0.4]), counts)
    assert p == pytest.approx(1.0)


def test_gof_equals_live_pyro():
    pg = pytest.importorskip("pyro.distributions.testing.gof")
    torch.manual_seed(6)
    m = dist.MultivariateNormal(torch.zeros(2), torch.eye(2))
    x = m.sample((3000,))
    p = m.log_prob(x).exp()
    assert gof.auto_goodness_of_fit(x, p) == pytest.approx(pg.auto_goodness_of_fit(x, p), rel=1e-5)
    y = x[:, 0]
    q = dist.Normal(0.0, 1.0).log_prob(y).exp()
    assert gof.auto_goodness_of_fit(y, q) == pytest.approx(pg.auto_goodness_of_fit(y, q), rel=1e-5)
