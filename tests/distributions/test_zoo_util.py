"""Pyro's public helpers in ``ppl.distributions.util``, checked against exact answers."""

import gc
import warnings

import pytest
import torch

import ppl.distributions as dist
from ppl.distributions import util


def test_sum_rightmost_leftmost_shapes_and_values():
    x = torch.arange(24.0).reshape(2, 3, 4)
    assert util.sum_rightmost(x, 0) is x
    assert util.sum_rightmost(x, 2).tolist() == [x[0].sum().item(), x[1].sum().item()]
    assert util.sum_rightmost(x, -1).shape == (2,)
    assert util.sum_rightmost(x, float("inf")).item() == 276.0
    assert util.sum_leftmost(x, 1).shape == (3, 4)
    assert torch.equal(util.sum_leftmost(x, -1), x.sum((0, 1)))
    assert util.sum_leftmost(x, 5).item() == 276.0
    assert util.sum_rightmost(3.0, 2) == 3.0


def test_identically_zero_one():
    assert util.is_identically_zero(0) and util.is_identically_zero(torch.tensor(0))
    assert not util.is_identically_zero(torch.tensor(0.0))
    assert not util.is_identically_zero(torch.zeros(1, dtype=torch.long))
    assert util.is_identically_one(1.0) and not util.is_identically_one(2)


def test_scale_and_mask():
    t = torch.tensor([1.0, 2.0])
    assert util.scale_and_mask(t) is t
    assert util.scale_and_mask(0, 2.0, torch.tensor([True])) == 0
    assert util.scale_and_mask(t, 3.0).tolist() == [3.0, 6.0]
    assert util.scale_and_mask(t, 3.0, False).tolist() == [0.0, 0.0]
    assert util.scale_and_mask(t, 2.0, torch.tensor([False, True])).tolist() == [0.0, 4.0]


def test_gather_eye_scalar_like():
    v = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert util.gather(v, torch.tensor([[2], [0]]), -1).tolist() == [[3.0], [4.0]]
    e = util.eye_like(torch.zeros((), dtype=torch.float64), 2, 3)
    assert e.dtype == torch.float64 and e.tolist() == [[1, 0, 0], [0, 1, 0]]
    s = util.scalar_like(torch.zeros(2, dtype=torch.float64), 1.5)
    assert s.shape == () and s.dtype == torch.float64 and s.item() == 1.5


def test_detach_and_deep_to_share_structure():
    x = torch.ones(3, requires_grad=True)
    obj = {"a": x, "b": [x, 2]}
    out = util.detach(obj)
    assert not out["a"].requires_grad and out["a"] is out["b"][0]
    assert out["a"].data_ptr() == x.data_ptr()
    moved = util.deep_to(obj, torch.float64)
    assert moved["a"].dtype == torch.float64 and moved["b"][1] == 2
    assert x.dtype == torch.float32


def test_weakmethod_no_cycle_and_error():
    class Holder:
        def __init__(self):
            self.callback = self.method

        @util.weakmethod
        def method(self, x):
            return x * 2

    h = Holder()
    assert h.callback(4) == 8
    cb = h.callback
    del h
    gc.collect()
    with pytest.raises(AttributeError, match="garbage collected"):
        cb(1)


def test_copy_docs_from():
    class Base:
        def f(self):
            """Base doc."""

    @util.copy_docs_from(Base)
    class Derived(Base):
        def f(self):
            pass

    assert Derived.f.__doc__.startswith("See :meth:")
    assert Derived.f.__doc__.endswith("Base.f`")


def test_ignore_jit_warnings_and_aliases():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with util.ignore_jit_warnings():
            warnings.warn("traced", torch.jit.TracerWarning)
    assert util.log_sum_exp is torch.logsumexp is util.logsumexp
    assert util.broadcast_all is torch.distributions.utils.broadcast_all
    assert callable(util.torch_jit_script_if_tracing)


def test_validation_switches_exported():
    assert dist.kl.kl_divergence is torch.distributions.kl_divergence
    was = dist.is_validation_enabled()
    with dist.validation_enabled(not was):
        assert dist.is_validation_enabled() is (not was)
    assert dist.is_validation_enabled() is was
    assert dist.ExponentialFamily is torch.distributions.ExponentialFamily
