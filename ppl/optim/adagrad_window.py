"""``AdagradWindow``: PyMC's default ``fit`` optimizer (``pm.adagrad_window``) as a torch one.

Adagrad over a sliding window: each parameter keeps its last ``n_win`` squared
gradients (a ring buffer that starts at zeros) and steps

    x -= lr * g / sqrt(sum of the window + eps)

so the step size adapts to the recent gradient scale but, unlike Adagrad, does not decay
forever. torch has no such optimizer; PyMC users get it by default from ``pm.fit`` and
from :func:`adagrad_window` here, with PyMC's argument names and defaults
(``learning_rate=1e-3``, ``epsilon=0.1``, ``n_win=10``).

Example:
    >>> w = torch.zeros(1, requires_grad=True)
    >>> opt = AdagradWindow([w], lr=1.0, eps=0.0)
    >>> w.grad = torch.tensor([3.0])
    >>> _ = opt.step()
    >>> float(w)  # -1 * 3 / sqrt(9)
    -1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["AdagradWindow"]


class AdagradWindow(torch.optim.Optimizer):
    """Adagrad over the last ``n_win`` squared gradients (PyMC's ``adagrad_window``).

    Args:
        params: tensors to optimize, or dicts defining parameter groups.
        lr: the learning rate (PyMC's ``learning_rate``, default 1e-3).
        eps: added under the square root (PyMC's ``epsilon``, default 0.1).
        n_win: how many recent squared gradients are summed (default 10).

    Raises:
        ValueError: ``lr <= 0``, ``eps < 0`` or ``n_win < 1``.
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, eps: float = 0.1, n_win: int = 10
    ) -> None:
        if not lr > 0:
            raise ValueError(f"AdagradWindow: lr must be > 0, got {lr}")
        if eps < 0:
            raise ValueError(f"AdagradWindow: eps must be >= 0, got {eps}")
        if isinstance(n_win, bool) or not isinstance(n_win, int) or n_win < 1:
            raise ValueError(f"AdagradWindow: n_win must be an int >= 1, got {n_win!r}")
        super().__init__(params, dict(lr=lr, eps=eps, n_win=n_win))

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            n_win = group["n_win"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ValueError("AdagradWindow: sparse gradients are not supported")
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["window"] = torch.zeros((n_win, *p.shape), dtype=p.dtype, device=p.device)
                window = state["window"]
                window[state["step"] % window.shape[0]] = grad * grad
                state["step"] += 1
                p.addcdiv_(grad, window.sum(0).add_(group["eps"]).sqrt_(), value=-group["lr"])
        return loss
