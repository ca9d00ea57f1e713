"""ppl.ops.jit.trace: TorchScript tracing of functions that read ppl.param."""

import warnings

import pytest
import torch

import ppl
import ppl.distributions as dist
import ppl.ops.jit
from ppl.distributions import constraints


def log_joint(y):
    loc = ppl.param("loc", torch.tensor(0.5))
    scale = ppl.param("scale", torch.tensor(2.0), constraint=constraints.positive)
    return dist.Normal(loc, scale).log_prob(y).sum()


def grads_of(fn, y):
    store = ppl.get_param_store()
    out = fn(y)
    leaves = dict(store.named_parameters())
    return out, torch.autograd.grad(out, [leaves["loc"], leaves["scale"]])


@pytest.fixture(autouse=True)
def quiet_tracer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def test_traced_value_and_param_gradients_equal_eager():
    y = torch.tensor([0.3, -1.2, 2.5])
    eager, eager_grads = grads_of(log_joint, y)
    traced_fn = ppl.ops.jit.trace(log_joint)
    for new_y in (y, y + 1.0):  # second call reuses the graph with new values
        traced, traced_grads = grads_of(traced_fn, new_y)
        expected, expected_grads = grads_of(log_joint, new_y)
        assert torch.allclose(traced, expected)
        for a, b in zip(traced_grads, expected_grads):
            assert torch.allclose(a, b)
    assert len(traced_fn.compiled) == 1
    assert torch.allclose(eager, grads_of(traced_fn, y)[0])
    assert all(torch.allclose(a, b) for a, b in zip(eager_grads, grads_of(traced_fn, y)[1]))


def test_traced_graph_follows_updated_param_values():
    traced_fn = ppl.ops.jit.trace(log_joint)
    y = torch.zeros(2)
    traced_fn(y)
    leaf = dict(ppl.get_param_store().named_parameters())["loc"]
    with torch.no_grad():
        leaf.add_(1.0)  # loc 0.5 -> 1.5
    assert torch.allclose(traced_fn(y), log_joint(y))
    assert torch.allclose(traced_fn(y), dist.Normal(1.5, 2.0).log_prob(y).sum())


def test_one_graph_per_signature_and_decorator_forms():
    @ppl.ops.jit.trace(ignore_warnings=True, jit_options={"time_compilation": True})
    def scaled(x, factor=1.0):
        return ppl.param("w", torch.tensor(3.0)) * x * factor

    x = torch.ones(2)
    assert torch.equal(scaled(x), torch.full((2,), 3.0))
    assert torch.equal(scaled(x, factor=2.0), torch.full((2,), 6.0))
    assert len(scaled.compiled) == 2
    assert scaled.compile_time is not None and scaled.compile_time >= 0.0


def test_param_removed_after_tracing_is_named():
    traced_fn = ppl.ops.jit.trace(log_joint)
    traced_fn(torch.zeros(1))
    del ppl.get_param_store()["scale"]
    with pytest.raises(KeyError, match="param 'scale' was traced"):
        traced_fn(torch.zeros(1))
