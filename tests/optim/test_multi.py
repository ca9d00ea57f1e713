"""ppl.optim.multi: first-order wrappers, Newton steps and their mixture."""

import pytest
import torch
from torch.distributions import constraints

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.optim.multi import (
    MixedMultiOptimizer,
    MultiOptimizer,
    Newton,
    PyroMultiOptimizer,
    TorchMultiOptimizer,
    newton_step,
)

LOC = torch.tensor([-1.0, 2.0])
PREC = torch.tensor([[2.0, 0.5], [0.5, 1.0]])


def model():
    a = ppl.param("a", torch.zeros(2))
    b = ppl.param("b", torch.ones(3, 2), constraint=constraints.greater_than(-5.0))
    ppl.sample("obs_a", dist.MultivariateNormal(LOC, precision_matrix=PREC), obs=a)
    with ppl.plate("rows", 3):
        ppl.sample("obs_b", dist.MultivariateNormal(LOC, precision_matrix=PREC), obs=b)


def loss_and_params():
    tr = poutine.trace(model).get_trace()
    params = {n: s["value"].unconstrained() for n, s in tr.nodes.items() if s["type"] == "param"}
    return -tr.log_prob_sum(), params


OPTIMIZERS = {
    "pyro_adam": (lambda: PyroMultiOptimizer(ppl.optim.Adam({"lr": 0.1})), 300),
    "torch_adam": (lambda: TorchMultiOptimizer(torch.optim.Adam, {"lr": 0.1}), 300),
    "newton_trust": (lambda: Newton(trust_radii={"b": 0.5}), 20),
    "mixed": (
        lambda: MixedMultiOptimizer([(["a"], ppl.optim.Adam({"lr": 0.1})), (["b"], Newton())]),
        300,
    ),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizers_reach_the_mode(name):
    factory, steps = OPTIMIZERS[name]
    optim = factory()
    for _ in range(steps):
        optim.step(*loss_and_params())
    # the log density is maximal at the Gaussian's mean; Adam's lr 0.1 jitters ~1e-3 there
    assert torch.allclose(ppl.param("a").detach(), LOC, atol=1e-2)
    assert torch.allclose(ppl.param("b").detach(), LOC.expand(3, 2), atol=1e-2)


def test_newton_on_a_quadratic_is_exact_in_one_step():
    # unconstrained b = log(b + 5): not quadratic, so use a alone (identity transform)
    loss, params = loss_and_params()
    Newton().step(loss, {"a": params["a"]})
    assert torch.allclose(ppl.param("a").detach(), LOC, atol=1e-6)


def test_newton_step_covariance_is_inverse_hessian():
    x = torch.zeros(4, 2, requires_grad=True)
    loss = 0.5 * torch.einsum("bi,ij,bj->", x - LOC, PREC, x - LOC)
    x_new, cov = newton_step(loss, x)
    assert torch.allclose(x_new, LOC.expand(4, 2), atol=1e-6)
    assert torch.allclose(cov, torch.linalg.inv(PREC).expand(4, 2, 2), atol=1e-6)


@pytest.mark.parametrize("radius", [0.1, 1.0, 3.0])
def test_trust_radius_bounds_the_step(radius):
    x = torch.tensor([[10.0, -3.0], [0.1, 0.0]], requires_grad=True)
    loss = x.pow(4).sum() - x.pow(2).sum()  # non-convex at the second row's start
    x_new, _ = newton_step(loss, x, trust_radius=radius)
    steps = (x_new - x).detach().norm(dim=-1)
    assert (steps <= radius + 1e-6).all()


def test_get_step_is_differentiable_through_the_solve():
    # x*(theta) = theta / 2 minimises (x^2 - theta x); d x*/d theta = 1/2
    theta = torch.tensor([3.0], requires_grad=True)
    x = torch.tensor([0.0], requires_grad=True)
    updated = Newton().get_step((x.pow(2) - theta * x).sum(), {"x": x})["x"]
    (dtheta,) = torch.autograd.grad(updated.sum(), [theta])
    assert torch.allclose(updated.detach(), torch.tensor([1.5]))
    assert torch.allclose(dtheta, torch.tensor([0.5]))


def test_mixed_rejects_overlapping_names():
    with pytest.raises(ValueError, match="parameter 'y' is given to two optimizers"):
        MixedMultiOptimizer([(["x", "y"], Newton()), (["y", "z"], ppl.optim.Adam({"lr": 0.1}))])


def test_mixed_rejects_non_optimizers():
    with pytest.raises(TypeError, match=r"optimizer for \['x'\] must be a MultiOptimizer"):
        MixedMultiOptimizer([(["x"], torch.optim.Adam)])


def test_pyro_multi_optimizer_needs_a_ppl_optimizer():
    with pytest.raises(TypeError, match="expected a ppl.optim optimizer"):
        PyroMultiOptimizer(torch.optim.Adam)


def test_trust_radius_must_be_positive():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="trust_radius must be positive, got 0"):
        newton_step(x.pow(2).sum(), x, trust_radius=0.0)


def test_base_class_get_step_is_abstract():
    with pytest.raises(
        NotImplementedError, match="PyroMultiOptimizer updates parameters only in place"
    ):
        PyroMultiOptimizer(ppl.optim.Adam({"lr": 0.1})).get_step(torch.tensor(0.0), {})


def test_reachable_as_an_attribute_of_ppl_optim():
    # Pyro code subclasses ``pyro.optim.multi.MultiOptimizer`` after ``import pyro.optim``
    import ppl.optim

    assert ppl.optim.multi.MultiOptimizer is MultiOptimizer
