"""Constraints: everything in ``torch.distributions.constraints`` plus a few of Pyro's.

Design notes
------------
Torch's constraint objects are re-exported unchanged (same objects, so torch's
``biject_to``/``transform_to`` registries recognise them). The additions are Pyro's
names that ``ppl`` needs, each a tiny ``Constraint`` subclass with a singleton
instance, registered with ``biject_to``/``transform_to`` in
:mod:`ppl.distributions.transforms`:

* ``softplus_positive`` -- same set as ``positive``; unconstrained by ``softplus``
  (gentler than ``exp`` for scales learned by SVI).
* ``softplus_lower_cholesky`` -- same set as ``lower_cholesky``; diagonal by
  ``softplus`` (used for ``scale_tril`` parameters of autoguides).
* ``unit_lower_cholesky`` -- lower-triangular with a unit diagonal (the correlation
  factor of Pyro's ``AutoMultivariateNormal.scale_tril``).
* ``ordered_vector`` / ``positive_ordered_vector`` -- strictly increasing (positive)
  vectors.

Each extra class subclasses the torch class describing the same set, so
``isinstance(softplus_positive, type(positive))`` holds and code that checks the set
(``check``, ``event_dim``, ``is_discrete``) needs nothing new; only the registries
(which dispatch on the exact type) see the difference.
"""

from __future__ import annotations

import torch
from torch.distributions.constraints import (
    Constraint,
    MixtureSameFamilyConstraint,
    boolean,
    cat,
    corr_cholesky,
    dependent,
    dependent_property,
    greater_than,
    greater_than_eq,
    half_open_interval,
    independent,
    integer_interval,
    interval,
    is_dependent,
    less_than,
    lower_cholesky,
    lower_triangular,
    multinomial,
    nonnegative,
    nonnegative_integer,
    one_hot,
    positive,
    positive_definite,
    positive_integer,
    positive_semidefinite,
    real,
    real_vector,
    simplex,
    square,
    stack,
    symmetric,
    unit_interval,
)

__all__ = [
    "Constraint",
    "MixtureSameFamilyConstraint",
    "boolean",
    "cat",
    "corr_cholesky",
    "dependent",
    "dependent_property",
    "greater_than",
    "greater_than_eq",
    "half_open_interval",
    "independent",
    "integer_interval",
    "interval",
    "is_dependent",
    "less_than",
    "lower_cholesky",
    "lower_triangular",
    "multinomial",
    "nonnegative",
    "nonnegative_integer",
    "one_hot",
    "ordered_vector",
    "positive",
    "positive_definite",
    "positive_integer",
    "positive_ordered_vector",
    "positive_semidefinite",
    "real",
    "real_vector",
    "simplex",
    "softplus_lower_cholesky",
    "softplus_positive",
    "square",
    "stack",
    "symmetric",
    "unit_interval",
    "unit_lower_cholesky",
]

_GreaterThan = type(positive)
_LowerCholesky = type(lower_cholesky)


class _SoftplusPositive(_GreaterThan):  # type: ignore[valid-type,misc]
    """Positive reals, mapped from the reals by ``softplus``."""

    def __init__(self) -> None:
        super().__init__(lower_bound=0.0)

    def __repr__(self) -> str:
        return "SoftplusPositive()"


class _SoftplusLowerCholesky(_LowerCholesky):  # type: ignore[valid-type,misc]
    """Lower-triangular matrices with positive diagonal; diagonal by ``softplus``."""

    def __repr__(self) -> str:
        return "SoftplusLowerCholesky()"


class _UnitLowerCholesky(Constraint):
    """Lower-triangular square matrices whose diagonal is all ones."""

    event_dim = 2

    def check(self, value: torch.Tensor) -> torch.Tensor:
        lower = (value.tril() == value).flatten(-2).all(-1)
        unit = (value.diagonal(dim1=-2, dim2=-1) == 1).all(-1)
        return lower & unit

    def __repr__(self) -> str:
        return "UnitLowerCholesky()"


class _OrderedVector(Constraint):
    """Real vectors with strictly increasing entries along the last dim."""

    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        if value.size(-1) < 2:
            return torch.isfinite(value).all(-1)
        increasing = (value[..., 1:] > value[..., :-1]).all(-1)
        return increasing & torch.isfinite(value).all(-1)

    def __repr__(self) -> str:
        return "OrderedVector()"


class _PositiveOrderedVector(_OrderedVector):
    """Positive real vectors with strictly increasing entries along the last dim."""

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return super().check(value) & (value > 0).all(-1)

    def __repr__(self) -> str:
        return "PositiveOrderedVector()"


softplus_positive = _SoftplusPositive()
softplus_lower_cholesky = _SoftplusLowerCholesky()
unit_lower_cholesky = _UnitLowerCholesky()
ordered_vector = _OrderedVector()
positive_ordered_vector = _PositiveOrderedVector()


# --- Pyro's constraints for the distribution zoo (dists block) ---


class _Sphere(Constraint):
    """Unit vectors: ``|x|_2 == 1`` up to a few float eps (the support of ``ProjectedNormal``)."""

    event_dim = 1
    reltol = 10.0  # tolerance in units of the dtype's eps, times sqrt(dim)

    def check(self, value: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(value.dtype).eps
        error = (torch.linalg.vector_norm(value, dim=-1) - 1).abs()
        return error < self.reltol * eps * value.size(-1) ** 0.5

    def __repr__(self) -> str:
        return "Sphere()"


class _CorrMatrix(Constraint):
    """Correlation matrices: positive definite with a unit diagonal (``LKJ``'s support)."""

    event_dim = 2

    def check(self, value: torch.Tensor) -> torch.Tensor:
        unit_diag = ((value.diagonal(dim1=-2, dim2=-1) - 1).abs() < 1e-6).all(-1)
        return positive_definite.check(value) & unit_diag

    def __repr__(self) -> str:
        return "CorrMatrix()"


class _Integer(Constraint):
    """Any integer-valued number (of any sign)."""

    is_discrete = True

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return value % 1 == 0

    def __repr__(self) -> str:
        return "Integer()"


sphere = _Sphere()
corr_matrix = _CorrMatrix()
integer = _Integer()
corr_cholesky_constraint = corr_cholesky  # Pyro's old name for corr_cholesky
__all__ += ["corr_cholesky_constraint", "corr_matrix", "integer", "sphere"]
