"""``AdagradRMSProp``: the step-size sequence of ADVI (Kucukelbir et al. 2017, eqs. 10-11).

Pyro's optimizer, same arguments and update: a running average of squared gradients
``s_k = t g_k^2 + (1 - t) s_{k-1}`` (started at ``s_1 = g_1^2``), and the step
``x -= eta * k^(-1/2 + delta) * g_k / (1 + sqrt(s_k))``: RMSProp's memory with an
Adagrad-like decaying rate, which makes the Robbins-Monro conditions hold.

Example:
    >>> w = torch.zeros(1, requires_grad=True)
    >>> opt = AdagradRMSProp([w], eta=1.0)
    >>> w.grad = torch.tensor([3.0])
    >>> _ = opt.step()
    >>> round(float(w), 4)  # -1 * 3 / (1 + 3)
    -0.75
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["AdagradRMSProp"]


class AdagradRMSProp(torch.optim.Optimizer):
    """ADVI's adaptive step size as a torch optimizer.

    Args:
        params: tensors to optimize, or dicts defining parameter groups.
        eta: step-size scale (default 1.0).
        delta: small positive number in the exponent ``-1/2 + delta`` (default 1e-16).
        t: weight of the newest squared gradient in the running average (default 0.1).

    Raises:
        ValueError: ``eta <= 0``, ``t`` outside ``(0, 1]`` or a negative ``delta``.
    """

    def __init__(
        self, params: Iterable[Any], eta: float = 1.0, delta: float = 1.0e-16, t: float = 0.1
    ) -> None:
        if not eta > 0:
            raise ValueError(f"AdagradRMSProp: eta must be > 0, got {eta}")
        if not 0 < t <= 1:
            raise ValueError(f"AdagradRMSProp: t must lie in (0, 1], got {t}")
        if delta < 0:
            raise ValueError(f"AdagradRMSProp: delta must be >= 0, got {delta}")
        super().__init__(params, dict(eta=eta, delta=delta, t=t))

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ValueError("AdagradRMSProp: sparse gradients are not supported")
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["sum"] = grad * grad
                else:
                    state["sum"].mul_(1.0 - group["t"]).addcmul_(grad, grad, value=group["t"])
                state["step"] += 1
                lr = group["eta"] * state["step"] ** (-0.5 + group["delta"])
                p.addcdiv_(grad, state["sum"].sqrt().add_(1.0), value=-lr)
        return loss
