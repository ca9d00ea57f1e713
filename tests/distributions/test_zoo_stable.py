"""Stable: log_prob against scipy (S coords), closed forms (alpha=2 Normal, alpha=0.5 Levy),
live Pyro (S0 coords), and goodness of fit of rsample."""

import math

import numpy as np
import pytest
import scipy.stats as sp
import torch

import ppl.distributions as dist
from ppl.distributions.testing.gof import auto_goodness_of_fit

X = torch.tensor([-10.0, -3.0, -1.0, -0.3, 0.0, 0.01, 0.5, 2.0, 10.0], dtype=torch.float64)


def _d(a, b, **kw):
    return dist.Stable(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
                       **kw)


def test_stable_closed_forms():
    normal = sp.norm.logpdf(X.numpy(), scale=math.sqrt(2))
    # (within 0.02 of 0 the density is interpolated linearly, as in Pyro)
    assert np.allclose(_d(2.0, 0.0).log_prob(X).numpy(), normal, atol=2e-4)
    # alpha = 1/2, beta = 1 (S coords) is the Levy distribution with scale 1.
    pos = X[X > 0]
    levy = sp.levy.logpdf(pos.numpy())
    assert np.allclose(_d(0.5, 1.0, coords="S").log_prob(pos).numpy(), levy, atol=1e-6)
    assert (_d(0.5, 1.0, coords="S").log_prob(X[X < 0]) == -math.inf).all()


@pytest.mark.parametrize("a,b", [(1.5, 0.0), (0.5, 0.0), (1.5, 0.5), (0.8, -0.7), (1.8, 1.0)])
def test_stable_matches_scipy(a, b):
    ours = _d(a, b, coords="S").log_prob(X).numpy()
    ref = sp.levy_stable.logpdf(X.numpy(), a, b)
    assert np.abs(ours - ref).max() < 0.01


def test_stable_near_one_is_continuous():
    lp = torch.stack([_d(a, 0.3).log_prob(X) for a in (0.97, 1.0, 1.03)])
    assert (lp[1] - lp[0]).abs().max() < 0.05 and (lp[2] - lp[1]).abs().max() < 0.05
    cauchy = sp.cauchy.logpdf(X.numpy())
    assert np.abs(_d(1.0, 0.0).log_prob(X).numpy() - cauchy).max() < 0.05


def test_stable_matches_pyro_s0():
    pd = pytest.importorskip("pyro.distributions")
    for a, b in [(1.5, 0.5), (0.8, -0.7), (1.02, 0.3)]:
        args = (torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
                torch.tensor(2.0, dtype=torch.float64), torch.tensor(-1.0, dtype=torch.float64))
        assert torch.allclose(dist.Stable(*args).log_prob(X), pd.Stable(*args).log_prob(X),
                              atol=1e-8)


def test_stable_rsample_gof_moments_and_shapes():
    torch.manual_seed(0)
    d = dist.Stable(torch.tensor([1.5, 0.5, 1.005]), torch.tensor([0.3, 0.0, -0.2]),
                    torch.tensor([2.0, 1.0, 1.0]), torch.tensor([-2.0, 0.0, 1.0]))
    x = d.rsample((1500,))
    lp = d.log_prob(x)
    for i in range(3):
        assert auto_goodness_of_fit(x[:, i], lp[:, i].exp()) > 1e-3
    assert torch.allclose(d.mean[0], torch.tensor(-2.0 - 2 * 0.3 * math.tan(0.75 * math.pi)))
    assert d.mean[1:2].isnan().all() and d.variance.isinf().all()
    assert dist.Stable(2.0, 0.0, 3.0).variance == 18.0
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3) and e.coords == "S0"
    stab = torch.tensor(1.5, requires_grad=True)
    dist.Stable(stab, 0.2).rsample((10,)).sum().backward()
    assert stab.grad.isfinite()
    with pytest.raises(ValueError, match="coords"):
        dist.Stable(1.5, 0.0, coords="X")
    assert isinstance(dist.StableWithLogProb(1.5, 0.0), dist.Stable)
