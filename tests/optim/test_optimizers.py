"""Every wrapper steps a quadratic to its minimum; grouping, lazy params and call styles."""

from __future__ import annotations

import pytest
import torch
from optim_helpers import TARGET, quadratic

import ppl.optim as optim
from ppl.params.param_store import get_param_store

# (wrapper name, optim_args, steps, tolerance on the final loss)
CASES = [
    ("Adadelta", {"lr": 10.0}, 300, 1e-3),
    ("Adagrad", {"lr": 0.5}, 200, 1e-6),
    ("Adam", {"lr": 0.1}, 200, 1e-6),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.0}, 200, 1e-6),
    ("Adamax", {"lr": 0.1}, 200, 1e-6),
    ("ASGD", {"lr": 0.1}, 200, 1e-6),
    ("NAdam", {"lr": 0.1}, 200, 1e-6),
    ("RAdam", {"lr": 0.1}, 200, 1e-6),
    ("RMSprop", {"lr": 0.05}, 200, 1e-6),
    ("Rprop", {"lr": 0.1}, 200, 1e-6),
    ("SGD", {"lr": 0.1, "momentum": 0.5}, 200, 1e-6),
    ("ClippedAdam", {"lr": 0.1, "lrd": 0.999}, 200, 1e-6),
]
if "Adafactor" in optim.OPTIMIZERS:
    CASES.append(("Adafactor", {"lr": 0.1}, 200, 1e-6))


@pytest.mark.parametrize("name,args,steps,tol", CASES)
def test_wrapper_minimizes_quadratic(name, args, steps, tol, device):
    w = torch.zeros(3, device=device, requires_grad=True)
    opt = optim.OPTIMIZERS[name](args)
    start = quadratic(w).item()
    for _ in range(steps):
        quadratic(w).backward()
        opt.step({"w": w})
        assert w.grad is None  # cleared after every step
    assert start == pytest.approx(14.0)
    assert quadratic(w).item() < tol
    assert w.device == device
    assert isinstance(opt, optim.PyroOptim)
    assert type(opt.optimizer).__name__ == name


def test_lbfgs_with_closure():
    w = torch.zeros(3, requires_grad=True)
    opt = optim.LBFGS({"lr": 1.0})

    def closure():
        w.grad = None
        loss = quadratic(w)
        loss.backward()
        return loss

    first = opt.step({"w": w}, closure=closure)
    assert first.item() == pytest.approx(14.0)
    opt.step({"w": w}, closure=closure)
    torch.testing.assert_close(w.detach(), TARGET, atol=1e-5, rtol=0)


def test_lbfgs_without_closure_is_an_error():
    w = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="LBFGS needs a closure"):
        optim.LBFGS({"lr": 1.0}).step({"w": w})


def test_lbfgs_rejects_a_second_group():
    opt = optim.LBFGS(lambda name: {"lr": 1.0 if name == "a" else 0.5})
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="LBFGS supports a single parameter group"):
        opt.step({"a": a, "b": b}, closure=lambda: quadratic(a))


def test_sparse_adam_on_embedding():
    table = torch.zeros(5, 3, requires_grad=True)
    rows = torch.tensor([0, 2, 4])
    opt = optim.SparseAdam({"lr": 0.1})
    for _ in range(300):
        emb = torch.nn.functional.embedding(rows, table, sparse=True)
        ((emb - TARGET) ** 2).sum().backward()
        opt.step({"table": table})
    torch.testing.assert_close(table[rows].detach(), TARGET.expand(3, 3), atol=1e-4, rtol=0)
    assert table[1].abs().sum().item() == 0.0  # rows without gradient never move


def test_muon_on_a_matrix_if_available():
    if "Muon" not in optim.OPTIMIZERS:
        pytest.skip("torch has no Muon")
    w = torch.zeros(4, 4, requires_grad=True)
    opt = optim.OPTIMIZERS["Muon"]({"lr": 0.02, "weight_decay": 0.0})
    target = torch.eye(4)
    for _ in range(100):
        ((w - target) ** 2).sum().backward()
        opt.step({"w": w})
    assert ((w - target) ** 2).sum().item() < 0.1


