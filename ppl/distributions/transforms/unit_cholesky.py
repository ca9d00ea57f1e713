"""``UnitLowerCholeskyTransform``: any square matrix -> lower triangular with unit diagonal."""

from __future__ import annotations

import torch
from torch.distributions.transforms import Transform

from ppl.distributions import constraints

__all__ = ["UnitLowerCholeskyTransform", "unit_lower_cholesky"]


# Pyro's ``constraints.unit_lower_cholesky`` (defined with ppl's other extra constraints).
unit_lower_cholesky: constraints.Constraint = constraints.unit_lower_cholesky


class UnitLowerCholeskyTransform(Transform):
    """Keep the strict lower triangle of ``x`` and put ones on the diagonal (Pyro's).

    Not injective (the upper triangle and diagonal are dropped); its ``inv`` is the
    identity on unit-lower-triangular matrices.

    Example:
        >>> UnitLowerCholeskyTransform()(torch.tensor([[5.0, 7.0], [2.0, 3.0]]))
        tensor([[1., 0.],
                [2., 1.]])
    """

    domain = constraints.independent(constraints.real, 2)
    codomain = unit_lower_cholesky

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnitLowerCholeskyTransform)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return x.tril(-1) + torch.eye(x.size(-1), device=x.device, dtype=x.dtype)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y
