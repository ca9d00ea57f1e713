"""``DistributedOptimizer`` in a world of one (no process group): a pass-through, and errors."""

from __future__ import annotations

import pytest
import torch

import ppl
import ppl.optim
from ppl.distributed import DistributedOptimizer


def test_pass_through_equals_the_wrapped_optimizer():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([1.0, 2.0], requires_grad=True)
    plain, wrapped = ppl.optim.Adam({"lr": 0.1}), DistributedOptimizer(ppl.optim.Adam({"lr": 0.1}))
    for _ in range(3):
        a.grad, b.grad = torch.tensor([0.5, -1.0]), torch.tensor([0.5, -1.0])
        plain.step({"p": a})
        wrapped.step({"p": b})
    assert torch.equal(a, b) and b.grad is None
    assert wrapped.world_size == 1 and wrapped.rank == 0
    assert wrapped.param_names == ["p"]  # delegated to the wrapped optimizer
    assert wrapped.state_dict()["state"].keys() == {"p"}


def test_pyro_call_style_resolves_names_from_the_store():
    ppl.param("w", torch.zeros(2))
    leaf = dict(ppl.get_param_store().named_parameters())["w"]
    leaf.grad = torch.ones(2)
    opt = DistributedOptimizer(ppl.optim.SGD({"lr": 1.0}))
    opt([leaf])
    assert torch.equal(ppl.param("w").detach(), -torch.ones(2))


def test_pyro_call_style_rejects_unknown_tensor():
    opt = DistributedOptimizer(ppl.optim.SGD({"lr": 1.0}))
    with pytest.raises(ValueError, match=r"not in the ParamStore \(shape \(3,\)\)"):
        opt([torch.zeros(3, requires_grad=True)])


def test_save_and_load_round_trip(tmp_path):
    opt = DistributedOptimizer(ppl.optim.Adam({"lr": 0.1}))
    w = torch.zeros(2, requires_grad=True)
    w.grad = torch.ones(2)
    opt.step({"w": w})
    opt.save(tmp_path / "opt.pt")  # world of one: this process is rank 0 and writes
    other = DistributedOptimizer(ppl.optim.Adam({"lr": 0.1}))
    other.load(tmp_path / "opt.pt")
    assert other.get_state()["state"].keys() == {"w"}
    other.set_state(opt.get_state())


def test_setup_and_all_finite_in_a_world_of_one():
    ppl.param("w", torch.ones(2))
    opt = DistributedOptimizer(ppl.optim.SGD({"lr": 1.0}))
    opt.setup()  # reads the whole store; nothing to broadcast from
    assert torch.equal(ppl.param("w").detach(), torch.ones(2))
    assert opt.all_finite(True) and not opt.all_finite(False)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((torch.optim.SGD,), {}, TypeError, r"expected a ppl.optim optimizer .* got type"),
        ((ppl.optim.SGD({"lr": 1.0}),), {"bucket_cap_mb": 0}, ValueError, r"bucket_cap_mb"),
        ((ppl.optim.SGD({"lr": 1.0}),), {"src": -1}, ValueError, r"src must be a rank >= 0"),
    ],
)
def test_constructor_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        DistributedOptimizer(*args, **kwargs)


def test_cannot_wrap_twice():
    with pytest.raises(TypeError, match=r"already distributed"):
        DistributedOptimizer(DistributedOptimizer(ppl.optim.SGD({"lr": 1.0})))  # type: ignore


def test_step_type_errors():
    opt = DistributedOptimizer(ppl.optim.SGD({"lr": 1.0}))
    with pytest.raises(TypeError, match=r"setup: parameter 'w' must be a tensor, got list"):
        opt.setup({"w": [1.0]})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"setup: expected a mapping \{name: tensor\}, got list"):
        opt.setup([torch.zeros(1)])  # type: ignore[arg-type]
