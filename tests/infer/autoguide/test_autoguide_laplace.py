"""AutoLaplaceApproximation: the Hessian at the mode gives the Gaussian guide."""

import math

import pytest
import torch
from autoguide_models import model_forauto

import ppl
import ppl.distributions as dist
from ppl.infer.autoguide import AutoLaplaceApproximation, AutoMultivariateNormal, init_to_value

TRUE_COV = torch.tensor([[5.0, 4.0], [4.0, 5.0]])


def test_seed002_laplace_is_exact_for_a_gaussian():
    # log-density is quadratic: the Hessian is the precision at every point
    guide = AutoLaplaceApproximation(model_forauto)
    gaussian = guide.laplace_approximation()
    assert isinstance(gaussian, AutoMultivariateNormal)
    L = gaussian.covariance_factor().detach()
    assert torch.allclose(L @ L.T, TRUE_COV, atol=1e-4)
    assert torch.allclose(gaussian.scale.detach(), L.diagonal(), atol=1e-6)
    assert torch.equal(gaussian.scale_tril.detach().diagonal(), torch.ones(2))
    store = ppl.get_param_store()
    assert torch.equal(store["AutoMultivariateNormal.loc"].detach(), guide.loc.detach())
    assert sorted(gaussian()) == ["x", "y"]


def test_laplace_in_unconstrained_space_for_a_positive_site():
    # s ~ Gamma(a, b): in u = log s the log-density is a*u - b*exp(u) (+ const), with
    # mode u* = log(a/b) and curvature b*exp(u*) = a, so the Laplace sd of u is 1/sqrt(a).
    a, b = 5.0, 2.0
    model = lambda: ppl.sample("s", dist.Gamma(a, b))  # noqa: E731
    guide = AutoLaplaceApproximation(model, init_loc_fn=init_to_value(values={"s": a / b}))
    gaussian = guide.laplace_approximation()
    assert float(gaussian.loc.detach()) == pytest.approx(math.log(a / b), abs=1e-5)
    assert float(gaussian.scale.detach()) == pytest.approx(1 / math.sqrt(a), rel=1e-4)
    assert float(gaussian.median()["s"]) == pytest.approx(a / b, rel=1e-5)


def double_well():
    x = ppl.sample("x", dist.ImproperUniform(dist.constraints.real, (), ()))
    ppl.factor("f", 0.5 * x**2 - 0.25 * x**4)  # a local maximum of -log p at x = 0


def test_non_positive_definite_hessian_is_a_clear_error():
    guide = AutoLaplaceApproximation(double_well, init_loc_fn="feasible")
    with pytest.raises(
        ValueError, match=r"not positive definite \(smallest eigenvalue -1\).*jitter"
    ):
        guide.laplace_approximation()


def test_jitter_makes_the_hessian_positive_definite():
    # H = -1; jitter 1 gives 0 (still singular), doubled to 2 gives +1: sd 1
    guide = AutoLaplaceApproximation(double_well, init_loc_fn="feasible", jitter=1.0)
    assert float(guide.laplace_approximation().scale.detach()) == pytest.approx(1.0)


def test_non_finite_hessian_is_a_clear_error():
    def model():
        x = ppl.sample("x", dist.ImproperUniform(dist.constraints.real, (), ()))
        ppl.factor("f", torch.sqrt(-(x**2)))  # sqrt(0) has an infinite derivative

    guide = AutoLaplaceApproximation(model, init_loc_fn="feasible")
    with pytest.raises(ValueError, match="Hessian of the negative log density .* is not finite"):
        guide.laplace_approximation()
