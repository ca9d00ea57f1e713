"""AffineBeta, LKJ, MultivariateStudentT, LogNormalNegativeBinomial, SoftAsymmetricLaplace,
zero-inflated counts: log_prob against scipy / closed forms / live Pyro, moments, shapes."""

import math

import numpy as np
import pytest
import scipy.stats as sp
import torch

import ppl.distributions as dist

N = 50000


def _t(*xs):
    return [torch.tensor(x, dtype=torch.float64) for x in xs]


def test_affine_beta_matches_scipy():
    c1, c0, loc, scale = _t([2.0, 0.7], [3.0, 1.5], [-1.0, 2.0], [4.0, 0.5])
    d = dist.AffineBeta(c1, c0, loc, scale)
    x = torch.tensor([0.5, 2.3], dtype=torch.float64)
    expected = sp.beta.logpdf(x.numpy(), c1.numpy(), c0.numpy(), loc=loc.numpy(),
                              scale=scale.numpy())
    assert np.allclose(d.log_prob(x).numpy(), expected)
    assert torch.allclose(d.mean, loc + scale * c1 / (c1 + c0))
    torch.manual_seed(0)
    s = d.rsample((1000,))
    assert ((s > d.low) & (s < d.high)).all()
    assert d.expand((3, 2)).batch_shape == (3, 2)
    assert dist.AffineBeta.infer_shapes((2,), (), (3, 1), ()) == ((3, 2), ())


@pytest.mark.parametrize("eta", [0.5, 1.0, 3.0])
def test_lkj_dim2_is_scaled_beta(eta):
    # For dim 2 the correlation r has (r + 1) / 2 ~ Beta(eta, eta).
    r = torch.tensor([-0.7, 0.0, 0.4], dtype=torch.float64)
    c = torch.stack([torch.stack([torch.ones_like(r), r], -1),
                     torch.stack([r, torch.ones_like(r)], -1)], -2)
    lp = dist.LKJ(2, torch.tensor(eta, dtype=torch.float64)).log_prob(c)
    expected = sp.beta.logpdf((r.numpy() + 1) / 2, eta, eta) - math.log(2)
    assert np.allclose(lp.numpy(), expected)


def test_lkj_sample_support_shape_and_pyro():
    torch.manual_seed(1)
    d = dist.LKJ(3, torch.tensor([0.5, 2.0]))
    x = d.sample((4,))
    assert x.shape == (4, 2, 3, 3) and d.support.check(x).all()
    assert d.expand((5, 2)).sample().shape == (5, 2, 3, 3)
    assert d.mean.shape == (2, 3, 3)
    pd = pytest.importorskip("pyro.distributions")
    assert torch.allclose(d.log_prob(x), pd.LKJ(3, torch.tensor([0.5, 2.0])).log_prob(x))
    with pytest.warns(FutureWarning):
        old = dist.LKJCorrCholesky(3, torch.tensor(1.0))
    assert old.event_shape == (3, 3)


def test_multivariate_student_t_matches_scipy():
    df, loc = _t(4.5, [1.0, -2.0, 0.5])
    lt = torch.tensor([[1.0, 0.0, 0.0], [0.3, 2.0, 0.0], [-0.5, 0.1, 0.7]], dtype=torch.float64)
    d = dist.MultivariateStudentT(df, loc, lt)
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    expected = sp.multivariate_t.logpdf(x.numpy(), loc.numpy(), (lt @ lt.T).numpy(), df=4.5)
    assert np.allclose(d.log_prob(x).numpy(), expected)
    torch.manual_seed(3)
    s = d.rsample((N,))
    var = d.variance
    assert ((s.mean(0) - loc).abs() < 5 * (var / N).sqrt()).all()
    assert torch.allclose(var, torch.diagonal(lt @ lt.T) * 4.5 / 2.5)
    e = d.expand((2, 4))
    assert e.batch_shape == (2, 4) and e.rsample().shape == (2, 4, 3)
    assert dist.MultivariateStudentT.infer_shapes(df=(2, 1), loc=(3,), scale_tril=(4, 3, 3)) \
        == ((2, 4), (3,))
    heavy = dist.MultivariateStudentT(torch.tensor([0.5, 1.5]), torch.zeros(2), torch.eye(2))
    assert heavy.mean[0].isnan().all() and heavy.variance[1].isinf().all()


def test_log_normal_negative_binomial_normalised_and_moments():
    tc, logits, s = _t([2.0, 7.0], [-1.0, 0.5], [0.4, 1.0])
    d = dist.LogNormalNegativeBinomial(tc, logits, s, num_quad_points=32)
    y = torch.arange(3000.0, dtype=torch.float64).unsqueeze(-1)
    p = d.log_prob(y).exp()
    assert torch.allclose(p.sum(0), torch.ones(2, dtype=torch.float64), atol=1e-6)
    assert torch.allclose((p * y).sum(0), d.mean, rtol=1e-4)
    assert torch.allclose((p * (y - d.mean) ** 2).sum(0), d.variance, rtol=1e-3)
    # sigma -> 0 recovers the Negative Binomial.
    tiny = dist.LogNormalNegativeBinomial(tc, logits, torch.full((2,), 1e-6, dtype=torch.float64))
    nb = dist.NegativeBinomial(tc, logits=logits)
    assert torch.allclose(tiny.log_prob(y[:20]), nb.log_prob(y[:20]))
    assert d.expand((3, 2)).batch_shape == (3, 2)
    with pytest.raises(ValueError, match="num_quad_points"):
        dist.LogNormalNegativeBinomial(tc, logits, s, num_quad_points=0)


