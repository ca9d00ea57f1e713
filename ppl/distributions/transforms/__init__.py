"""Transforms: everything in ``torch.distributions.transforms`` plus Pyro's extras and flows.

Design notes
------------
Torch's transform classes are re-exported unchanged. Normalizing flows (learnable
bijections, each a :class:`~ppl.distributions.TransformModule`) live one per module in
this package, each with a lower-case helper that builds it with a fresh network
(``affine_autoregressive(input_dim)``, ...) and, where Pyro has one, a ``Conditional*``
version whose parameters a network computes from a context:

* autoregressive: :mod:`.affine_autoregressive` (IAF), :mod:`.spline_autoregressive`,
  :mod:`.neural_autoregressive`, :mod:`.block_autoregressive`, :mod:`.polynomial`;
* coupling: :mod:`.affine_coupling`, :mod:`.spline_coupling`;
* elementwise: :mod:`.spline`, :mod:`.batchnorm`, :mod:`.basic` (ELU, LeakyReLU);
* linear / volume preserving: :mod:`.householder`, :mod:`.matrix_exponential`,
  :mod:`.permute`, :mod:`.generalized_channel_permute`, :mod:`.orthogonal` (DCT, Haar),
  :mod:`.lower_cholesky_affine`;
* no analytic inverse: :mod:`.planar`, :mod:`.radial`, :mod:`.sylvester`;
* matrix maps: :mod:`.cholesky`, :mod:`.unit_cholesky`; others: :mod:`.normalize`,
  :mod:`.power`, :mod:`.simplex_to_ordered`.

``iterated(n, helper, ...)`` composes ``n`` fresh copies in a ``ComposeTransformModule``.
Defined here:

* :class:`SoftplusLowerCholeskyTransform` -- real matrix -> lower-Cholesky factor with a
  ``softplus`` diagonal (the strict upper triangle is ignored).
* :class:`OrderedTransform` -- real vector -> strictly increasing vector
  (``y_0 = x_0``, ``y_i = y_{i-1} + exp(x_i)``).

``biject_to`` and ``transform_to`` are torch's global registries (so torch code and
``ppl`` code agree); this module registers, in them, the extra constraints of
:mod:`ppl.distributions.constraints`, and also ``lower_cholesky`` and
``positive_definite`` in ``biject_to`` (torch registers those only in
``transform_to``): the parameter store unconstrains through ``biject_to``, and these
maps are bijective onto their constraint set when restricted to lower-triangular
inputs, which is the space ``inv`` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import biject_to, transform_to
from torch.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)

from ppl.distributions import constraints
from ppl.distributions.torch_transform import ComposeTransformModule
from ppl.distributions.transforms.affine_autoregressive import (
    AffineAutoregressive,
    ConditionalAffineAutoregressive,
    affine_autoregressive,
    conditional_affine_autoregressive,
)
from ppl.distributions.transforms.affine_coupling import (
    AffineCoupling,
    ConditionalAffineCoupling,
    affine_coupling,
    conditional_affine_coupling,
)
from ppl.distributions.transforms.basic import (
    ELUTransform,
    LeakyReLUTransform,
    elu,
    leaky_relu,
    tanh,
)
from ppl.distributions.transforms.batchnorm import BatchNorm, batchnorm
from ppl.distributions.transforms.block_autoregressive import (
    BlockAutoregressive,
    block_autoregressive,
)
from ppl.distributions.transforms.cholesky import (
    CholeskyTransform,
    CorrLCholeskyTransform,
    CorrMatrixCholeskyTransform,
)
from ppl.distributions.transforms.generalized_channel_permute import (
    ConditionalGeneralizedChannelPermute,
    GeneralizedChannelPermute,
    conditional_generalized_channel_permute,
    generalized_channel_permute,
)
from ppl.distributions.transforms.householder import (
    ConditionalHouseholder,
    Householder,
    conditional_householder,
    householder,
)
from ppl.distributions.transforms.lower_cholesky_affine import LowerCholeskyAffine
from ppl.distributions.transforms.matrix_exponential import (
    ConditionalMatrixExponential,
    MatrixExponential,
    conditional_matrix_exponential,
    matrix_exponential,
)
from ppl.distributions.transforms.neural_autoregressive import (
    ConditionalNeuralAutoregressive,
    NeuralAutoregressive,
    conditional_neural_autoregressive,
    neural_autoregressive,
)
from ppl.distributions.transforms.normalize import Normalize
from ppl.distributions.transforms.orthogonal import DiscreteCosineTransform, HaarTransform
from ppl.distributions.transforms.permute import Permute, permute
from ppl.distributions.transforms.planar import (
    ConditionalPlanar,
    Planar,
    conditional_planar,
    planar,
)
from ppl.distributions.transforms.polynomial import Polynomial, polynomial
from ppl.distributions.transforms.power import PositivePowerTransform
from ppl.distributions.transforms.radial import (
    ConditionalRadial,
    Radial,
    conditional_radial,
    radial,
)
from ppl.distributions.transforms.simplex_to_ordered import SimplexToOrderedTransform
from ppl.distributions.transforms.spline import (
    ConditionalSpline,
    Spline,
    conditional_spline,
    spline,
)
from ppl.distributions.transforms.spline_autoregressive import (
    ConditionalSplineAutoregressive,
    SplineAutoregressive,
    conditional_spline_autoregressive,
    spline_autoregressive,
)
from ppl.distributions.transforms.spline_coupling import SplineCoupling, spline_coupling
from ppl.distributions.transforms.sylvester import Sylvester, sylvester
from ppl.distributions.transforms.unit_cholesky import (
    UnitLowerCholeskyTransform,
    unit_lower_cholesky,
)

__all__ = [
    "AbsTransform",
    "AffineAutoregressive",
    "AffineCoupling",
    "AffineTransform",
    "BatchNorm",
    "BlockAutoregressive",
    "CatTransform",
    "CholeskyTransform",
    "ComposeTransform",
    "ComposeTransformModule",
    "ConditionalAffineAutoregressive",
    "ConditionalAffineCoupling",
    "ConditionalGeneralizedChannelPermute",
    "ConditionalHouseholder",
    "ConditionalMatrixExponential",
    "ConditionalNeuralAutoregressive",
    "ConditionalPlanar",
    "ConditionalRadial",
    "ConditionalSpline",
    "ConditionalSplineAutoregressive",
    "CorrCholeskyTransform",
    "CorrLCholeskyTransform",
    "CorrMatrixCholeskyTransform",
    "CumulativeDistributionTransform",
    "DiscreteCosineTransform",
    "ELUTransform",
    "ExpTransform",
    "GeneralizedChannelPermute",
    "HaarTransform",
    "Householder",
    "IndependentTransform",
    "LeakyReLUTransform",
    "LowerCholeskyAffine",
    "LowerCholeskyTransform",
    "MatrixExponential",
    "NeuralAutoregressive",
    "Normalize",
    "OrderedTransform",
    "Permute",
    "Planar",
    "Polynomial",
    "PositiveDefiniteTransform",
    "PositivePowerTransform",
    "PowerTransform",
    "Radial",
    "ReshapeTransform",
    "SigmoidTransform",
    "SimplexToOrderedTransform",
    "SoftmaxTransform",
    "SoftplusLowerCholeskyTransform",
    "SoftplusTransform",
    "Spline",
    "SplineAutoregressive",
    "SplineCoupling",
    "StackTransform",
    "StickBreakingTransform",
    "Sylvester",
    "TanhTransform",
    "Transform",
    "UnitLowerCholeskyTransform",
    "affine_autoregressive",
    "affine_coupling",
    "batchnorm",
    "biject_to",
    "block_autoregressive",
    "conditional_affine_autoregressive",
    "conditional_affine_coupling",
    "conditional_generalized_channel_permute",
    "conditional_householder",
    "conditional_matrix_exponential",
    "conditional_neural_autoregressive",
    "conditional_planar",
    "conditional_radial",
    "conditional_spline",
    "conditional_spline_autoregressive",
    "elu",
    "generalized_channel_permute",
    "householder",
    "identity_transform",
    "iterated",
    "leaky_relu",
    "matrix_exponential",
    "neural_autoregressive",
    "permute",
    "planar",
    "polynomial",
    "radial",
    "spline",
    "spline_autoregressive",
    "spline_coupling",
    "sylvester",
    "tanh",
    "transform_to",
]


def iterated(repeats: int, base_fn: Callable[..., Transform], *args: Any, **kwargs: Any):
    """Compose ``repeats`` independently built ``base_fn(*args, **kwargs)`` transforms.

    Returns:
        A :class:`~ppl.distributions.ComposeTransformModule` (so every part's parameters
        are registered).

    Raises:
        ValueError: if ``repeats`` is not a positive int.

    Example:
        >>> flow = iterated(2, affine_autoregressive, 3)
        >>> len(flow.parts)
        2
    """
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"iterated: repeats must be a positive int, got {repeats!r}")
    return ComposeTransformModule([base_fn(*args, **kwargs) for _ in range(repeats)])


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """Stable ``log(exp(y) - 1)`` for ``y > 0``."""
    return y + torch.log(-torch.expm1(-y))


class SoftplusLowerCholeskyTransform(Transform):
    """Map a real square matrix to a lower-Cholesky factor with a softplus diagonal.

    Example:
        >>> t = SoftplusLowerCholeskyTransform()
        >>> y = t(torch.zeros(2, 2))
        >>> torch.allclose(y, torch.eye(2) * F.softplus(torch.tensor(0.0)))
        True
    """

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.softplus_lower_cholesky
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SoftplusLowerCholeskyTransform)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        diag = F.softplus(x.diagonal(dim1=-2, dim2=-1))
        return x.tril(-1) + torch.diag_embed(diag)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        diag = _inverse_softplus(y.diagonal(dim1=-2, dim2=-1))
        return y.tril(-1) + torch.diag_embed(diag)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # d softplus(t)/dt = sigmoid(t); the strictly-lower part is the identity.
        return F.logsigmoid(x.diagonal(dim1=-2, dim2=-1)).sum(-1)


class OrderedTransform(Transform):
    """Map a real vector to a strictly increasing one: ``y = cumsum([x_0, exp(x_1:)])``.

    Example:
        >>> OrderedTransform()(torch.tensor([1.0, 0.0, 0.0]))
        tensor([1., 2., 3.])
    """

    domain = constraints.real_vector
    codomain = constraints.ordered_vector
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OrderedTransform)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.cat([x[..., :1], x[..., 1:].exp()], dim=-1)
        return torch.cumsum(z, dim=-1)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([y[..., :1], (y[..., 1:] - y[..., :-1]).log()], dim=-1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x[..., 1:].sum(-1)


@biject_to.register(constraints.softplus_positive)
@transform_to.register(constraints.softplus_positive)
def _to_softplus_positive(constraint: constraints.Constraint) -> Transform:
    return SoftplusTransform()


@biject_to.register(constraints.softplus_lower_cholesky)
@transform_to.register(constraints.softplus_lower_cholesky)
def _to_softplus_lower_cholesky(constraint: constraints.Constraint) -> Transform:
    return SoftplusLowerCholeskyTransform()


@biject_to.register(constraints.unit_lower_cholesky)
@transform_to.register(constraints.unit_lower_cholesky)
def _to_unit_lower_cholesky(constraint: constraints.Constraint) -> Transform:
    return UnitLowerCholeskyTransform()


@biject_to.register(constraints.ordered_vector)
@transform_to.register(constraints.ordered_vector)
def _to_ordered_vector(constraint: constraints.Constraint) -> Transform:
    return OrderedTransform()


@biject_to.register(constraints.positive_ordered_vector)
@transform_to.register(constraints.positive_ordered_vector)
def _to_positive_ordered_vector(constraint: constraints.Constraint) -> Transform:
    return ComposeTransform([OrderedTransform(), ExpTransform()])


@biject_to.register(constraints.lower_cholesky)
def _biject_to_lower_cholesky(constraint: constraints.Constraint) -> Transform:
    return LowerCholeskyTransform()


@biject_to.register(constraints.positive_definite)
def _biject_to_positive_definite(constraint: constraints.Constraint) -> Transform:
    return PositiveDefiniteTransform()


_MixtureSameFamilyConstraint = getattr(constraints, "MixtureSameFamilyConstraint", None)
if _MixtureSameFamilyConstraint is not None:  # torch >= 2.5 gives mixtures their own constraint

    @biject_to.register(_MixtureSameFamilyConstraint)
    def _biject_to_mixture(constraint: constraints.Constraint) -> Transform:
        return biject_to(constraint.base_constraint)  # type: ignore[attr-defined]

    @transform_to.register(_MixtureSameFamilyConstraint)
    def _transform_to_mixture(constraint: constraints.Constraint) -> Transform:
        return transform_to(constraint.base_constraint)  # type: ignore[attr-defined]


@biject_to.register(constraints.greater_than)
@transform_to.register(constraints.greater_than)
def _to_greater_than(constraint: constraints.Constraint) -> Transform:
    """``exp`` alone for a zero lower bound (``positive``): torch composes it with an
    identity affine map, which costs an op forward and backward on every param read."""
    lower = constraint.lower_bound  # type: ignore[attr-defined]
    if isinstance(lower, (int, float)) and lower == 0:
        return ExpTransform()
    return ComposeTransform([ExpTransform(), AffineTransform(lower, 1)])


# Pyro's registrations for the constraints the distribution zoo brings (sphere for
# ProjectedNormal, corr_matrix for LKJ); active once those constraints exist.
if hasattr(constraints, "sphere"):

    @transform_to.register(constraints.sphere)
    def _transform_to_sphere(constraint: constraints.Constraint) -> Transform:
        return Normalize()


if hasattr(constraints, "corr_matrix"):

    @biject_to.register(constraints.corr_matrix)
    @transform_to.register(constraints.corr_matrix)
    def _to_corr_matrix(constraint: constraints.Constraint) -> Transform:
        return ComposeTransform([CorrCholeskyTransform(), CorrMatrixCholeskyTransform().inv])


@transform_to.register(unit_lower_cholesky)
def _transform_to_unit_lower_cholesky(constraint: constraints.Constraint) -> Transform:
    return UnitLowerCholeskyTransform()
