"""Brownian motion kernel ``variance * min(|x|, |z|)`` for same-sign 1-D inputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..parameterized import positive_param
from .kernel import Kernel

__all__ = ["Brownian"]


class Brownian(Kernel):
    """Two-sided Brownian motion started at 0: ``variance * min(|x|, |z|)`` if ``x``
    and ``z`` have the same sign, else 0. Works on one input feature only.

    Raises:
        ValueError: ``input_dim`` is not 1.

    Example:
        >>> import torch
        >>> Brownian(1)(torch.tensor([1.0, -2.0]), torch.tensor([3.0])).tolist()
        [[1.0], [0.0]]
    """

    variance: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        variance: torch.Tensor | None = None,
        active_dims: Sequence[int] | None = None,
    ) -> None:
        if input_dim != 1:
            raise ValueError(f"Brownian: input_dim must be 1, got {input_dim}")
        super().__init__(input_dim, active_dims)
        variance = torch.tensor(1.0) if variance is None else variance
        self.variance = positive_param(variance)  # type: ignore[assignment]

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        x = self._slice_input(X)
        if diag:
            return self.variance * x.abs().squeeze(1)
        z = (x if Z is None else self._slice_input(Z)).T
        same_sign = x.sign() == z.sign()
        K = self.variance * torch.minimum(x.abs(), z.abs())
        return torch.where(same_sign, K, torch.zeros_like(K))
