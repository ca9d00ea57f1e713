"""Every error a user of ppl.nn can hit, with the message that names the fix."""

import pytest
import torch
from torch import nn

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints
from ppl.nn import PyroModule, PyroParam, PyroSample, clear, pyro_method, to_pyro_module_


def test_mixin_of_a_non_module():
    with pytest.raises(TypeError, match=r"PyroModule\[\.\.\.\]: expected a subclass of torch.nn"):
        PyroModule[int]
    with pytest.raises(TypeError, match="expected a subclass"):
        PyroModule[nn.Linear(1, 1)]


def test_root_name_must_be_a_string():
    with pytest.raises(TypeError, match="PyroModule: name must be a str, got 3"):
        PyroModule(3)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"constraint": "positive"}, TypeError, "constraint must be a torch Constraint"),
        ({"event_dim": 1.5}, TypeError, "event_dim must be an int or None, got 1.5"),
        ({"event_dim": True}, TypeError, "event_dim must be an int or None"),
        ({"event_dim": -1}, ValueError, "event_dim must be >= 0, got -1"),
        ({"init_value": "abc"}, TypeError, "init_value must be a tensor, a number"),
    ],
)
def test_bad_pyro_param_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PyroParam(**kwargs)


@pytest.mark.parametrize(
    "init,constraint,error,match",
    [
        (torch.tensor([-1.0]), constraints.positive, ValueError, "outside the support"),
        (torch.tensor([0.0]), constraints.positive, ValueError, "outside the support"),
        (torch.tensor([0.0]), constraints.nonnegative, ValueError, "non-finite unconstrained"),
        (torch.tensor([1, 2]), constraints.real, TypeError, "dtype torch.int64"),
        (lambda: "x", constraints.real, TypeError, "must be a tensor or a number, got str"),
    ],
)
def test_bad_init_values_name_the_attribute(init, constraint, error, match):
    m = PyroModule()
    m.sub = PyroModule()
    with pytest.raises(error, match=match) as info:
        m.sub.w = PyroParam(init, constraint)
    assert "'sub.w'" in str(info.value)


def test_init_none_is_only_for_decorators():
    m = PyroModule()
    with pytest.raises(ValueError, match="PyroParam 'w': init_value is None"):
        m.w = PyroParam(constraint=constraints.positive)
    with pytest.raises(TypeError, match="only a PyroParam made without an init_value"):
        PyroParam(torch.ones(1))(lambda self: torch.ones(1))


def test_assigning_a_value_outside_the_support():
    m = PyroModule()
    m.s = PyroParam(torch.ones(2), constraints.positive)
    with pytest.raises(ValueError, match="PyroParam 's': the value is outside the support"):
        m.s = torch.tensor([1.0, -2.0])


@pytest.mark.parametrize(
    "prior,match",
    [
        (3.0, "prior must be a distribution or a callable taking the module, got float"),
        (lambda: dist.Normal(0.0, 1.0), "must take exactly one argument .* requires 0"),
        (lambda self, x: dist.Normal(0.0, 1.0), "requires 2"),
    ],
)
def test_bad_priors(prior, match):
    with pytest.raises(TypeError, match=match):
        PyroSample(prior)


def test_prior_callable_returning_a_non_distribution():
    m = PyroModule()
    m.z = PyroSample(lambda self: "zero")
    m.forward = lambda: m.z
    with pytest.raises(TypeError, match="PyroSample 'z': the prior callable returned a str"):
        m()


def test_prior_callable_returning_a_tensor_is_a_deterministic_site():
    # as in Pyro: a computed value is recorded with ppl.deterministic
    m = PyroModule()
    m.z = PyroSample(lambda self: torch.ones(2))
    m.forward = lambda: m.z
    tr = poutine.trace(m).get_trace()
    assert torch.equal(tr.nodes["z"]["value"], torch.ones(2))
    assert tr.nodes["z"]["is_observed"] and tr.nodes["z"]["infer"].get("_deterministic")
    assert torch.equal(m.z, torch.ones(2))  # outside a call: the value itself


def test_decorators_outside_a_pyro_module():
    class Plain(nn.Module):
        @PyroParam
        def w(self):
            return torch.ones(1)

        @PyroSample
        def z(self):
            return dist.Normal(0.0, 1.0)

    with pytest.raises(TypeError, match="PyroParam 'w': a decorated PyroParam works only"):
        _ = Plain().w
    with pytest.raises(TypeError, match="PyroSample 'z': a decorated PyroSample works only"):
        _ = Plain().z


def test_constraint_clash_with_the_store():
    ppl.param("s", torch.ones(1), constraint=constraints.positive)
    m = PyroModule()
    m.s = nn.Parameter(torch.ones(1))
    m.forward = lambda: m.s
    with pytest.raises(ValueError, match="already holds 's' with constraint"):
        m()


def test_pyro_method_on_a_plain_module():
    class Plain(nn.Module):
        @pyro_method
        def f(self):
            return 1

    with pytest.raises(TypeError, match="expected a PyroModule as 'self', got Plain"):
        Plain().f()


def test_helpers_reject_non_modules():
    with pytest.raises(TypeError, match="clear: expected a PyroModule, got Linear"):
        clear(nn.Linear(1, 1))
    with pytest.raises(TypeError, match="to_pyro_module_: expected an nn.Module instance"):
        to_pyro_module_(3)
    with pytest.raises(TypeError, match="pass an instance, not the class"):
        to_pyro_module_(nn.Linear)
