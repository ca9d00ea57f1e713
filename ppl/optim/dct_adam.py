"""``DCTAdam``: clipped Adam that also steps time-series parameters in frequency space.

Pyro's experimental optimizer, with the same arguments and update. On most parameters
it is :class:`~ppl.optim.clipped_adam.ClippedAdam` (per-element gradient clamp to
``[-clip_norm, clip_norm]``, ``lr`` multiplied by ``lrd`` at every step, bias-corrected
moments). A parameter that carries ``._pyro_dct_dim = d`` (a negative dim, set by the
user or by a DCT reparameterizer) gets its gradient augmented along ``d`` with its
orthonormal DCT (zero-padded to a fast FFT length): Adam's moments are kept for the time
and the frequency coefficients, and the step maps back by the inverse DCT. Smooth
directions that are small per time point but large in frequency space are thus
rescaled as a whole.

``subsample_aware=True``: a parameter sliced by a subsampled plate (``ppl.param(...,
event_dim=k)`` inside ``plate(..., subsample_size=m)``) carries ``._pyro_subsample =
{dim: indices}``; only that block's moments and values change, and every element
keeps its own step count for the bias correction, so rarely visited entries are not
under-corrected. (Combining it with a DCT dim is refused: a DCT along a subsampled
block mixes unrelated time points.)

Example:
    >>> w = torch.zeros(6, requires_grad=True)
    >>> w._pyro_dct_dim = -1
    >>> opt = DCTAdam([w], lr=0.1)
    >>> w.grad = torch.ones(6)
    >>> _ = opt.step()
    >>> bool((w < 0).all())
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.nn.functional import pad

from ppl.ops.dct import dct, idct, next_fast_len

__all__ = ["DCTAdam"]


def _with_spectrum(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``cat([x, dct(x zero-padded to a fast length)], dim)`` along the negative ``dim``."""
    duration = x.shape[dim]
    extra = next_fast_len(duration) - duration
    padded = pad(x, (0, 0) * (-1 - dim) + (0, extra)) if extra else x
    return torch.cat([x, dct(padded, dim)], dim=dim)


def _from_spectrum(x: torch.Tensor, dim: int, duration: int) -> torch.Tensor:
    """Inverse of :func:`_with_spectrum`: the time part plus the inverse DCT of the rest."""
    time_part = x.narrow(dim, 0, duration)
    freq_part = x.narrow(dim, duration, x.shape[dim] - duration)
    return time_part + idct(freq_part, dim).narrow(dim, 0, duration)


def _block_index(p: torch.Tensor, subsample: dict[int, torch.Tensor]) -> tuple:
    """Broadcasting index tensors selecting the subsampled block of ``p`` (like numpy's
    ``ix_``): dims in ``subsample`` take its indices, the others all positions."""
    index = []
    for dim in range(-p.dim(), 0):
        idx = subsample.get(dim)
        if idx is None:
            idx = torch.arange(p.shape[dim], device=p.device)
        shape = [1] * p.dim()
        shape[dim] = -1
        index.append(idx.to(p.device).reshape(shape))
    return tuple(index)


class DCTAdam(torch.optim.Optimizer):
    """Clipped Adam with a frequency-domain step for parameters marked ``_pyro_dct_dim``.

    Args:
        params: tensors to optimize, or dicts defining parameter groups.
        lr: learning rate before decay (default 1e-3).
        betas: coefficients of the running means of the gradient and its square.
        eps: added to the denominator for numerical stability.
        clip_norm: bound of the element-wise clamp of the gradient.
        lrd: factor multiplying ``lr`` at every step (1.0 = no decay).
        subsample_aware: update only the block a subsampled plate selected
            (``_pyro_subsample`` on the parameter), with per-element step counts.

    Raises:
        ValueError: a negative ``lr``/``eps``/``clip_norm``, betas outside ``[0, 1)``, a
            non-negative ``_pyro_dct_dim``, or a DCT dim on a subsampled parameter.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        clip_norm: float = 10.0,
        lrd: float = 1.0,
        subsample_aware: bool = False,
    ) -> None:
        for name, value in (("lr", lr), ("eps", eps), ("clip_norm", clip_norm)):
            if value < 0:
                raise ValueError(f"DCTAdam: {name} must be >= 0, got {value}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"DCTAdam: betas must lie in [0, 1), got {betas}")
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            clip_norm=clip_norm,
            lrd=lrd,
            subsample_aware=subsample_aware,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["lr"] *= group["lrd"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                time_dim = getattr(p, "_pyro_dct_dim", None)
                if time_dim is not None and time_dim >= 0:
                    raise ValueError(
                        f"DCTAdam: _pyro_dct_dim must be a negative dim, got {time_dim}"
                    )
                subsample = getattr(p, "_pyro_subsample", None)
                if subsample and group["subsample_aware"]:
                    if time_dim is not None:
                        raise ValueError(
                            "DCTAdam: a parameter with both _pyro_dct_dim and a subsampled "
                            "plate cannot be stepped in frequency space; use "
                            "subsample_aware=False or drop the DCT dim"
                        )
                    self._step_block(group, p, _block_index(p, subsample))
                else:
                    self._step_dense(group, p, time_dim)
        return loss

    def _step_dense(self, group: dict, p: torch.Tensor, time_dim: int | None) -> None:
        assert p.grad is not None
        grad = p.grad.clamp(-group["clip_norm"], group["clip_norm"])
        if time_dim is not None:
            grad = _with_spectrum(grad, time_dim)
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(grad)
            state["exp_avg_sq"] = torch.zeros_like(grad)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        n = state["step"]
        step_size = group["lr"] * math.sqrt(1 - beta2**n) / (1 - beta1**n)
        direction = exp_avg / exp_avg_sq.sqrt().add_(group["eps"])
        if time_dim is not None:
            direction = _from_spectrum(direction, time_dim, p.shape[time_dim])
        p.sub_(direction * step_size)

    def _step_block(self, group: dict, p: torch.Tensor, index: tuple) -> None:
        assert p.grad is not None
        grad = p.grad[index].clamp(-group["clip_norm"], group["clip_norm"])
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros_like(p)
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        beta1, beta2 = group["betas"]
        steps = state["step"][index] + 1
        exp_avg = state["exp_avg"][index].mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq = state["exp_avg_sq"][index].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        state["step"][index] = steps
        state["exp_avg"][index] = exp_avg
        state["exp_avg_sq"][index] = exp_avg_sq
        step_size = (1 - beta2**steps).sqrt() / (1 - beta1**steps) * group["lr"]
        direction = exp_avg / exp_avg_sq.sqrt().add_(group["eps"])
        p[index] = p[index] - direction * step_size
