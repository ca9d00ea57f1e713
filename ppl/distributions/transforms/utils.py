"""Small numeric helpers shared by the flows."""

from __future__ import annotations

import torch

__all__ = ["clamp_preserve_gradients"]


def clamp_preserve_gradients(x: torch.Tensor, min: float, max: float) -> torch.Tensor:
    """Clamp ``x`` to ``[min, max]`` in value while its gradient stays that of ``x``.

    A plain clamp has zero gradient outside the bounds, which can freeze a flow whose
    log-scale wandered off; this straight-through version keeps learning going.

    Example:
        >>> x = torch.tensor([-9.0, 0.5, 9.0], requires_grad=True)
        >>> y = clamp_preserve_gradients(x, -1.0, 1.0)
        >>> y.detach(), torch.autograd.grad(y.sum(), x)[0]
        (tensor([-1.0000,  0.5000,  1.0000]), tensor([1., 1., 1.]))
    """
    return x + (x.clamp(min, max) - x).detach()
