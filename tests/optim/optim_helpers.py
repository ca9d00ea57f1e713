"""Shared helpers for the optimizer tests: a deterministic quadratic and a stepping loop."""

from __future__ import annotations

import torch

TARGET = torch.tensor([1.0, -2.0, 3.0])


def quadratic(w: torch.Tensor) -> torch.Tensor:
    """sum((w - target)^2), minimized at TARGET."""
    return ((w - TARGET.to(w)) ** 2).sum()


def make_params(names=("a", "b"), device="cpu") -> dict[str, torch.Tensor]:
    """Fresh leaves with fixed, distinct starting values."""
    return {
        n: torch.full((3,), float(i + 1), device=device).requires_grad_()
        for i, n in enumerate(names)
    }


def noisy_loss(params: dict[str, torch.Tensor], t: int) -> torch.Tensor:
    """A loss whose gradient depends on the step index, so resumes must restore the state."""
    g = torch.Generator().manual_seed(t)
    total = torch.zeros(())
    for name in sorted(params):
        w = params[name]
        noise = torch.randn(w.shape, generator=g).to(w)
        total = total + ((w - TARGET.to(w) - noise) ** 2).sum() + (w**4).sum() * 0.01
    return total


def run(opt, params: dict[str, torch.Tensor], start: int, steps: int, scheduler_step=None):
    """Take ``steps`` optimizer steps numbered from ``start``; return the losses."""
    losses = []
    for t in range(start, start + steps):
        loss = noisy_loss(params, t)
        loss.backward()
        opt.step(params)
        losses.append(loss.item())
        if scheduler_step is not None:
            scheduler_step(opt, loss.detach(), t)
    return losses
