"""Callbacks: convergence checks, the tracker, and their use in SVI.run."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.callbacks import (
    CheckLossConvergence,
    CheckParametersConvergence,
    Tracker,
    parameter_vector,
)
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.optim import Adam


class FakeApprox:
    """Anything with flat_params(): the callbacks read its vector."""

    def __init__(self, values):
        self.values = values

    def flat_params(self):
        return self.values


def test_parameters_convergence_absolute_stops_at_the_check():
    cb = CheckParametersConvergence(every=10, tolerance=1e-3, diff="absolute")
    approx = FakeApprox(torch.tensor([1.0, 2.0]))
    cb(approx, [], 1)  # first call stores the reference
    approx.values = torch.tensor([1.5, 2.0])
    cb(approx, [], 10)  # moved by 0.5 > tol
    approx.values = torch.tensor([1.5004, 2.0])
    cb(approx, [], 15)  # not a check step
    with pytest.raises(StopIteration, match="Convergence achieved at 20"):
        cb(approx, [], 20)


def test_parameters_convergence_relative_divides_by_previous():
    cb = CheckParametersConvergence(every=1, tolerance=1e-2, diff="relative")
    approx = FakeApprox(torch.tensor([100.0]))
    cb(approx, [], 1)
    approx.values = torch.tensor([100.5])  # relative 5e-3 < 1e-2, absolute 0.5
    with pytest.raises(StopIteration):
        cb(approx, [], 2)
    cb_abs = CheckParametersConvergence(every=1, tolerance=1e-2, diff="absolute")
    approx.values = torch.tensor([100.0])
    cb_abs(approx, [], 1)
    approx.values = torch.tensor([100.5])
    cb_abs(approx, [], 2)  # absolute 0.5: keeps going


def test_parameters_convergence_uses_the_store_without_flat_params():
    ppl.param("a", torch.tensor([1.0, -1.0]))
    assert parameter_vector(object()).tolist() == [1.0, -1.0]


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"every": 0}, ValueError, "every must be >= 1"),
        ({"every": 1.5}, TypeError, "every must be an int"),
        ({"tolerance": 0.0}, ValueError, "tolerance must be > 0"),
        ({"tolerance": "x"}, TypeError, "tolerance must be a number"),
        ({"diff": "squared"}, ValueError, "diff must be 'relative' or 'absolute'"),
    ],
)
def test_parameters_convergence_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        CheckParametersConvergence(**kwargs)


def test_loss_convergence_is_windowed_and_ignores_noise():
    gen = torch.Generator().manual_seed(0)
    noise = (torch.randn(400, generator=gen) * 5.0).tolist()
    flat = [100.0 + e for e in noise]  # noisy but flat: window means agree to ~1%
    cb = CheckLossConvergence(every=50, window=200, tolerance=0.01)
    cb(None, flat[:399], 350)  # fewer than 2 * window losses: no check
    with pytest.raises(StopIteration, match="Loss convergence achieved at 400"):
        cb(None, flat, 400)
    falling = [1000.0 - 2.0 * i for i in range(400)]  # still improving by ~50 %
    CheckLossConvergence(every=50, window=200, tolerance=0.01)(None, falling, 400)


def test_loss_convergence_patience():
    cb = CheckLossConvergence(every=1, window=2, tolerance=0.1, patience=2)
    losses = [1.0, 1.0, 1.0, 1.0]
    cb(None, losses, 1)  # first passing check
    with pytest.raises(StopIteration):
        cb(None, losses, 2)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"window": 0}, ValueError, "window must be >= 1"),
        ({"patience": 0}, ValueError, "patience must be >= 1"),
        ({"tolerance": -1.0}, ValueError, "tolerance must be > 0"),
    ],
)
def test_loss_convergence_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        CheckLossConvergence(**kwargs)


def test_tracker_records_copies_and_passes_the_object():
    state = {"x": torch.zeros(2)}
    tracker = Tracker(x=lambda: state["x"], n=lambda obj: obj["n"])
    for step in range(3):
        tracker({"n": step}, [], step)
        state["x"].add_(1.0)  # in-place change after recording must not leak back
    assert [t.tolist() for t in tracker["x"]] == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]
    assert tracker["n"] == [0, 1, 2]
    assert tracker.keys() == ["x", "n"]
    tracker.clear()
    assert tracker["n"] == []


def test_tracker_errors():
    with pytest.raises(TypeError, match="'mean' must be a callable"):
        Tracker(mean=3.0)
    with pytest.raises(KeyError, match="'std' is not tracked"):
        Tracker(mean=lambda: 0.0)["std"]


def _svi():
    def model():
        ppl.sample("z", dist.Normal(3.0, 1.0))

    def guide():
        ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))

    return SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())


def test_callbacks_work_in_svi_run(capsys):
    svi = _svi()
    tracker = Tracker(m=lambda: ppl.param("m").detach())
    conv = CheckParametersConvergence(every=1, tolerance=10.0, diff="absolute")
    result = svi.run(50, progress_bar=False, callbacks=[tracker, conv])
    # the convergence check stores its reference at step 1 and stops at step 2
    assert len(result.losses) == 2
    assert len(tracker["m"]) == 2
    assert "Interrupted at step 2" in capsys.readouterr().out
    assert math.isclose(float(tracker["m"][0]), 0.1, abs_tol=1e-4)  # one Adam step of lr 0.1
