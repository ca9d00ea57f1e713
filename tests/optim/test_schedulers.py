"""Scheduler wrappers: Pyro's dict signature, lr values equal to torch's, late groups, errors."""

from __future__ import annotations

import pytest
import torch

import ppl.optim as optim

# (wrapper name, scheduler kwargs, torch optimizer, optimizer args)
CASES = [
    ("ExponentialLR", {"gamma": 0.5}, torch.optim.SGD, {"lr": 1.0}),
    ("StepLR", {"step_size": 2, "gamma": 0.1}, torch.optim.SGD, {"lr": 1.0}),
    ("MultiStepLR", {"milestones": [1, 3], "gamma": 0.5}, torch.optim.Adam, {"lr": 1.0}),
    ("CosineAnnealingLR", {"T_max": 4}, torch.optim.Adam, {"lr": 1.0}),
    ("CosineAnnealingWarmRestarts", {"T_0": 2}, torch.optim.Adam, {"lr": 1.0}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 2}, torch.optim.SGD, {"lr": 1.0}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 3}, torch.optim.SGD, {"lr": 1.0}),
    ("PolynomialLR", {"total_iters": 4, "power": 2.0}, torch.optim.SGD, {"lr": 1.0}),
    ("LambdaLR", {"lr_lambda": lambda e: 1.0 / (e + 1)}, torch.optim.SGD, {"lr": 1.0}),
    ("MultiplicativeLR", {"lr_lambda": lambda e: 0.9}, torch.optim.SGD, {"lr": 1.0}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 6}, torch.optim.SGD, {"lr": 0.1}),
    (
        "CyclicLR",
        {"base_lr": 0.1, "max_lr": 1.0, "step_size_up": 2},
        torch.optim.SGD,
        {"lr": 0.1, "momentum": 0.9},
    ),
]


def _lrs_direct(name, kwargs, opt_cls, opt_args, steps):
    w = torch.zeros(1, requires_grad=True)
    opt = opt_cls([w], **opt_args)
    sched = getattr(torch.optim.lr_scheduler, name)(opt, **kwargs)
    lrs = []
    for _ in range(steps):
        w.grad = torch.ones(1)
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return lrs, w.detach().clone()


@pytest.mark.parametrize("name,kwargs,opt_cls,opt_args", CASES, ids=[c[0] for c in CASES])
def test_lr_values_and_updates_equal_torch(name, kwargs, opt_cls, opt_args):
    expected, w_expected = _lrs_direct(name, kwargs, opt_cls, opt_args, 5)
    user_dict = {"optimizer": opt_cls, "optim_args": opt_args, **kwargs}
    sched = optim.SCHEDULERS[name](user_dict)
    assert "optimizer" in user_dict  # the user's dict is not consumed (Pyro pops it)
    w = torch.zeros(1, requires_grad=True)
    lrs = []
    for _ in range(5):
        w.grad = torch.ones(1)
        sched.step({"w": w})
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs == expected
    assert torch.equal(w.detach(), w_expected)
    assert isinstance(sched, optim.PyroLRScheduler)
    assert type(sched.scheduler).__name__ == name


def test_exponential_lr_values():
    sched = optim.ExponentialLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.01}, "gamma": 0.1}
    )
    w = torch.zeros(1, requires_grad=True)
    sched.step()  # before the first optimizer step there is no scheduler: no-op, as in Pyro
    assert sched.scheduler is None
    values = []
    for _ in range(3):
        w.grad = torch.ones(1)
        sched.step({"w": w})
        values.append(sched.get_last_lr()[0])
        sched.step()
    assert values == pytest.approx([0.01, 0.001, 0.0001])


def test_reduce_lr_on_plateau_takes_the_loss():
    sched = optim.ReduceLROnPlateau(
        {"optimizer": torch.optim.SGD, "optim_args": {"lr": 1.0}, "patience": 1, "factor": 0.5}
    )
    w = torch.zeros(1, requires_grad=True)
    lrs = []
    for loss in [3.0, 2.0, 2.0, 2.0, 2.0, 2.0]:
        w.grad = torch.ones(1)
        sched.step({"w": w})
        sched.step(torch.tensor(loss))
        lrs.append(sched.get_last_lr()[0])
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]


