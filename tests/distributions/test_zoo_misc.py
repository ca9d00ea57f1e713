"""Empirical, MaskedMixture, NanMasked*, relaxed straight-through, TruncatedPolyaGamma."""

import math

import pytest
import scipy.stats as sp
import torch

import ppl.distributions as dist


def test_empirical_weights_sampling_and_moments():
    samples = torch.tensor([[0.0, 1.0, 2.0], [5.0, 5.0, 7.0]])
    log_w = torch.tensor([[0.0, 0.0, math.log(2.0)], [0.0, 0.0, 0.0]])
    d = dist.Empirical(samples, log_w)
    assert d.batch_shape == (2,) and d.event_shape == () and d.sample_size == 6
    lp = d.log_prob(torch.tensor([2.0, 5.0])).exp()
    assert torch.allclose(lp, torch.tensor([0.5, 2 / 3]))
    assert torch.allclose(d.mean, torch.tensor([1.25, 17 / 3]))
    assert torch.allclose(d.variance, torch.tensor([0.6875, 8 / 9]))
    torch.manual_seed(0)
    x = d.sample((20000,))
    assert x.shape == (20000, 2)
    assert abs(float((x[:, 0] == 2.0).float().mean()) - 0.5) < 0.02
    vec = dist.Empirical(torch.randn(4, 10, 3), torch.zeros(4, 10))
    assert vec.sample((5,)).shape == (5, 4, 3) and vec.event_shape == (3,)
    with pytest.raises(ValueError, match="leftmost shape"):
        dist.Empirical(torch.randn(3, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="discrete"):
        _ = dist.Empirical(torch.tensor([1, 2]), torch.zeros(2)).mean


def test_empirical_matches_pyro():
    pd = pytest.importorskip("pyro.distributions")
    torch.manual_seed(1)
    s, w = torch.randn(2, 3, 10).round(), torch.randn(2, 3)
    ours, theirs = dist.Empirical(s, w), pd.Empirical(s, w)
    x = s[:, 1]
    assert torch.allclose(ours.log_prob(x), theirs.log_prob(x))
    assert torch.allclose(ours.variance, theirs.variance)


def test_masked_mixture():
    mask = torch.tensor([False, True, True])
    d = dist.MaskedMixture(mask, dist.Normal(0.0, 1.0), dist.Exponential(2.0))
    x = torch.tensor([0.3, 0.3, 1.0])
    expected = torch.tensor([sp.norm.logpdf(0.3), sp.expon.logpdf(0.3, scale=0.5),
                             sp.expon.logpdf(1.0, scale=0.5)], dtype=torch.float32)
    assert torch.allclose(d.log_prob(x), expected)
    assert torch.equal(d.support.check(torch.tensor([-1.0, -1.0, 1.0])),
                       torch.tensor([True, False, True]))
    assert torch.allclose(d.mean, torch.tensor([0.0, 0.5, 0.5]))
    torch.manual_seed(2)
    s = d.sample((5000,))
    assert (s[:, 1:] >= 0).all() and (s[:, 0] < 0).any()
    assert d.has_rsample and d.rsample().shape == (3,)
    assert not dist.MaskedMixture(mask, dist.Normal(0.0, 1.0), dist.Poisson(1.0)).has_rsample
    assert d.expand((4, 3)).batch_shape == (4, 3)
    with pytest.raises(ValueError, match="BoolTensor"):
        dist.MaskedMixture(torch.tensor([0, 1]), dist.Normal(0.0, 1.0), dist.Normal(0.0, 1.0))


def test_nan_masked_normal_and_gradients():
    loc = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
    x = torch.tensor([0.5, math.nan, 1.0])
    lp = dist.NanMaskedNormal(loc, 1.0).log_prob(x)
    expected = dist.Normal(loc[[0, 2]], 1.0).log_prob(x[[0, 2]])
    assert lp[1] == 0 and torch.allclose(lp[[0, 2]], expected)
    lp.sum().backward()
    assert loc.grad[1] == 0 and not loc.grad.isnan().any()


def test_nan_masked_mvn_marginalises():
    a = torch.tensor([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 1.5]])
    loc = torch.tensor([0.5, -1.0, 0.0])
    d = dist.NanMaskedMultivariateNormal(loc, a)
    data = torch.tensor([[0.1, 0.2, 3.4], [0.5, 0.1, math.nan], [math.nan, 0.5, math.nan],
                         [math.nan] * 3])
    lp = d.log_prob(data)
    assert torch.allclose(lp[0], dist.MultivariateNormal(loc, a).log_prob(data[0]))
    sub = torch.tensor(sp.multivariate_normal.logpdf([0.5, 0.1], loc[:2].numpy(),
                                                     a[:2, :2].numpy()), dtype=torch.float32)
    assert torch.allclose(lp[1], sub)
    assert torch.allclose(lp[2], dist.Normal(-1.0, 1.0).log_prob(torch.tensor(0.5)))
    assert lp[3] == 0


def test_relaxed_straight_through():
    torch.manual_seed(3)
    logits = torch.randn(5, 4, requires_grad=True)
    d = dist.RelaxedOneHotCategoricalStraightThrough(torch.tensor(0.5), logits=logits)
    x = d.rsample()
    assert torch.equal(x.sum(-1), torch.ones(5)) and set(x.unique().tolist()) <= {0.0, 1.0}
    relaxed = dist.RelaxedOneHotCategorical(torch.tensor(0.5), logits=logits)
    assert torch.allclose(d.log_prob(x), relaxed.log_prob(x._unquantize))
    (x * torch.arange(4.0)).sum().backward()
    assert logits.grad.abs().sum() > 0
    probs = torch.tensor([0.2, 0.7], requires_grad=True)
    b = dist.RelaxedBernoulliStraightThrough(torch.tensor(0.3), probs=probs)
    y = b.rsample((100,))
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    y.sum().backward()
    assert (probs.grad > 0).all()


def test_truncated_polya_gamma():
    d = dist.TruncatedPolyaGamma(torch.zeros((), dtype=torch.float64))
    x = torch.linspace(1e-3, 2.5, 100001, dtype=torch.float64)
    p = d.log_prob(x).exp()
    mass = float(((p[1:] + p[:-1]) / 2 * x.diff()).sum())
    assert mass == pytest.approx(1.0, abs=1e-5)
    # PG(1, 0) has mean 1/4.
    mean = float(((p * x)[1:] + (p * x)[:-1]).mul(0.5).mul(x.diff()).sum())
    assert mean == pytest.approx(0.25, abs=1e-4)
    torch.manual_seed(4)
    s = d.expand((3,)).sample((4000,))
    assert s.shape == (3, 4000) and (s <= 2.5).all()
    assert float(s.mean()) == pytest.approx(0.25, abs=0.02)
