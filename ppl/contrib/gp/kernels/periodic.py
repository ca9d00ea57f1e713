"""Periodic kernels: ``Cosine`` and the exp-sine-squared ``Periodic`` kernel."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..parameterized import positive_param
from .isotropic import Isotropy
from .kernel import Kernel

__all__ = ["Cosine", "Periodic"]


class Cosine(Isotropy):
    """``variance * cos(r)`` with ``r`` the scaled distance.

    Example:
        >>> import torch
        >>> round(Cosine(1)(torch.tensor([0.0]), torch.tensor([math.pi])).item(), 4)
        -1.0
    """

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self._diag(X)
        r = self._scaled_dist(X, Z)  # lengthscale before variance, as Pyro visits them
        return self.variance * torch.cos(r)


class Periodic(Kernel):
    """``variance * exp(-2 sum_d sin^2(pi (x_d - z_d) / period) / lengthscale^2)``.

    Args:
        input_dim: number of input features.
        variance: positive signal variance, default 1.
        lengthscale: positive lengthscale, default 1.
        period: positive period, default 1.
        active_dims: columns of the input to use.

    Example:
        >>> import torch
        >>> Periodic(1)(torch.tensor([0.0]), torch.tensor([3.0])).item()
        1.0
    """

    variance: torch.Tensor
    lengthscale: torch.Tensor
    period: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        variance: torch.Tensor | None = None,
        lengthscale: torch.Tensor | None = None,
        period: torch.Tensor | None = None,
        active_dims: Sequence[int] | None = None,
    ) -> None:
        super().__init__(input_dim, active_dims)
        self.variance = positive_param(  # type: ignore[assignment]
            torch.tensor(1.0) if variance is None else variance
        )
        self.lengthscale = positive_param(  # type: ignore[assignment]
            torch.tensor(1.0) if lengthscale is None else lengthscale
        )
        self.period = positive_param(  # type: ignore[assignment]
            torch.tensor(1.0) if period is None else period
        )

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self.variance.expand(X.size(0))
        X = self._slice_input(X)
        Z = X if Z is None else self._slice_input(Z)
        diff = X.unsqueeze(1) - Z.unsqueeze(0)  # (N, M, D)
        s = torch.sin(math.pi * diff / self.period) / self.lengthscale
        return self.variance * torch.exp(-2 * (s * s).sum(-1))
