"""EnergyDistance and Trace_MMD: mean gradients against closed forms.

Model: z ~ N(0, 1), x | z ~ N(z, 1) with x observed; guide z ~ N(m, s).
"""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
import ppl.distributions.testing.fakes as fakes
from ppl.infer import SVI, EnergyDistance, Trace_MMD
from ppl.optim import Adam

X = 0.8


def model():
    z = ppl.sample("z", dist.Normal(0.0, 1.0))
    ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(X))


def make_guide(loc, scale, normal=dist.Normal):
    def guide():
        m = ppl.param("m", torch.tensor(loc))
        ppl.sample("z", normal(m, scale))

    return guide


def mean_grad(loss_fn, guide, n):
    grads = []
    for _ in range(n):
        loss = loss_fn(model, guide)
        leaf = ppl.get_param_store().get_param("m").unconstrained()
        (g,) = torch.autograd.grad(loss, [leaf])
        grads.append(g.item())
    grads = torch.tensor(grads)
    return grads.mean().item(), grads.std().item() / math.sqrt(n)


def test_energy_distance_gradient():
    # X ~ N(m, s^2 + 1): d/dm E|X - x| = 2 Phi((m - x) / sigma) - 1; E|X - X'| is free of m
    m, s = -0.5, 0.9
    sigma = math.sqrt(s**2 + 1)
    exact = 2 * dist.Normal(0.0, 1.0).cdf(torch.tensor((m - X) / sigma)).item() - 1
    est, se = mean_grad(EnergyDistance(num_particles=16), make_guide(m, s), 300)
    print(f"energy gradient {est:.4f} +- {se:.4f}, exact {exact:.4f}")
    assert abs(est - exact) < 4 * se


def test_energy_distance_value_for_a_point_mass_guide():
    # guide at z = m exactly (s -> 0): X ~ N(m, 1); E|X - x| - E|X - X'| / 2 at m = x
    # is sqrt(2/pi) - sqrt(2)/sqrt(pi)/2 = sqrt(2/pi) * (1 - 1/sqrt(2))
    guide = make_guide(X, 1e-6)
    value = float(EnergyDistance(num_particles=1500)(model, guide))
    exact = math.sqrt(2 / math.pi) * (1 - 1 / math.sqrt(2))
    assert value == pytest.approx(exact, abs=0.05)


def test_energy_distance_errors():
    with pytest.raises(ValueError, match="beta in"):
        EnergyDistance(beta=2.0)
    with pytest.raises(ValueError, match="num_particles >= 2"):
        EnergyDistance(num_particles=1)
    with pytest.raises(ValueError, match="guide site 'z'.*not reparameterized"):
        EnergyDistance()(model, make_guide(0.0, 1.0, normal=fakes.NonreparameterizedNormal))
    with pytest.raises(NotImplementedError):
        EnergyDistance().loss(model, make_guide(0.0, 1.0))


def test_energy_distance_trains_with_svi():
    svi = SVI(model, make_guide(-1.0, 0.5), Adam({"lr": 0.05}), EnergyDistance(num_particles=8))
    losses = [svi.step() for _ in range(40)]
    assert all(math.isfinite(v) for v in losses)
    assert ppl.param("m").item() > -0.9  # moved toward the data (lr 0.05 for 40 steps)


def linear_kernel(a, b=None):
    return a @ (a if b is None else b).T


def test_trace_mmd_gradient_with_a_linear_kernel():
    # linear kernel: MMD = (mean prior draw - mean guide draw)^2, d/dm E = 2m;
    # -E log N(x | z, 1) has d/dm = m - x: total 3m - x
    m, s = -0.5, 0.9
    mmd = Trace_MMD(kernel=linear_kernel, num_particles=10)
    est, se = mean_grad(mmd.differentiable_loss, make_guide(m, s), 300)
    exact = 3 * m - X
    print(f"MMD gradient {est:.4f} +- {se:.4f}, exact {exact:.4f}")
    assert abs(est - exact) < 4 * se


def test_trace_mmd_dict_options_and_errors():
    mmd = Trace_MMD(kernel={"z": linear_kernel}, mmd_scale={"z": 2.0}, num_particles=4)
    assert mmd.mmd_scale["z"] == 2.0
    with pytest.raises(TypeError, match="kernel must be callable"):
        Trace_MMD(kernel=3)
    with pytest.raises(TypeError, match="mmd_scale"):
        Trace_MMD(kernel=linear_kernel, mmd_scale="big")
    with pytest.raises(ValueError, match="guide site 'z'.*not reparameterized"):
        Trace_MMD(kernel=linear_kernel).loss(
            model, make_guide(0.0, 1.0, normal=fakes.NonreparameterizedNormal)
        )
