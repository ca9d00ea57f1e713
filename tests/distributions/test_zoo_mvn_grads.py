"""OMT and AVF multivariate normals: unbiased gradients (closed form) and live-Pyro equality."""

import pytest
import torch

import ppl.distributions as dist


def _params(seed):
    torch.manual_seed(seed)
    loc = torch.randn(3, requires_grad=True)
    lt = (torch.eye(3) + 0.3 * torch.randn(3, 3).tril()).requires_grad_()
    cv = (0.1 * torch.randn(2, 2, 3)).requires_grad_()
    return loc, lt, cv


@pytest.mark.parametrize("avf", [False, True])
def test_gradients_unbiased(avf):
    # E|z|^2 = |loc|^2 + |L|_F^2, so the expected gradients are 2 loc and 2 L.
    loc, lt, cv = _params(0)
    d = dist.AVFMultivariateNormal(loc, lt, cv) if avf else dist.OMTMultivariateNormal(loc, lt)
    n = 200000
    (d.rsample((n,)).pow(2).sum() / n).backward()
    assert torch.allclose(loc.grad, 2 * loc.detach(), atol=0.03)
    assert torch.allclose(lt.grad, torch.tril(2 * lt.detach()), atol=0.05)
    assert torch.allclose(d.log_prob(torch.zeros(3)),
                          dist.MultivariateNormal(loc, scale_tril=lt).log_prob(torch.zeros(3)))


@pytest.mark.parametrize("avf", [False, True])
def test_gradients_equal_live_pyro(avf):
    pd = pytest.importorskip("pyro.distributions")
    grads = []
    for module in (dist, pd):
        loc, lt, cv = _params(1)
        if avf:
            d = module.AVFMultivariateNormal(loc, lt, cv)
        else:
            d = module.OMTMultivariateNormal(loc, lt)
        z = d.rsample((7, 2))
        (z.pow(2).sum(-1) * torch.linspace(0, 1, 14).reshape(7, 2)).sum().backward()
        grads.append([loc.grad, lt.grad] + ([cv.grad] if avf else []))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_shape_errors():
    with pytest.raises(ValueError, match="loc must be 1-dimensional"):
        dist.OMTMultivariateNormal(torch.zeros(2, 3), torch.eye(3))
    with pytest.raises(ValueError, match="2 x L x D"):
        dist.AVFMultivariateNormal(torch.zeros(3), torch.eye(3), torch.zeros(2, 1, 2))
