"""``ClippedAdam``: Adam with gradient clipping and a learning-rate decay per step.

This is the torch optimizer behind ``ppl.optim.ClippedAdam`` (the wrapper built in
``ppl.optim.pytorch_optimizers``), with Pyro's semantics, which are the contract:

* at the start of every ``step()`` each group's ``lr`` is multiplied by ``lrd`` (so after
  ``n`` steps the rate is ``lr * lrd**n``, the first update already uses ``lr * lrd``);
* each gradient is clamped element-wise to ``[-clip_norm, clip_norm]`` before use. Pyro
  calls the bound ``clip_norm`` but clamps each entry (it does not rescale by the vector
  norm); ppl does the same so that Pyro scripts give the same numbers. For clipping by
  norm use ``clip_args={"clip_norm": c}`` on any wrapper;
* then a plain Adam update with L2 ``weight_decay`` added to the clipped gradient and
  bias-corrected moments.

Unlike Pyro, the gradient stored in ``p.grad`` is not modified. The step counter is a
Python ``int`` in the state, so the state saves and loads with ``weights_only=True``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch


class ClippedAdam(torch.optim.Optimizer):
    """Adam with per-element gradient clamping and multiplicative learning-rate decay.

    Args:
        params: tensors to optimize, or dicts defining parameter groups.
        lr: learning rate before decay (default 1e-3).
        betas: coefficients of the running means of the gradient and its square.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        clip_norm: bound of the element-wise clamp of the gradient (Pyro's name).
        lrd: factor multiplying ``lr`` at every step (1.0 = no decay).

    Raises:
        ValueError: for a negative ``lr``, ``eps``, ``weight_decay`` or ``clip_norm``, a
            ``lrd <= 0`` or betas outside ``[0, 1)`` (``lrd > 1`` grows the rate, as Pyro
            allows).

    Example:
        >>> w = torch.zeros(2, requires_grad=True)
        >>> opt = ClippedAdam([w], lr=0.1, clip_norm=1.0, lrd=0.5)
        >>> w.grad = torch.tensor([100.0, -0.1])
        >>> _ = opt.step()
        >>> opt.param_groups[0]["lr"]
        0.05
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        clip_norm: float = 10.0,
        lrd: float = 1.0,
    ) -> None:
        for name, value in (
            ("lr", lr),
            ("eps", eps),
            ("weight_decay", weight_decay),
            ("clip_norm", clip_norm),
        ):
            if not value >= 0.0:
                raise ValueError(f"ClippedAdam: expected {name} >= 0 but got {value!r}")
        if not lrd > 0.0:
            raise ValueError(f"ClippedAdam: expected lrd > 0 but got {lrd!r}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"ClippedAdam: expected two betas in [0, 1) but got {betas!r}")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            clip_norm=clip_norm,
            lrd=lrd,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Decay each group's ``lr`` by ``lrd``, then take one clipped Adam step.

        Args:
            closure: optional callable re-evaluating the loss (its value is returned).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["lr"] *= group["lrd"]
            beta1, beta2 = group["betas"]
            bound = group["clip_norm"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.clamp(-bound, bound)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                denom = exp_avg_sq.sqrt().add_(group["eps"])
                correction1 = 1.0 - beta1 ** state["step"]
                correction2 = 1.0 - beta2 ** state["step"]
                step_size = group["lr"] * math.sqrt(correction2) / correction1
                p.addcdiv_(exp_avg, denom, value=-step_size)
        return loss
