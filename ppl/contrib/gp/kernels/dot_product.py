"""Dot-product kernels: ``Linear`` and ``Polynomial`` (non-stationary)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..parameterized import positive_param
from .kernel import Kernel

__all__ = ["DotProduct", "Linear", "Polynomial"]


class DotProduct(Kernel):
    """Base of kernels of the inner product ``x . z`` of the active features.

    Args:
        input_dim: number of input features.
        variance: positive scale, default 1.
        active_dims: columns of the input to use.
    """

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

    def _dot_product(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        X = self._slice_input(X)
        if diag:
            return (X * X).sum(-1)
        Z = X if Z is None else self._slice_input(Z)
        if X.size(1) != Z.size(1):
            raise ValueError(
                f"{type(self).__name__}: X has {X.size(1)} features but Z has {Z.size(1)}"
            )
        return X @ Z.T


class Linear(DotProduct):
    """``variance * x . z`` (Bayesian linear regression as a GP).

    Example:
        >>> import torch
        >>> Linear(1)(torch.tensor([2.0]), torch.tensor([3.0])).item()
        6.0
    """

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        return self.variance * self._dot_product(X, Z, diag)


class Polynomial(DotProduct):
    """``variance * (bias + x . z)^degree``.

    Args:
        input_dim: number of input features.
        variance: positive scale, default 1.
        bias: positive offset, default 1.
        degree: a positive integer, default 1.
        active_dims: columns of the input to use.

    Raises:
        ValueError: ``degree`` is not a positive integer.

    Example:
        >>> import torch
        >>> Polynomial(1, degree=2)(torch.tensor([1.0]), torch.tensor([2.0])).item()
        9.0
    """

    bias: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        variance: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        degree: int = 1,
        active_dims: Sequence[int] | None = None,
    ) -> None:
        super().__init__(input_dim, variance, active_dims)
        bias = torch.tensor(1.0) if bias is None else bias
        self.bias = positive_param(bias)  # type: ignore[assignment]
        if not isinstance(degree, int) or degree < 1:
            raise ValueError(f"Polynomial: degree must be a positive integer, got {degree!r}")
        self.degree = degree

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        return self.variance * (self.bias + self._dot_product(X, Z, diag)) ** self.degree
