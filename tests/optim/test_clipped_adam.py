"""ClippedAdam: Pyro's element-wise gradient clamp and per-step lr decay, checked by hand."""

from __future__ import annotations

import math

import pytest
import torch

import ppl.optim as optim
from ppl.optim.clipped_adam import ClippedAdam


def reference(grads, lr, lrd, clip, betas=(0.9, 0.999), eps=1e-8, wd=0.0, x0=0.0):
    """Scalar ClippedAdam written out with Python floats."""
    x, m, v = x0, 0.0, 0.0
    b1, b2 = betas
    for t, g in enumerate(grads, start=1):
        lr *= lrd
        g = min(max(g, -clip), clip) + wd * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x -= lr * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (math.sqrt(v) + eps)
    return x, lr


def test_matches_hand_computation_with_clipping_decay_and_weight_decay():
    grads = [[50.0, -0.2], [-3.0, 0.4], [0.5, -7.0]]
    w = torch.tensor([0.3, -0.1], dtype=torch.float64, requires_grad=True)
    opt = optim.ClippedAdam({"lr": 0.1, "lrd": 0.9, "clip_norm": 1.0, "weight_decay": 0.01})
    for g in grads:
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step({"w": w})
    for i, x0 in enumerate((0.3, -0.1)):
        x, lr = reference([g[i] for g in grads], 0.1, 0.9, 1.0, wd=0.01, x0=x0)
        assert w[i].item() == pytest.approx(x, rel=1e-12)
    assert opt.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9**3)
    assert lr == pytest.approx(0.1 * 0.9**3)


def test_clipping_bounds_each_entry_not_the_norm():
    w = torch.zeros(2, requires_grad=True)
    opt = ClippedAdam([w], lr=1.0, clip_norm=0.5)
    w.grad = torch.tensor([1000.0, 0.25])
    opt.step()
    m = opt.state[w]["exp_avg"]
    # the first moment sees the clamped gradient (0.5, 0.25), not a rescaled vector
    torch.testing.assert_close(m, torch.tensor([0.05, 0.025]))
    assert w.grad.tolist() == [1000.0, 0.25]  # p.grad itself is left untouched


def test_lr_decays_every_step_and_closure_is_returned():
    w = torch.zeros(1, requires_grad=True)
    opt = ClippedAdam([w], lr=1.0, lrd=0.5)
    for _ in range(3):
        w.grad = torch.ones(1)
        opt.step()
    assert opt.param_groups[0]["lr"] == 0.125
    w.grad = None
    assert opt.step(lambda: torch.tensor(7.0)).item() == 7.0
    assert opt.state[w]["step"] == 3  # no gradient: no update, but the lr still decays
    assert opt.param_groups[0]["lr"] == 0.0625


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"lr": -1.0}, "expected lr >= 0"),
        ({"clip_norm": -1.0}, "expected clip_norm >= 0"),
        ({"lrd": 0.0}, "expected lrd > 0"),
        ({"lrd": -1.5}, "expected lrd > 0"),
        ({"betas": (0.9, 1.0)}, r"expected two betas in \[0, 1\)"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClippedAdam([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=match):
        optim.ClippedAdam(kwargs)
