"""State keyed by name: exact resume, pending state, devices, safe files and load errors."""

from __future__ import annotations

import io
import os

import pytest
import torch
from optim_helpers import make_params, noisy_loss, run

import ppl.optim as optim
from ppl.params.safe_file import CorruptFileError, ForeignFileError, atomic_save


def _through_bytes(sd):
    """What a file round trip does: torch.save, then a weights-only load."""
    buffer = io.BytesIO()
    torch.save(sd, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _plateau(opt, loss, t):
    opt.step(loss)


def _every_step(opt, loss, t):
    opt.step()


def _lambda(e):
    return 0.95**e


RESUME_CASES = {
    "Adam": (lambda: optim.Adam({"lr": 0.05}), None),
    "AdamW-amsgrad": (lambda: optim.AdamW({"lr": 0.05, "amsgrad": True}), None),
    "SGD-momentum": (lambda: optim.SGD({"lr": 0.01, "momentum": 0.9, "nesterov": True}), None),
    "ClippedAdam": (lambda: optim.ClippedAdam({"lr": 0.05, "lrd": 0.99, "clip_norm": 1.0}), None),
    "ASGD": (lambda: optim.ASGD({"lr": 0.01, "t0": 3}), None),
    "Rprop": (lambda: optim.Rprop({"lr": 0.01}), None),
    "Adagrad": (lambda: optim.Adagrad({"lr": 0.1}), None),
    "RMSprop-centered": (lambda: optim.RMSprop({"lr": 0.01, "centered": True}), None),
    "Adam-per-param": (
        lambda: optim.Adam(lambda n: {"lr": 0.05} if n == "a" else {"lr": 0.02}),
        None,
    ),
    "ExponentialLR": (
        lambda: optim.ExponentialLR(
            {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.05}, "gamma": 0.9}
        ),
        _every_step,
    ),
    "MultiStepLR": (
        lambda: optim.MultiStepLR(
            {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.01}, "milestones": [2, 5, 7]}
        ),
        _every_step,
    ),
    "OneCycleLR": (
        lambda: optim.OneCycleLR(
            {
                "optimizer": torch.optim.Adam,
                "optim_args": {"lr": 0.01},
                "max_lr": 0.1,
                "total_steps": 20,
            }
        ),
        _every_step,
    ),
    "CyclicLR": (
        lambda: optim.CyclicLR(
            {
                "optimizer": torch.optim.SGD,
                "optim_args": {"lr": 0.01, "momentum": 0.9},
                "base_lr": 0.001,
                "max_lr": 0.01,
                "step_size_up": 3,
            }
        ),
        _every_step,
    ),
    "LambdaLR": (
        lambda: optim.LambdaLR(
            {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.01}, "lr_lambda": _lambda}
        ),
        _every_step,
    ),
    "ReduceLROnPlateau": (
        lambda: optim.ReduceLROnPlateau(
            {
                "optimizer": torch.optim.Adam,
                "optim_args": {"lr": 0.05},
                "patience": 0,
                "factor": 0.5,
                "threshold": 0.5,
            }
        ),
        _plateau,
    ),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resume_is_bit_identical(case):
    make, sched_step = RESUME_CASES[case]
    n = 6
    straight = make_params()
    opt = make()
    losses_straight = run(opt, straight, 0, 2 * n, sched_step)

    first = make_params()
    opt1 = make()
    losses = run(opt1, first, 0, n, sched_step)
    saved = _through_bytes(opt1.state_dict())

    resumed = {k: v.detach().clone().requires_grad_() for k, v in first.items()}
    opt2 = make()
    opt2.load_state_dict(saved)
    losses += run(opt2, resumed, n, n, sched_step)

    assert losses == losses_straight
    for name in straight:
        assert torch.equal(resumed[name], straight[name]), name
    if opt.optimizer is not None and hasattr(opt, "get_last_lr"):
        assert opt2.get_last_lr() == opt.get_last_lr()


def test_resume_lbfgs_is_bit_identical():
    def steps(opt, params, start, count):
        for t in range(start, start + count):

            def closure(t=t):
                for p in params.values():
                    p.grad = None
                loss = noisy_loss(params, t)
                loss.backward()
                return loss

            opt.step(params, closure=closure)

    straight = make_params()
    steps(optim.LBFGS({"lr": 0.5, "max_iter": 4, "history_size": 5}), straight, 0, 6)
    first = make_params()
    opt1 = optim.LBFGS({"lr": 0.5, "max_iter": 4, "history_size": 5})
    steps(opt1, first, 0, 3)
    saved = _through_bytes(opt1.state_dict())
    assert saved["state"]["a"]["n_iter"] == 12  # the flat history is stored under the first name
    resumed = {k: v.detach().clone().requires_grad_() for k, v in first.items()}
    opt2 = optim.LBFGS({"lr": 0.5, "max_iter": 4, "history_size": 5})
    opt2.load_state_dict(saved)
    steps(opt2, resumed, 3, 3)
    for name in straight:
        assert torch.equal(resumed[name], straight[name])


