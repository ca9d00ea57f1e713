"""ProjectedNormal, VonMises3D, SineSkewed, SineBivariateVonMises: normalisation by
quadrature, closed-form special cases, goodness of fit of samples, live-Pyro log_prob."""

import math

import pytest
import torch

import ppl.distributions as dist
from ppl.distributions.sine_bivariate_von_mises import _log_i0
from ppl.distributions.testing.gof import auto_goodness_of_fit

TWO_PI = 2 * math.pi


def _circle(n=20001):
    a = torch.linspace(-math.pi, math.pi, n, dtype=torch.float64)[:-1]
    return a, TWO_PI / (n - 1)


@pytest.mark.parametrize("conc", [[0.0, 0.0], [0.3, -0.2], [2.0, 3.0], [40.0, -30.0]])
def test_projected_normal_2d_normalised(conc):
    a, h = _circle()
    v = torch.stack([a.cos(), a.sin()], -1)
    d = dist.ProjectedNormal(torch.tensor(conc, dtype=torch.float64))
    assert float(d.log_prob(v).exp().sum() * h) == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("dim", [3, 4, 5])
def test_projected_normal_uniform_and_pyro(dim):
    d = dist.ProjectedNormal(torch.zeros(dim, dtype=torch.float64))
    v = torch.eye(dim, dtype=torch.float64)
    area = 2 * math.pi ** (dim / 2) / math.gamma(dim / 2)
    assert torch.allclose(d.log_prob(v), torch.full((dim,), -math.log(area), dtype=torch.float64))
    torch.manual_seed(dim)
    c = torch.randn(6, dim, dtype=torch.float64) * 2
    x = dist.ProjectedNormal(c).sample()
    assert torch.allclose(x.norm(dim=-1), torch.ones(6, dtype=torch.float64))
    if dim <= 4:
        pd = pytest.importorskip("pyro.distributions")
        expected = pd.ProjectedNormal(c).log_prob(x)
        assert torch.allclose(dist.ProjectedNormal(c).log_prob(x), expected)


def test_projected_normal_sample_gof_and_gradients():
    torch.manual_seed(0)
    d = dist.ProjectedNormal(torch.tensor([1.0, -0.5]))
    x = d.sample((5000,))
    angle = torch.atan2(x[:, 1], x[:, 0])
    # density of the angle = density on the circle (unit speed parameterisation)
    assert auto_goodness_of_fit(angle, d.log_prob(x).exp()) > 1e-3
    c = torch.full((3,), 1000.0, requires_grad=True)
    v = dist.ProjectedNormal(torch.zeros(3)).sample((1000,))
    lp = dist.ProjectedNormal(c).log_prob(v)
    lp.sum().backward()
    assert lp.isfinite().all() and lp.max() < 1 + 3 * 1000 and not c.grad.isnan().any()
    e = dist.ProjectedNormal(torch.zeros(3)).expand((4, 2))
    assert e.batch_shape == (4, 2) and e.rsample().shape == (4, 2, 3)
    assert dist.ProjectedNormal.infer_shapes((5, 3)) == ((5,), (3,))


def test_von_mises_3d_normalised():
    n = 400
    theta = (torch.arange(n, dtype=torch.float64) + 0.5) * math.pi / n
    phi = (torch.arange(2 * n, dtype=torch.float64) + 0.5) * math.pi / n
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    v = torch.stack([t.sin() * p.cos(), t.sin() * p.sin(), t.cos()], -1)
    for c in [[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [0.0, 20.0, 0.0]]:
        d = dist.VonMises3D(torch.tensor(c, dtype=torch.float64))
        mass = (d.log_prob(v).exp() * t.sin()).sum() * (math.pi / n) ** 2
        assert float(mass) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="rightmost dim 3"):
        dist.VonMises3D(torch.zeros(2))
    assert dist.VonMises3D(torch.ones(3)).expand((2,)).batch_shape == (2,)


