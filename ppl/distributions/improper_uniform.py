"""``ImproperUniform``: the flat (improper) density on a constraint's support.

Design notes
------------
It serves as a prior that says "any value in the support": ``log_prob`` is ``0``
inside the support and ``-inf`` outside. It has no normalised density, so it cannot be
sampled: a model using it needs a guide (for instance an autoguide, which uses
``support`` through ``biject_to`` to find an unconstrained space). The support's own
event dims count towards ``event_shape``; the remaining event dims are reinterpreted
with ``constraints.independent``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.util import EMPTY_SHAPE, SizeLike, as_size

__all__ = ["ImproperUniform"]


class ImproperUniform(TorchDistribution):
    """Improper flat density on ``support`` with the given batch and event shapes.

    Args:
        support: a constraint, e.g. ``constraints.real`` or ``constraints.positive``.
        batch_shape: batch shape of the distribution.
        event_shape: event shape; must have at least ``support.event_dim`` dims.
        validate_args: torch's per-instance validation flag.

    Raises:
        TypeError: if ``support`` is not a ``Constraint`` or a shape is not a shape.
        ValueError: if ``event_shape`` has fewer dims than ``support.event_dim``.

    Example:
        >>> d = ImproperUniform(constraints.positive, (2,), ())
        >>> d.log_prob(torch.tensor([1.0, -1.0]))
        tensor([0., -inf])
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(
        self,
        support: constraints.Constraint,
        batch_shape: Any,
        event_shape: Any,
        validate_args: bool | None = None,
    ):
        if not isinstance(support, constraints.Constraint):
            raise TypeError(
                f"ImproperUniform: support must be a Constraint (e.g. constraints.real) but "
                f"got {type(support).__name__}"
            )
        batch_shape = as_size(batch_shape, "ImproperUniform(batch_shape)")
        event_shape = as_size(event_shape, "ImproperUniform(event_shape)")
        if len(event_shape) < support.event_dim:
            raise ValueError(
                f"ImproperUniform: support {support!r} has event_dim={support.event_dim} but "
                f"event_shape={tuple(event_shape)} has only {len(event_shape)} dims; pass an "
                f"event_shape with at least {support.event_dim} dims"
            )
        self._base_support = support
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        extra = self.event_dim - self._base_support.event_dim
        if extra > 0:
            return constraints.independent(self._base_support, extra)
        return self._base_support

    def expand(self, batch_shape: Any, _instance: Any = None) -> ImproperUniform:
        new = self._get_checked_instance(ImproperUniform, _instance)
        new._base_support = self._base_support
        batch_shape = torch.Size(batch_shape)
        super(ImproperUniform, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside = self.support.check(value)
        batch_shape = torch.broadcast_shapes(inside.shape, self.batch_shape)
        dtype = value.dtype if value.is_floating_point() else torch.get_default_dtype()
        zero = value.new_zeros((), dtype=dtype)
        return torch.where(inside, zero, zero - float("inf")).expand(batch_shape)

    def sample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        raise NotImplementedError(
            f"ImproperUniform(support={self._base_support!r}) is an improper prior and "
            f"cannot be sampled; give its site a value from a guide (e.g. an autoguide), "
            f"or use a proper distribution such as Normal/Uniform if you need draws"
        )

    def rsample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        return self.sample(sample_shape)