def test_load_into_a_live_optimizer_and_into_the_same_one():
    params = make_params()
    opt = optim.Adam({"lr": 0.05})
    run(opt, params, 0, 3)
    saved = opt.state_dict()
    snapshot = {k: v.detach().clone() for k, v in params.items()}
    run(opt, params, 3, 2)  # diverge, then roll back to the snapshot
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(snapshot[k])
    opt.load_state_dict(saved)
    assert opt.optimizer.state[params["a"]]["step"].item() == 3.0
    run(opt, params, 3, 2)

    reference = make_params()
    ref_opt = optim.Adam({"lr": 0.05})
    run(ref_opt, reference, 0, 5)
    for k in params:
        assert torch.equal(params[k], reference[k])


def test_state_of_unseen_names_waits_and_is_kept_in_state_dict():
    params = make_params(("a", "b"))
    opt = optim.Adam({"lr": 0.1})
    run(opt, params, 0, 2)
    saved = opt.state_dict()

    fresh = optim.Adam({"lr": 0.1})
    fresh.load_state_dict(saved)
    assert fresh.optimizer is None
    assert fresh.state_dict()["state"]["b"]["step"].item() == 2.0
    a = params["a"].detach().clone().requires_grad_()
    a.grad = torch.ones(3)
    fresh.step({"a": a})  # only "a" appears
    sd = fresh.state_dict()
    assert sd["state"]["a"]["step"].item() == 3.0
    assert sd["state"]["b"]["step"].item() == 2.0  # still pending, still saved
    assert sd["param_groups"][0]["names"] == ["a", "b"]
    b = params["b"].detach().clone().requires_grad_()
    b.grad = torch.ones(3)
    fresh.step({"b": b})
    assert fresh.optimizer.state[b]["step"].item() == 3.0
    assert fresh.param_names == ["a", "b"]


def test_state_dict_is_plain_cloned_and_names_groups():
    params = make_params()
    opt = optim.ExponentialLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "gamma": 0.5}
    )
    run(opt, params, 0, 2, _every_step)
    sd = opt.state_dict()
    assert sd["format"] == "ppl.optim" and sd["version"] == 1
    assert sd["optimizer"] == "Adam"
    assert sd["param_groups"][0]["names"] == ["a", "b"]
    assert sd["param_groups"][0]["settings"] == {"lr": 0.1}
    assert sd["param_groups"][0]["hyper"]["lr"] == pytest.approx(0.025)
    assert sd["param_groups"][0]["hyper"]["initial_lr"] == 0.1
    assert sd["scheduler"]["class"] == "ExponentialLR"
    assert sd["scheduler"]["last_epoch"] == 2
    exp_avg = sd["state"]["a"]["exp_avg"].clone()
    run(opt, params, 2, 1, _every_step)
    assert torch.equal(sd["state"]["a"]["exp_avg"], exp_avg)  # not aliased to live state
    assert _through_bytes(sd)["state"]["b"]["step"].item() == 2.0


def test_get_state_and_set_state_are_pyro_names():
    params = make_params()
    opt = optim.SGD({"lr": 0.1, "momentum": 0.9})
    run(opt, params, 0, 2)
    other = optim.SGD({"lr": 0.1, "momentum": 0.9})
    other.set_state(opt.get_state())
    assert torch.equal(
        other.get_state()["state"]["a"]["momentum_buffer"],
        opt.get_state()["state"]["a"]["momentum_buffer"],
    )


def test_non_plain_settings_cannot_be_saved():
    class WithHook(torch.optim.SGD):
        def __init__(self, params, lr=0.1, hook=None):
            super().__init__(params, lr=lr)

    opt = optim.wrap_optimizer(WithHook)({"lr": 0.1, "hook": print})
    w = torch.zeros(1, requires_grad=True)
    w.grad = torch.ones(1)
    opt.step({"w": w})
    with pytest.raises(TypeError, match=r"state_dict\['param_groups'\]\[0\]\['settings'\]"):
        opt.state_dict()


# ---------------------------------------------------------------------- devices and dtypes
def test_map_location_moves_pending_state():
    params = make_params()
    opt = optim.Adam({"lr": 0.1})
    run(opt, params, 0, 1)
    sd = opt.state_dict()
    for where in ("meta", torch.device("meta"), {"cpu": "meta"}):
        fresh = optim.Adam({"lr": 0.1})
        fresh.load_state_dict(sd, map_location=where)
        assert fresh.state_dict()["state"]["a"]["exp_avg"].device.type == "meta"
    assert sd["state"]["a"]["exp_avg"].device.type == "cpu"  # the input is not modified


