"""Kernels that ignore input locations: ``Constant`` and ``WhiteNoise``."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..parameterized import positive_param
from .kernel import Kernel

__all__ = ["Constant", "WhiteNoise"]


class _Static(Kernel):
    variance: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        variance: torch.Tensor | None = None,
        active_dims: Sequence[int] | None = None,
    ) -> None:
        super().__init__(input_dim, active_dims)
        variance = torch.tensor(1.0) if variance is None else variance
        self.variance = positive_param(variance)  # type: ignore[assignment]


class Constant(_Static):
    """``k(x, z) = variance`` for all inputs (a random constant offset).

    Example:
        >>> import torch
        >>> Constant(1)(torch.zeros(2), torch.zeros(3)).shape
        torch.Size([2, 3])
    """

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self.variance.expand(X.size(0))
        M = X.size(0) if Z is None else Z.size(0)
        return self.variance.expand(X.size(0), M)


class WhiteNoise(_Static):
    """``k(x, z) = variance * [x is z]``: independent noise on each point.

    ``k(X)`` is ``variance * I``; ``k(X, Z)`` with a separate ``Z`` is zero (the points
    are taken to be distinct, so no delta function is evaluated).

    Example:
        >>> import torch
        >>> WhiteNoise(1)(torch.zeros(2)).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self.variance.expand(X.size(0))
        if Z is None:
            return torch.diag(self.variance.expand(X.size(0)))
        return X.new_zeros(X.size(0), Z.size(0)) * self.variance.sum()