def test_dict_args_make_one_group_and_callable_args_group_equal_settings():
    params = {n: torch.zeros(2, requires_grad=True) for n in ("loc", "scale", "w", "b")}
    opt = optim.Adam({"lr": 0.1})
    for p in params.values():
        p.grad = torch.ones(2)
    opt.step(params)
    assert len(opt.optimizer.param_groups) == 1
    assert opt.optimizer.param_groups[0]["param_names"] == ["loc", "scale", "w", "b"]

    seen = []

    def per_param(name):
        seen.append(name)
        return {"lr": 0.5} if name in ("w", "b") else {"lr": 0.1, "betas": (0.5, 0.9)}

    opt = optim.Adam(per_param)
    params = {n: torch.zeros(2, requires_grad=True) for n in params}
    for p in params.values():
        p.grad = torch.ones(2)
    opt.step(params)
    groups = opt.optimizer.param_groups
    assert [g["param_names"] for g in groups] == [["loc", "scale"], ["w", "b"]]
    assert [g["lr"] for g in groups] == [0.1, 0.5]
    # keys a group omits get torch's defaults, not another group's values (as in Pyro)
    assert groups[1]["betas"] == (0.9, 0.999)
    assert seen == ["loc", "scale", "w", "b"]
    # Adam's first step moves every coordinate by lr
    assert params["loc"].tolist() == pytest.approx([-0.1, -0.1])
    assert params["w"].tolist() == pytest.approx([-0.5, -0.5])


def test_callable_receives_dotted_module_names_and_pyro_two_argument_form():
    p = torch.zeros(1, requires_grad=True)
    got = []
    opt = optim.SGD(lambda name: got.append(name) or {"lr": 1.0})
    p.grad = torch.ones(1)
    opt.step({"net$$$fc.weight": p})
    assert got == ["net.fc.weight"]

    got2 = []
    opt2 = optim.SGD(lambda module, name: got2.append((module, name)) or {"lr": 1.0})
    p.grad = torch.ones(1)
    opt2.step({"net$$$fc.bias": p})
    assert got2 == [("net", "fc.bias")]


def test_params_are_added_lazily_and_only_passed_params_move():
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = optim.SGD({"lr": 1.0})
    assert opt.optimizer is None
    assert opt.step({}) is None
    a.grad = torch.ones(1)
    opt.step({"a": a})
    assert opt.param_names == ["a"]
    assert a.item() == -1.0
    # b appears later; a has a stale gradient but is not passed: it must not move
    a.grad = torch.ones(1)
    b.grad = torch.ones(1)
    opt.step({"b": b})
    assert opt.param_names == ["a", "b"]
    assert (a.item(), b.item()) == (-1.0, -1.0)
    assert a.grad is not None and b.grad is None  # a's grad is left alone
    assert len(opt.optimizer.param_groups) == 1


def test_a_name_with_a_new_tensor_keeps_its_state():
    old = torch.zeros(2, requires_grad=True)
    opt = optim.Adam({"lr": 0.1})
    old.grad = torch.ones(2)
    opt.step({"x": old})
    new = old.detach().clone().requires_grad_()
    new.grad = torch.ones(2)
    opt.step({"x": new})
    state = opt.optimizer.state[new]
    assert state["step"].item() == 2.0
    assert old not in opt.optimizer.state
    assert opt.optimizer.param_groups[0]["params"] == [new]


def test_clip_args_clip_each_parameter_by_norm_and_value():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    opt = optim.SGD({"lr": 1.0}, clip_args={"clip_norm": 1.0})
    a.grad = torch.tensor([3.0, 4.0])
    b.grad = torch.tensor([0.3, 0.4])
    opt.step({"a": a, "b": b})
    assert a.tolist() == pytest.approx([-0.6, -0.8])
    assert b.tolist() == pytest.approx([-0.3, -0.4])

    c = torch.zeros(2, requires_grad=True)
    opt = optim.SGD({"lr": 1.0}, clip_args=lambda name: {"clip_value": 0.5})
    c.grad = torch.tensor([3.0, -0.1])
    opt.step({"c": c})
    assert c.tolist() == pytest.approx([-0.5, 0.1])


def test_pyro_call_style_resolves_names_in_the_param_store():
    store = get_param_store()
    store.setdefault("loc", torch.zeros(2))
    leaf = dict(store.named_parameters())["loc"]
    opt = optim.SGD({"lr": 0.5})
    leaf.grad = torch.ones(2)
    opt([leaf])
    assert opt.param_names == ["loc"]
    assert leaf.tolist() == [-0.5, -0.5]
    assert leaf.grad.tolist() == [1.0, 1.0]  # as Pyro: the caller zeroes the grads


