"""``HorovodOptimizer`` averages each gradient across workers (by name, sorted) before
the wrapped optimizer's step; without horovod it fails with a clear message."""

import sys
import types

import pytest
import torch

import ppl
import ppl.optim
from ppl.optim import HorovodOptimizer


def fake_horovod(other_rank_grads):
    """A two-worker ``horovod.torch``: the other worker holds ``other_rank_grads``."""
    calls = []

    def allreduce_(tensor, name=None, op=None, **kwargs):
        calls.append((name, op))
        tensor.add_(other_rank_grads[name]).div_(2)  # hvd.Average over 2 workers
        return tensor

    def allreduce(tensor, name=None, op=None):
        calls.append((name, op))
        return torch.minimum(tensor, torch.zeros_like(tensor)) if name == "bad" else tensor

    hvd = types.SimpleNamespace(
        Average="avg", Min="min", allreduce_=allreduce_, allreduce=allreduce
    )
    return hvd, calls


def test_gradients_are_averaged_in_name_order_before_the_step(monkeypatch):
    hvd, calls = fake_horovod({"a": torch.tensor([3.0]), "b": torch.tensor([-1.0])})
    package = types.ModuleType("horovod")
    package.torch = hvd
    monkeypatch.setitem(sys.modules, "horovod", package)
    monkeypatch.setitem(sys.modules, "horovod.torch", hvd)
    ppl.clear_param_store()
    b = ppl.param("b", torch.tensor([0.0]))
    a = ppl.param("a", torch.tensor([0.0]))
    store = ppl.get_param_store()
    leaves = {"b": b.unconstrained(), "a": a.unconstrained()}
    leaves["a"].grad = torch.tensor([1.0])
    leaves["b"].grad = torch.tensor([1.0])
    opt = HorovodOptimizer(ppl.optim.SGD({"lr": 0.5}))
    opt.step(leaves)
    assert calls == [("a", "avg"), ("b", "avg")]
    # averaged gradients: a (1 + 3) / 2 = 2, b (1 - 1) / 2 = 0; SGD lr 0.5
    assert store["a"].item() == pytest.approx(-1.0) and store["b"].item() == 0.0
    assert opt.all_finite(True)
    del a, b


def test_without_horovod_the_step_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "horovod", None)
    monkeypatch.setitem(sys.modules, "horovod.torch", None)
    opt = HorovodOptimizer(ppl.optim.Adam({"lr": 0.1}))  # building it needs no horovod
    with pytest.raises(ImportError, match="pip install 'horovod"):
        opt.step({})


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected a ppl.optim optimizer"):
        HorovodOptimizer(torch.optim.SGD)
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['compression'\]"):
        HorovodOptimizer(ppl.optim.Adam({"lr": 0.1}), compression=None)