def test_sine_skewed_von_mises_normalised_and_sampled():
    loc, conc, skew = torch.tensor([0.5]), torch.tensor([2.0]), torch.tensor([0.7])
    d = dist.SineSkewed(dist.VonMises(loc, conc).to_event(1), skew)
    a, h = _circle()
    mass = d.log_prob(a.float().unsqueeze(-1)).exp().double().sum() * h
    assert float(mass) == pytest.approx(1.0, abs=1e-5)
    torch.manual_seed(1)
    x = d.sample((5000,))
    assert ((x >= -math.pi) & (x < math.pi)).all()
    assert auto_goodness_of_fit(x[:, 0], d.log_prob(x).exp()) > 1e-3
    b = d.expand((3,))
    assert b.batch_shape == (3,) and b.sample().shape == (3, 1)
    with pytest.warns(UserWarning, match="skewness"):
        dist.SineSkewed(dist.VonMises(torch.zeros(2), torch.ones(2)).to_event(1),
                        torch.tensor([0.8, 0.8]))
    with pytest.raises(ValueError, match="skewness parameter for each"):
        dist.SineSkewed(dist.VonMises(torch.zeros(2), torch.ones(2)).to_event(1), torch.ones(3))


def test_sine_bivariate_von_mises_independent_case():
    d = dist.SineBivariateVonMises(0.3, -1.0, 2.0, 5.0, 0.0)
    x = torch.tensor([[0.1, 0.2], [-3.0, 2.0]])
    vm = dist.VonMises(torch.tensor([0.3, -1.0]), torch.tensor([2.0, 5.0]))
    expected = vm.log_prob(x).sum(-1)
    assert torch.allclose(d.log_prob(x), expected, atol=1e-5)


@pytest.mark.parametrize("args", [(1.0, 0.0, 5.0, 7.0, 1.0), (0.0, 0.0, 1.0, 5.0, -4.0),
                                  (-1.0, 2.0, 0.5, 10.0, 0.9 * math.sqrt(5.0))])
def test_sine_bivariate_von_mises_normalised_and_gof(args):
    d = dist.SineBivariateVonMises(*[torch.tensor(a, dtype=torch.float64) for a in args])
    a, h = _circle(801)
    grid = torch.stack(torch.meshgrid(a, a, indexing="ij"), -1)
    assert float(d.log_prob(grid).exp().sum() * h * h) == pytest.approx(1.0, abs=1e-8)
    torch.manual_seed(2)
    x = d.sample((10000,))
    # Marginal of phi: 2 pi exp(k1 cos) I0(sqrt(k2^2 + lam^2 sin^2)) / Z.
    u = x[:, 0] - d.phi_loc
    k2, lam = d.psi_concentration, d.correlation
    log_m = (d.phi_concentration * u.cos() + _log_i0(torch.sqrt(k2**2 + (lam * u.sin()) ** 2))
             + math.log(TWO_PI) - d.norm_const)
    assert auto_goodness_of_fit(x[:, 0], log_m.exp()) > 1e-3


def test_sine_bivariate_von_mises_batch_and_pyro():
    args = [torch.tensor(v) for v in ([math.pi - 0.2, 1.0], [0.0, 1.0], [5.0, 5.0], [7.0, 0.5])]
    d = dist.SineBivariateVonMises(*args, weighted_correlation=torch.tensor([0.2, -0.1]))
    torch.manual_seed(3)
    assert d.sample((7,)).shape == (7, 2, 2)
    e = d.expand((3, 2))
    assert e.batch_shape == (3, 2) and e.log_prob(torch.zeros(3, 2, 2)).shape == (3, 2)
    pd = pytest.importorskip("pyro.distributions")
    x = torch.rand(4, 2, 2) * 6 - 3
    p = pd.SineBivariateVonMises(*args, weighted_correlation=torch.tensor([0.2, -0.1]))
    assert torch.allclose(d.log_prob(x), p.log_prob(x), atol=1e-5)
    with pytest.raises(ValueError, match="exactly one"):
        dist.SineBivariateVonMises(0.0, 0.0, 1.0, 1.0)