def test_soft_asymmetric_laplace_density_and_moments():
    loc, scale, asym, soft = _t([0.5, -1.0], [2.0, 1.0], [3.0, 0.8], [0.2, 1.5])
    d = dist.SoftAsymmetricLaplace(loc, scale, asym, soft)
    grid = torch.linspace(-250, 150, 400001, dtype=torch.float64).unsqueeze(-1)
    p = d.log_prob(grid).exp()
    h = float(grid[1] - grid[0])
    assert torch.allclose(p.sum(0) * h, torch.ones(2, dtype=torch.float64), atol=1e-6)
    assert torch.allclose((p * grid).sum(0) * h, d.mean, atol=1e-4)
    assert torch.allclose((p * (grid - d.mean) ** 2).sum(0) * h, d.variance, rtol=1e-4)
    # Tiny softness: the asymmetric Laplace.
    tiny = torch.full((2,), 1e-4, dtype=torch.float64)
    sharp = dist.SoftAsymmetricLaplace(loc, scale, asym, tiny)
    x = torch.tensor([[3.0, -4.0]], dtype=torch.float64)
    assert torch.allclose(sharp.log_prob(x), dist.AsymmetricLaplace(loc, scale, asym).log_prob(x),
                          atol=1e-3)
    torch.manual_seed(4)
    s = d.rsample((N,))
    assert ((s.mean(0) - d.mean).abs() < 5 * (d.variance / N).sqrt()).all()
    assert d.expand((3, 2)).rsample().shape == (3, 2)


def test_zero_inflated_poisson_and_negative_binomial():
    rate, gate = _t([1.0, 4.0], [0.3, 0.6])
    y = torch.arange(5.0, dtype=torch.float64).unsqueeze(-1)
    pois = sp.poisson.pmf(y.numpy(), rate.numpy())
    expected = (1 - gate.numpy()) * pois + gate.numpy() * (y.numpy() == 0)
    for d in [dist.ZeroInflatedPoisson(rate, gate=gate),
              dist.ZeroInflatedPoisson(rate, gate_logits=gate.logit())]:
        assert np.allclose(d.log_prob(y).exp().numpy(), expected)
    d = dist.ZeroInflatedPoisson(rate, gate=gate)
    assert torch.allclose(d.mean, (1 - gate) * rate)
    assert torch.allclose(d.variance, (1 - gate) * rate * (1 + gate * rate))
    torch.manual_seed(5)
    s = d.sample((N,))
    assert ((s.mean(0) - d.mean).abs() < 5 * (d.variance / N).sqrt()).all()
    tc, probs = _t([2.0, 5.0], [0.3, 0.7])
    zinb = dist.ZeroInflatedNegativeBinomial(tc, probs=probs, gate=gate)
    # torch's NegativeBinomial counts successes with probability `probs`: scipy's nbinom(n, 1-p).
    nb = sp.nbinom.pmf(y.numpy(), tc.numpy(), 1 - probs.numpy())
    expected = (1 - gate.numpy()) * nb + gate.numpy() * (y.numpy() == 0)
    assert np.allclose(zinb.log_prob(y).exp().numpy(), expected)
    assert zinb.expand((3, 2)).sample().shape == (3, 2)
    with pytest.raises(ValueError, match="not both"):
        dist.ZeroInflatedPoisson(rate, gate=gate, gate_logits=gate)


def test_infer_shapes_default():
    assert dist.Normal.infer_shapes(loc=(3, 1), scale=(4,)) == ((3, 4), ())
    assert dist.SoftAsymmetricLaplace.infer_shapes(loc=(2,), scale=(), asymmetry=(5, 1),
                                                   softness=()) == ((5, 2), ())


def test_infer_shapes_torch_multivariate():
    assert dist.MultivariateNormal.infer_shapes((3, 2), scale_tril=(4, 1, 2, 2)) == ((4, 3), (2,))
    assert dist.LowRankMultivariateNormal.infer_shapes((2,), (5, 2, 1), (2,)) == ((5,), (2,))
    assert dist.Dirichlet.infer_shapes((4, 3)) == ((4,), (3,))
    assert dist.Multinomial.infer_shapes(total_count=(2, 1), probs=(5,)) == ((2, 1), (5,))
    assert dist.OneHotCategorical.infer_shapes(logits=(2, 3)) == ((2,), (3,))
    assert dist.Uniform.infer_shapes(low=(3, 1), high=(4,)) == ((3, 4), ())
    assert dist.OrderedLogistic.infer_shapes((4,), (3,)) == ((4,), ())
    assert dist.DirichletMultinomial.infer_shapes((2, 3), (5, 1)) == ((5, 2), (3,))
    with pytest.raises(NotImplementedError):
        dist.Independent.infer_shapes()


def test_sparse_poisson_equals_dense():
    rate = torch.tensor([0.5, 2.0, 7.0])
    x = torch.tensor([[0.0, 3.0, 0.0], [1.0, 0.0, 9.0]])
    sparse = dist.Poisson(rate, is_sparse=True)
    assert torch.allclose(sparse.log_prob(x), dist.Poisson(rate).log_prob(x))
    assert sparse.expand((4, 3)).is_sparse and sparse.expand((4, 3)).batch_shape == (4, 3)


def test_event_shape_mismatch_raises():
    d = dist.MultivariateStudentT(3.0, torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="event_shape"):
        d.log_prob(torch.ones(2, 1))