def test_loaded_state_follows_the_parameter_dtype_and_device(device):
    params = make_params()
    opt = optim.Adam({"lr": 0.1})
    run(opt, params, 0, 1)
    sd = opt.state_dict()
    fresh = optim.Adam({"lr": 0.1})
    fresh.load_state_dict(sd)
    w = torch.zeros(3, dtype=torch.float64, device=device, requires_grad=True)
    w.grad = torch.ones(3, dtype=torch.float64, device=device)
    fresh.step({"a": w})
    state = fresh.optimizer.state[w]
    assert state["exp_avg"].dtype == torch.float64
    assert state["exp_avg"].device == w.device
    assert state["step"].device.type == "cpu"  # as torch keeps it (not capturable)
    assert state["step"].item() == 2.0


# ---------------------------------------------------------------------- files
def test_save_and_load_file(tmp_path):
    params = make_params()
    opt = optim.StepLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "step_size": 1, "gamma": 0.5}
    )
    run(opt, params, 0, 3, _every_step)
    path = tmp_path / "optim.pt"
    opt.save(path)
    opt.save(path)  # overwriting is atomic too
    assert sorted(os.listdir(tmp_path)) == ["optim.pt"]  # no temporary file left
    assert torch.load(path, weights_only=True)["kind"] == "ppl.optim"

    fresh = optim.StepLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "step_size": 1, "gamma": 0.5}
    )
    fresh.load(str(path), map_location="cpu")
    resumed = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    run(fresh, resumed, 3, 2, _every_step)
    run(opt, params, 3, 2, _every_step)
    for k in params:
        assert torch.equal(resumed[k], params[k])
    assert fresh.get_last_lr() == opt.get_last_lr() == [0.1 * 0.5**5]


def test_bad_files_leave_the_optimizer_unchanged(tmp_path):
    params = make_params()
    opt = optim.Adam({"lr": 0.1})
    run(opt, params, 0, 2)
    before = opt.state_dict()

    foreign = tmp_path / "foreign.pt"
    torch.save({"step": 1}, foreign)
    with pytest.raises(ForeignFileError, match="not a ppl file"):
        opt.load(foreign)
    other_kind = tmp_path / "store.pt"
    atomic_save({"params": {}}, other_kind, kind="ppl.param_store")
    with pytest.raises(ForeignFileError, match="expected 'ppl.optim'"):
        opt.load(other_kind)
    truncated = tmp_path / "cut.pt"
    opt.save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="cut.pt"):
        opt.load(truncated)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        opt.load(tmp_path / "missing.pt")

    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert torch.equal(after["state"]["a"]["exp_avg"], before["state"]["a"]["exp_avg"])


# ---------------------------------------------------------------------- load errors
def _saved():
    params = make_params()
    opt = optim.Adam({"lr": 0.1})
    run(opt, params, 0, 1)
    return opt.state_dict()


@pytest.mark.parametrize(
    "edit,error,match",
    [
        (lambda sd: sd.update(format="torch"), ValueError, "not a ppl optimizer state"),
        (lambda sd: sd.update(version=2), ValueError, "version 2 is newer"),
        (lambda sd: sd.update(optimizer="SGD"), ValueError, "saved from a SGD optimizer"),
        (lambda sd: sd.update(param_groups={}), ValueError, "'param_groups' must be a list"),
        (lambda sd: sd["param_groups"][0].pop("hyper"), ValueError, r"param_groups\[0\] must"),
        (
            lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])),
            ValueError,
            "parameter 'a' appears in two param groups",
        ),
        (
            lambda sd: sd["state"].update(c={}),
            ValueError,
            r"state for \['c'\] but no param group",
        ),
        (
            lambda sd: sd.update(scheduler={"class": "StepLR"}),
            ValueError,
            "holds a learning-rate scheduler but this Adam has none",
        ),
    ],
)
def test_load_state_dict_errors_change_nothing(edit, error, match):
    sd = _saved()
    edit(sd)
    params = make_params()
    opt = optim.Adam({"lr": 0.1})
    run(opt, params, 0, 2)
    before = opt.state_dict()
    with pytest.raises(error, match=match):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert torch.equal(after["state"]["b"]["exp_avg_sq"], before["state"]["b"]["exp_avg_sq"])


def test_load_state_dict_type_errors():
    opt = optim.Adam({"lr": 0.1})
    with pytest.raises(TypeError, match="expected the dict returned by state_dict"):
        opt.load_state_dict([1, 2])
    with pytest.raises(TypeError, match="map_location: expected None, a torch.device"):
        opt.load_state_dict(_saved(), map_location=3)


def test_scheduler_state_mismatch():
    sched = optim.StepLR({"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "step_size": 1})
    with pytest.raises(ValueError, match="holds scheduler None but this wrapper is StepLR"):
        sched.load_state_dict(_saved())
    other = optim.ExponentialLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "gamma": 0.5}
    )
    with pytest.raises(ValueError, match="holds scheduler 'ExponentialLR'"):
        sched.load_state_dict(other.state_dict())
