"""Stationary isotropic kernels: functions of the scaled distance ``r = |x - z| / l``.

``RBF``, ``RationalQuadratic``, ``Exponential``, ``Matern32``, ``Matern52`` share the
``Isotropy`` base: a positive ``variance`` and a positive ``lengthscale`` (a scalar or
one per active dimension, i.e. automatic relevance determination). ``Cosine`` and
``Periodic`` (in :mod:`.periodic`) reuse the same distance helpers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..parameterized import positive_param
from .kernel import Kernel

__all__ = ["RBF", "Exponential", "Isotropy", "Matern32", "Matern52", "RationalQuadratic"]

_EPS = 1e-12  # keeps sqrt differentiable at r = 0


class Isotropy(Kernel):
    """Base of kernels depending on the scaled Euclidean distance only.

    Args:
        input_dim: number of input features.
        variance: signal variance (positive), default 1.
        lengthscale: positive scalar or ``(input_dim,)`` tensor, default 1.
        active_dims: columns of the input to use.

    Example:
        >>> import torch, ppl
        >>> from ppl.contrib.gp.kernels import RBF
        >>> ppl.clear_param_store()  # root kernels share store names ("variance")
        >>> RBF(1, variance=torch.tensor(2.0))(torch.zeros(1)).tolist()
        [[2.0]]
        >>> ppl.clear_param_store()
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
    ) -> None:
        super().__init__(input_dim, active_dims)
        variance = torch.tensor(1.0) if variance is None else variance
        lengthscale = torch.tensor(1.0) if lengthscale is None else lengthscale
        self.variance = positive_param(variance)  # type: ignore[assignment]
        self.lengthscale = positive_param(lengthscale)  # type: ignore[assignment]

    def _square_scaled_dist(self, X: torch.Tensor, Z: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, M)`` matrix of ``|x - z|^2 / l^2`` (clamped at 0 against round-off)."""
        X = self._slice_input(X)
        Z = X if Z is None else self._slice_input(Z)
        if X.size(1) != Z.size(1):
            raise ValueError(
                f"{type(self).__name__}: X has {X.size(1)} features but Z has {Z.size(1)}"
            )
        ls = self.lengthscale
        X, Z = X / ls, Z / ls
        d2 = (X * X).sum(-1, keepdim=True) - 2 * X @ Z.T + (Z * Z).sum(-1)
        return d2.clamp(min=0)

    def _scaled_dist(self, X: torch.Tensor, Z: torch.Tensor | None = None) -> torch.Tensor:
        return (self._square_scaled_dist(X, Z) + _EPS).sqrt()

    def _diag(self, X: torch.Tensor) -> torch.Tensor:
        return self.variance.expand(X.size(0))


class RBF(Isotropy):
    """Squared-exponential kernel ``variance * exp(-r^2 / 2)``.

    Example:
        >>> import torch
        >>> round(RBF(1)(torch.tensor([0.0]), torch.tensor([1.0])).item(), 4)
        0.6065
    """

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self._diag(X)
        # the distance first: sites are visited lengthscale, variance (Pyro's order)
        r2 = self._square_scaled_dist(X, Z)
        return self.variance * torch.exp(-0.5 * r2)


class RationalQuadratic(Isotropy):
    """``variance * (1 + r^2 / (2 a))^(-a)``, a scale mixture of RBFs with ``a = scale_mixture``.

    Example:
        >>> import torch
        >>> k = RationalQuadratic(1, scale_mixture=torch.tensor(1.0))
        >>> round(k(torch.tensor([0.0]), torch.tensor([2.0])).item(), 4)
        0.3333
    """

    scale_mixture: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        variance: torch.Tensor | None = None,
        lengthscale: torch.Tensor | None = None,
        scale_mixture: torch.Tensor | None = None,
        active_dims: Sequence[int] | None = None,
    ) -> None:
        super().__init__(input_dim, variance, lengthscale, active_dims)
        scale_mixture = torch.tensor(1.0) if scale_mixture is None else scale_mixture
        self.scale_mixture = positive_param(scale_mixture)  # type: ignore[assignment]

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self._diag(X)
        r2 = self._square_scaled_dist(X, Z)
        variance = self.variance
        a = self.scale_mixture
        return variance * (1 + 0.5 * r2 / a).pow(-a)


class Exponential(Isotropy):
    """Exponential (Matern 1/2) kernel ``variance * exp(-r)``."""

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self._diag(X)
        r = self._scaled_dist(X, Z)
        return self.variance * torch.exp(-r)


class Matern32(Isotropy):
    """Matern 3/2 kernel ``variance * (1 + sqrt(3) r) exp(-sqrt(3) r)``."""

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self._diag(X)
        s = math.sqrt(3) * self._scaled_dist(X, Z)
        return self.variance * (1 + s) * torch.exp(-s)


class Matern52(Isotropy):
    """Matern 5/2 kernel ``variance * (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)``."""

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if diag:
            return self._diag(X)
        r2 = self._square_scaled_dist(X, Z)
        s = math.sqrt(5) * (r2 + _EPS).sqrt()
        return self.variance * (1 + s + (5.0 / 3) * r2) * torch.exp(-s)
