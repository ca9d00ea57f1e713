"""``AffineBeta``: a Beta variable stretched to ``[loc, loc + scale]``.

``Y = loc + scale * X`` with ``X ~ Beta(concentration1, concentration0)``; samples are
clamped one float eps inside the interval so gradients of ``log_prob`` at a sample
stay finite.

Example:
    >>> import torch
    >>> d = AffineBeta(2.0, 2.0, -1.0, 2.0)
    >>> float(d.mean), round(float(d.log_prob(torch.tensor(0.0)).exp()), 4)
    (0.0, 0.75)
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.transforms import AffineTransform

from ppl.distributions.torch_dists import Beta, TransformedDistribution
from ppl.distributions.util import EMPTY_SHAPE
from ppl.ops.tensor import broadcast_shape

__all__ = ["AffineBeta"]


class AffineBeta(TransformedDistribution):
    """Beta distribution scaled by ``scale`` and shifted by ``loc``.

    Args:
        concentration1: first Beta concentration (alpha), positive.
        concentration0: second Beta concentration (beta), positive.
        loc: lower end of the support.
        scale: positive length of the support.
    """

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
        "loc": constraints.real,
        "scale": constraints.positive,
    }

    def __init__(self, concentration1: Any, concentration0: Any, loc: Any, scale: Any,
                 validate_args: bool | None = None) -> None:
        base = Beta(concentration1, concentration0, validate_args=validate_args)
        super().__init__(base, AffineTransform(loc=loc, scale=scale),
                         validate_args=validate_args)

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        concentration1: Any, concentration0: Any, loc: Any, scale: Any
    ) -> tuple[torch.Size, torch.Size]:
        return broadcast_shape(concentration1, concentration0, loc, scale), torch.Size()

    def expand(self, batch_shape: Any, _instance: Any = None) -> AffineBeta:
        new = self._get_checked_instance(AffineBeta, _instance)
        return super().expand(batch_shape, _instance=new)

    def _clamp(self, x: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(x.dtype).eps * self.scale
        return torch.min(torch.max(x, self.low + eps), self.high - eps)

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        x = self.base_dist.rsample(sample_shape)
        for t in self.transforms:
            x = t(x)
        return self._clamp(x)

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.interval(self.low, self.high)

    @property
    def concentration1(self) -> torch.Tensor:
        return self.base_dist.concentration1  # type: ignore[attr-defined]

    @property
    def concentration0(self) -> torch.Tensor:
        return self.base_dist.concentration0  # type: ignore[attr-defined]

    @property
    def sample_size(self) -> torch.Tensor:
        """``concentration1 + concentration0``."""
        return self.concentration1 + self.concentration0

    @property
    def loc(self) -> torch.Tensor:
        return torch.as_tensor(self.transforms[0].loc)  # type: ignore[attr-defined]

    @property
    def scale(self) -> torch.Tensor:
        return torch.as_tensor(self.transforms[0].scale)  # type: ignore[attr-defined]

    @property
    def low(self) -> torch.Tensor:
        return self.loc

    @property
    def high(self) -> torch.Tensor:
        return self.loc + self.scale

    @property
    def mean(self) -> torch.Tensor:
        return self.loc + self.scale * self.base_dist.mean

    @property
    def variance(self) -> torch.Tensor:
        return self.scale.pow(2) * self.base_dist.variance