def test_wrapper_class_is_accepted_as_the_optimizer():
    sched = optim.StepLR(
        {
            "optimizer": optim.ClippedAdam,
            "optim_args": {"lr": 1.0, "lrd": 0.5},
            "step_size": 1,
            "gamma": 0.5,
        }
    )
    w = torch.zeros(1, requires_grad=True)
    w.grad = torch.ones(1)
    sched.step({"w": w})
    sched.step()
    # ClippedAdam decayed once (1.0 -> 0.5) then StepLR halved it
    assert sched.get_last_lr() == [0.25]
    assert sched.optimizer_class is optim.clipped_adam.ClippedAdam


def test_per_param_callable_and_a_group_added_after_the_scheduler_exists():
    def per_param(name):
        return {"lr": 1.0} if name == "a" else {"lr": 0.8}

    for name in ("ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau"):
        kwargs = {"ExponentialLR": {"gamma": 0.5}, "CosineAnnealingLR": {"T_max": 10}}.get(
            name, {"patience": 0, "factor": 0.5}
        )
        sched = optim.SCHEDULERS[name](
            {"optimizer": torch.optim.SGD, "optim_args": per_param, **kwargs}
        )
        a = torch.zeros(1, requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        for _ in range(2):
            a.grad = torch.ones(1)
            sched.step({"a": a})
            sched.step(1.0) if name == "ReduceLROnPlateau" else sched.step()
        b.grad = torch.ones(1)
        sched.step({"a": a, "b": b})
        assert len(sched.optimizer.param_groups) == 2
        assert sched.get_last_lr()[1] == 0.8
        sched.step(1.0) if name == "ReduceLROnPlateau" else sched.step()
        lr_a, lr_b = sched.get_last_lr()
        assert lr_b < 0.8  # the late group follows the schedule from its own lr
        if name == "ExponentialLR":
            assert (lr_a, lr_b) == pytest.approx((0.125, 0.4))
            assert sched.scheduler.base_lrs == [1.0, 0.8]
        if name == "ReduceLROnPlateau":
            assert len(sched.scheduler.min_lrs) == 2


# ---------------------------------------------------------------------- errors
def test_scheduler_argument_errors():
    with pytest.raises(TypeError, match="expected a torch.optim.lr_scheduler class"):
        optim.PPLLRScheduler(torch.optim.Adam, {"optimizer": torch.optim.Adam, "optim_args": {}})
    with pytest.raises(TypeError, match="ExponentialLR: expected a dict"):
        optim.ExponentialLR([("optimizer", torch.optim.Adam)])
    with pytest.raises(ValueError, match="ExponentialLR: missing key 'optim_args'"):
        optim.ExponentialLR({"optimizer": torch.optim.Adam, "gamma": 0.5})
    with pytest.raises(ValueError, match="missing key 'optimizer'"):
        optim.StepLR({"optim_args": {"lr": 0.1}, "step_size": 1})
    with pytest.raises(ValueError, match=r"unknown scheduler argument\(s\) \['gama'\]"):
        optim.ExponentialLR({"optimizer": torch.optim.Adam, "optim_args": {}, "gama": 0.5})
    with pytest.raises(TypeError, match="expected a torch.optim.Optimizer subclass"):
        optim.ExponentialLR({"optimizer": "adam", "optim_args": {}, "gamma": 0.5})
    with pytest.raises(ValueError, match="Adam does not accept"):
        optim.ExponentialLR(
            {"optimizer": torch.optim.Adam, "optim_args": {"momentum": 0.9}, "gamma": 0.5}
        )
    with pytest.raises(TypeError, match="wrap_scheduler: expected a scheduler class"):
        optim.wrap_scheduler(torch.optim.Adam)


def test_get_last_lr_before_the_first_step():
    sched = optim.StepLR({"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}, "step_size": 1})
    with pytest.raises(ValueError, match="no optimizer exists before the first step"):
        sched.get_last_lr()
