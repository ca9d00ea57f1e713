"""``LKJ`` over correlation matrices, and the deprecated ``LKJCorrCholesky``.

``LKJ(dim, concentration)`` has density proportional to ``det(C) ** (concentration - 1)``
(uniform over correlation matrices when ``concentration == 1``). It is torch's
``LKJCholesky`` pushed through ``L -> L @ L.T``; the change of variables uses
:class:`CorrMatrixCholeskyTransform` (``C -> cholesky(C)``), whose log-Jacobian on
correlation matrices is ``-sum_i (dim - 1 - i) * log L_ii``.

Example:
    >>> import torch
    >>> d = LKJ(2, 1.0)  # uniform correlation r on (-1, 1)
    >>> round(float(d.log_prob(torch.tensor([[1.0, 0.3], [0.3, 1.0]])).exp()), 4)
    0.5
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.distributions import constraints as torch_constraints
from torch.distributions.transforms import ComposeTransform, CorrCholeskyTransform, Transform

from ppl.distributions import constraints
from ppl.distributions.torch_dists import LKJCholesky, TransformedDistribution
from ppl.distributions.transforms import biject_to, transform_to

__all__ = ["LKJ", "LKJCorrCholesky", "CorrMatrixCholeskyTransform"]


class CorrMatrixCholeskyTransform(Transform):
    """The Cholesky factor of a correlation matrix, ``y = cholesky(x)`` (a bijection).

    Example:
        >>> t = CorrMatrixCholeskyTransform()
        >>> t.inv(t(torch.tensor([[1.0, 0.5], [0.5, 1.0]])))
        tensor([[1.0000, 0.5000],
                [0.5000, 1.0000]])
    """

    domain = constraints.corr_matrix
    codomain = torch_constraints.corr_cholesky
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CorrMatrixCholeskyTransform)

    def __hash__(self) -> int:
        return hash(type(self))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.cholesky(x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y @ y.transpose(-1, -2)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        power = torch.arange(n - 1, -1, -1, dtype=x.dtype, device=x.device)
        return -(power * y.diagonal(dim1=-2, dim2=-1).log()).sum(-1)

    def __repr__(self) -> str:
        return "CorrMatrixCholeskyTransform()"


@biject_to.register(type(constraints.corr_matrix))
@transform_to.register(type(constraints.corr_matrix))
def _to_corr_matrix(constraint: Any) -> Transform:
    return ComposeTransform([CorrCholeskyTransform(), CorrMatrixCholeskyTransform().inv])


class LKJCorrCholesky(LKJCholesky):
    """Deprecated spelling of ``LKJCholesky(dim, concentration)`` (warns ``FutureWarning``)."""

    def __init__(self, d: int, eta: Any, validate_args: bool | None = None) -> None:
        warnings.warn(
            "class LKJCorrCholesky(d, eta, validate_args=None) is deprecated "
            "in favor of LKJCholesky(dim, concentration, validate_args=None).",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(d, concentration=eta, validate_args=validate_args)


class LKJ(TransformedDistribution):
    """LKJ distribution over ``dim x dim`` correlation matrices.

    Args:
        dim: matrix size (>= 2).
        concentration: positive shape ``eta`` (a tensor gives a batch); ``> 1`` favours
            matrices near the identity, ``< 1`` strongly correlated ones.
    """

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_matrix

    def __init__(self, dim: int, concentration: Any = 1.0,
                 validate_args: bool | None = None) -> None:
        base = LKJCholesky(dim, concentration)
        self.dim, self.concentration = base.dim, base.concentration
        super().__init__(base, CorrMatrixCholeskyTransform().inv, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> LKJ:
        new = self._get_checked_instance(LKJ, _instance)
        new = super().expand(batch_shape, _instance=new)
        new.dim = self.dim
        new.concentration = self.concentration.expand(torch.Size(batch_shape))
        return new

    @property
    def mean(self) -> torch.Tensor:
        c = self.concentration
        eye = torch.eye(self.dim, dtype=c.dtype, device=c.device)
        return eye.expand(self.batch_shape + (self.dim, self.dim))