def test_pyro_call_style_steps_tensors_outside_the_store_with_their_own_state():
    # Pyro's optimizers step any leaf; ppl keys one outside the store by "<tensor k>"
    x = torch.zeros(1, requires_grad=True)
    y = torch.zeros(1, requires_grad=True)
    opt = optim.Adam({"lr": 0.1})
    reference = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref = reference.param_groups[0]["params"][0]
    for grad in (1.0, -3.0, 2.0):
        x.grad, y.grad, ref.grad = torch.tensor([grad]), torch.tensor([-grad]), torch.tensor([grad])
        opt([x])
        opt([x, y])
        reference.step()
        reference.step()
    assert opt.param_names == ["<tensor 0>", "<tensor 1>"]
    assert torch.equal(x, ref)  # x took both steps of every round, each with Adam's state
    with pytest.raises(ValueError, match="leaf tensor with requires_grad=True"):
        opt([torch.zeros(2)])


def test_optim_objs_and_repr():
    w = torch.zeros(1, requires_grad=True)
    opt = optim.Adam({"lr": 0.1})
    assert opt.optim_objs == {}
    w.grad = torch.ones(1)
    opt.step({"w": w})
    assert list(opt.optim_objs.values()) == [opt.optimizer]
    assert repr(opt) == "Adam(Adam, {'lr': 0.1})"
    assert repr(optim.Adam(lambda n: {})) == "Adam(Adam, <per-param callable>)"


def test_generic_base_and_wrap_optimizer():
    opt = optim.PPLOptimizer(torch.optim.SGD, {"lr": 0.25})
    w = torch.zeros(1, requires_grad=True)
    w.grad = torch.ones(1)
    opt.step({"w": w})
    assert w.item() == -0.25
    Mine = optim.wrap_optimizer(torch.optim.SGD)
    assert Mine({"lr": 1.0}).optimizer_class is torch.optim.SGD


# ---------------------------------------------------------------------- errors
def test_bad_constructor_and_args_types():
    with pytest.raises(TypeError, match="expected a torch.optim.Optimizer subclass"):
        optim.PPLOptimizer("adam", {"lr": 1.0})
    with pytest.raises(TypeError, match="optim_args: expected a dict"):
        optim.Adam(0.1)
    with pytest.raises(TypeError, match="clip_args: expected a dict"):
        optim.Adam({"lr": 0.1}, clip_args=1.0)
    with pytest.raises(TypeError, match="wrap_optimizer: expected an Optimizer subclass"):
        optim.wrap_optimizer(dict)
    with pytest.raises(TypeError, match="keys must be argument names"):
        optim.Adam({1: 0.1})


def test_unknown_and_invalid_settings():
    with pytest.raises(ValueError, match=r"Adam does not accept \['learning_rate'\]"):
        optim.Adam({"learning_rate": 0.1})
    with pytest.raises(ValueError, match=r"clipping does not accept \['clip'\]"):
        optim.Adam({"lr": 0.1}, clip_args={"clip": 1.0})
    with pytest.raises(ValueError, match="optim_args: Invalid learning rate"):
        optim.Adam({"lr": -1.0})


def test_callable_errors_name_the_parameter():
    w = torch.zeros(1, requires_grad=True)
    w.grad = torch.ones(1)
    with pytest.raises(TypeError, match="optim_args for parameter 'w': expected a dict"):
        optim.Adam(lambda name: 0.1).step({"w": w})
    with pytest.raises(ValueError, match="optim_args for parameter 'w': Adam does not accept"):
        optim.Adam(lambda name: {"momentum": 0.1}).step({"w": w})


def test_bad_parameters():
    opt = optim.SGD({"lr": 0.1})
    with pytest.raises(TypeError, match="expected a mapping"):
        opt.step([torch.zeros(1, requires_grad=True)])
    with pytest.raises(TypeError, match="parameter 'w' must be a tensor"):
        opt.step({"w": 1.0})
    with pytest.raises(TypeError, match="parameter names must be str"):
        opt.step({3: torch.zeros(1, requires_grad=True)})
    leaf = torch.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="parameter 'w' must be a leaf tensor"):
        opt.step({"w": leaf * 2})
    with pytest.raises(ValueError, match="parameter 'w' must be a leaf tensor"):
        opt.step({"w": torch.zeros(1)})
    with pytest.raises(ValueError, match="the same tensor is passed as 'a' and 'b'"):
        opt.step({"a": leaf, "b": leaf})
