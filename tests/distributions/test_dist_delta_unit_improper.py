"""Delta, Unit and ImproperUniform: log_prob values, shapes, expand, validation, errors."""

import math

import pytest
import torch

import ppl.distributions as dist
from ppl.distributions import constraints

# ---------------------------------------------------------------- Delta


def test_delta_log_prob_and_shapes():
    d = dist.Delta(torch.tensor([1.0, 2.0]))
    assert (d.batch_shape, d.event_shape) == ((2,), ())
    assert d.log_prob(torch.tensor([1.0, 3.0])).tolist() == [0.0, -math.inf]
    d1 = dist.Delta(torch.tensor([1.0, 2.0]), log_density=-0.5, event_dim=1)
    assert (d1.batch_shape, d1.event_shape) == ((), (2,))
    assert d1.log_prob(torch.tensor([1.0, 2.0])).item() == -0.5
    assert d1.log_prob(torch.tensor([1.0, 3.0])).item() == -math.inf
    lp = d1.log_prob(torch.tensor([[1.0, 2.0], [0.0, 2.0]]))
    assert lp.tolist() == [-0.5, -math.inf]


def test_delta_rsample_expands_v_and_carries_gradient():
    u = torch.tensor(0.5, requires_grad=True)
    theta = torch.tensor(0.3)
    d = dist.Delta(torch.cos(theta) * u)
    x = d.rsample((4,))
    assert x.shape == (4,) and torch.allclose(x, torch.cos(theta) * u.detach())
    x.sum().backward()
    assert u.grad.item() == pytest.approx(4 * math.cos(0.3))
    assert not d.sample().requires_grad
    assert d.has_rsample and d().requires_grad
    assert d.mean is d.v and torch.equal(d.variance, torch.tensor(0.0))


def test_delta_tensor_log_density_expand_and_number_v():
    d = dist.Delta(torch.zeros(2, 3), log_density=torch.tensor([1.0, 2.0]).unsqueeze(-1))
    assert d.log_density.shape == (2, 3)
    e = d.expand((4, 2, 3))
    assert type(e) is dist.Delta and e.log_prob(torch.zeros(4, 2, 3)).shape == (4, 2, 3)
    assert e.log_prob(torch.zeros(4, 2, 3))[0, 1, 0].item() == 2.0
    assert dist.Delta(3.0).log_prob(torch.tensor(3.0)).item() == 0.0
    assert dist.Delta(torch.ones(3), event_dim=1).to_event(0).event_shape == (3,)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"v": "a"}, TypeError, "v must be a tensor or a number"),
        ({"v": torch.zeros(2), "event_dim": 2}, ValueError, r"event_dim=2 must be between 0"),
        ({"v": torch.zeros(2), "event_dim": 1.0}, TypeError, "event_dim must be an int"),
        (
            {"v": torch.zeros(2), "log_density": torch.zeros(3)},
            ValueError,
            r"log_density.shape=\(3,\) does not broadcast",
        ),
        ({"v": torch.zeros(2), "log_density": "x"}, TypeError, "log_density must be a tensor"),
    ],
)
def test_delta_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        dist.Delta(**kwargs)


def test_delta_validation():
    with pytest.raises(ValueError, match="Expected parameter v"):
        dist.Delta(torch.tensor(float("nan")), validate_args=True)
    d = dist.Delta(torch.zeros(3), event_dim=1, validate_args=True)
    with pytest.raises(ValueError, match="right-most size of value must match event_shape"):
        d.log_prob(torch.zeros(2))


# ---------------------------------------------------------------- Unit


def test_unit_log_prob_sample_and_expand():
    u = dist.Unit(torch.tensor([0.5, -1.0]))
    assert (u.batch_shape, u.event_shape) == ((2,), (0,))
    value = u.sample()
    assert value.shape == (2, 0)
    assert u.log_prob(value).tolist() == [0.5, -1.0]
    assert u.log_prob(u.sample((3,))).shape == (3, 2)
    assert u.has_rsample and not dist.Unit(0.0, has_rsample=False).has_rsample
    e = u.expand((4, 2))
    assert type(e) is dist.Unit and e.log_prob(e.sample()).shape == (4, 2)
    assert dist.Unit(-2.5).log_prob(torch.empty(0)).item() == -2.5


def test_unit_errors_and_validation():
    with pytest.raises(TypeError, match="log_factor must be a tensor or a number"):
        dist.Unit("x")
    with pytest.raises(ValueError, match="Expected parameter log_factor"):
        dist.Unit(torch.tensor(float("nan")), validate_args=True)


# ---------------------------------------------------------------- ImproperUniform


def test_improper_uniform_log_prob_is_zero_inside_support():
    d = dist.ImproperUniform(constraints.real, (), ())
    assert d.log_prob(torch.tensor(3.0)).item() == 0.0
    assert d.log_prob(torch.randn(5)).shape == (5,)
    p = dist.ImproperUniform(constraints.positive, (2,), ())
    assert p.log_prob(torch.tensor([1.0, -1.0])).tolist() == [0.0, -math.inf]
    s = dist.ImproperUniform(constraints.simplex, (2,), (3,))
    assert s.support.event_dim == 1
    lp = s.log_prob(torch.tensor([[0.2, 0.3, 0.5], [0.5, 0.6, 0.1]]))
    assert lp.tolist() == [0.0, -math.inf]


def test_improper_uniform_event_shape_independent_and_expand():
    d = dist.ImproperUniform(constraints.positive, (2,), (3,))
    assert d.support.event_dim == 1
    value = torch.ones(4, 2, 3)
    value[0, 1, 2] = -1.0
    lp = d.log_prob(value)
    assert lp.shape == (4, 2) and lp[0, 1].item() == -math.inf and lp[1, 1].item() == 0.0
    e = d.expand((5, 2))
    assert type(e) is dist.ImproperUniform and e.batch_shape == (5, 2)
    assert dist.transforms.biject_to(d.support)(torch.zeros(3)).tolist() == [1.0, 1.0, 1.0]


def test_improper_uniform_cannot_sample():
    d = dist.ImproperUniform(constraints.real, (), ())
    with pytest.raises(NotImplementedError, match="improper prior and cannot be sampled"):
        d.sample()
    with pytest.raises(NotImplementedError, match="give its site a value from a guide"):
        d.rsample()


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("real", (), ()), TypeError, "support must be a Constraint"),
        ((constraints.simplex, (), ()), ValueError, "has event_dim=1 but event_shape=()"),
        ((constraints.real, "x", ()), TypeError, r"ImproperUniform\(batch_shape\)"),
    ],
)
def test_improper_uniform_errors(args, error, match):
    with pytest.raises(error, match=match):
        dist.ImproperUniform(*args)


def test_improper_uniform_validation():
    d = dist.ImproperUniform(constraints.positive, (), (), validate_args=True)
    with pytest.raises(ValueError, match="to be within the support"):
        d.log_prob(torch.tensor(-1.0))
