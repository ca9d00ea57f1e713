"""``CholeskyTransform`` (positive-definite matrix -> its Cholesky factor) and Pyro's
deprecated ``CorrLCholeskyTransform`` alias of torch's ``CorrCholeskyTransform``."""

from __future__ import annotations

import math
import warnings

import torch
from torch.distributions.transforms import CorrCholeskyTransform, Transform

from ppl.distributions import constraints

__all__ = ["CholeskyTransform", "CorrLCholeskyTransform"]


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
    domain = constraints.positive_definite
    codomain = constraints.lower_cholesky

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
