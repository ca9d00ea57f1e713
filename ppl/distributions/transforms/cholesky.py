"""``CholeskyTransform`` (positive-definite matrix -> its Cholesky factor),
``CorrMatrixCholeskyTransform`` (correlation matrix -> its factor) and Pyro's deprecated
``CorrLCholeskyTransform`` alias of torch's ``CorrCholeskyTransform``."""

from __future__ import annotations

import math
import warnings

import torch
from torch.distributions.transforms import CorrCholeskyTransform, Transform

from ppl.distributions import constraints

__all__ = ["CholeskyTransform", "CorrLCholeskyTransform", "CorrMatrixCholeskyTransform"]

# ``constraints.corr_matrix`` comes with the distribution zoo (LKJ); until it is there
# the domain is stated as the positive-definite matrices it is a subset of.
_CORR_MATRIX = getattr(constraints, "corr_matrix", constraints.positive_definite)


class CorrLCholeskyTransform(CorrCholeskyTransform):
    """Deprecated name of ``CorrCholeskyTransform`` (warns, as in Pyro)."""

    def __init__(self, cache_size: int = 0) -> None:
        warnings.warn(
            "class CorrLCholeskyTransform is deprecated in favor of CorrCholeskyTransform.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(cache_size=cache_size)


class CholeskyTransform(Transform):
    """``y = cholesky(x)`` for a positive-definite ``x``; the inverse is ``y y^T``.

    ``log|det dy/dx| = -n log 2 - sum_i (n - i) log y_ii`` (``i`` from 0), over the
    ``n (n + 1) / 2`` free entries of the symmetric input.

    Example:
        >>> t = CholeskyTransform()
        >>> t(torch.tensor([[4.0, 2.0], [2.0, 2.0]]))
        tensor([[2., 0.],
                [1., 1.]])
    """

    bijective = True
    domain: constraints.Constraint = constraints.positive_definite
    codomain: constraints.Constraint = constraints.lower_cholesky

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CholeskyTransform)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.cholesky(x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y @ y.transpose(-2, -1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        order = torch.arange(n, 0, -1, dtype=x.dtype, device=x.device)
        return -n * math.log(2) - (order * y.diagonal(dim1=-2, dim2=-1).log()).sum(-1)


class CorrMatrixCholeskyTransform(CholeskyTransform):
    """``y = cholesky(x)`` for a correlation matrix ``x`` (unit diagonal).

    ``log|det dy/dx| = -sum_i (n - 1 - i) log y_ii`` over the ``n (n - 1) / 2`` free
    off-diagonal entries (the unit diagonal is fixed).

    Example:
        >>> t = CorrMatrixCholeskyTransform()
        >>> t(torch.tensor([[1.0, 0.6], [0.6, 1.0]]))
        tensor([[1.0000, 0.0000],
                [0.6000, 0.8000]])
    """

    bijective = True
    domain = _CORR_MATRIX
    codomain = constraints.corr_cholesky

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CorrMatrixCholeskyTransform)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        order = torch.arange(n - 1, -1, -1, dtype=x.dtype, device=x.device)
        return -(order * y.diagonal(dim1=-2, dim2=-1).log()).sum(-1)
