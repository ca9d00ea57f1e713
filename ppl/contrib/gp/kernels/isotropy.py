"""Stationary isotropic kernels: functions of the scaled distance ``|x - z| / lengthscale``.

Pyro's ``Isotropy`` family: ``RBF``, ``Matern32``, ``Matern52``, ``Exponential``,
``RationalQuadratic``. Each has ``variance`` and ``lengthscale`` as positive ``PyroParam``s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.distributions import constraints

from ppl.nn import PyroParam

from .kernel import Kernel


class Isotropy(Kernel):
    """Base of kernels depending on the scaled Euclidean distance only.

    Args:
        input_dim: number of input features.
        variance: signal variance (positive scalar), default 1.
        lengthscale: positive scalar or ``(input_dim,)`` tensor, default 1.
        active_dims: columns of the input to use.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> RBF(1, variance=torch.tensor(2.0))(torch.zeros(1)).shape
        torch.Size([1, 1])
    """

    # PyroParam attributes read back as constrained tensors (PyroModule's __getattr__)
    variance: torch.Tensor
    lengthscale: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        variance: torch.Tensor | None = None,
        lengthscale: torch.Tensor | None = None,
        active_dims: Sequence[int] | None = None,
    ):
        super().__init__(input_dim, active_dims)
        variance = torch.tensor(1.0) if variance is None else variance
        lengthscale = torch.tensor(1.0) if lengthscale is None else lengthscale
        self.variance = PyroParam(variance, constraints.positive)  # type: ignore[assignment]
        self.lengthscale = PyroParam(lengthscale, constraints.positive)  # type: ignore[assignment]

    def _square_scaled_dist(self, X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        X = self._slice_input(X) / self.lengthscale
        Z = self._slice_input(Z) / self.lengthscale
        d2 = (X * X).sum(-1, keepdim=True) - 2 * X @ Z.T + (Z * Z).sum(-1)
        return d2.clamp(min=0)

    def _diag(self, X: torch.Tensor) -> torch.Tensor:
        return self.variance.expand(self._slice_input(X).size(0))

    def _of_distance(self, d2: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self._diag(X)
        Z = X if Z is None else Z
        return self.variance * self._of_distance(self._square_scaled_dist(X, Z))


class RBF(Isotropy):
    """Squared-exponential kernel ``v * exp(-r^2 / 2)``."""

    def _of_distance(self, d2: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * d2)


class Exponential(Isotropy):
    """Exponential (Matern 1/2) kernel ``v * exp(-r)``."""

    def _of_distance(self, d2: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.sqrt(d2 + 1e-12))


class Matern32(Isotropy):
    """Matern 3/2 kernel ``v * (1 + sqrt(3) r) exp(-sqrt(3) r)``."""

    def _of_distance(self, d2: torch.Tensor) -> torch.Tensor:
        r = math.sqrt(3) * torch.sqrt(d2 + 1e-12)
        return (1 + r) * torch.exp(-r)


class Matern52(Isotropy):
    """Matern 5/2 kernel ``v * (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)``."""

    def _of_distance(self, d2: torch.Tensor) -> torch.Tensor:
        r = math.sqrt(5) * torch.sqrt(d2 + 1e-12)
        return (1 + r + 5.0 / 3 * d2) * torch.exp(-r)
