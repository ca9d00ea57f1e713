"""``SoftLaplace``: a smooth, log-concave Laplace-like density ``2/(pi*scale) / (e^z + e^-z)``.

Example:
    >>> import torch
    >>> d = SoftLaplace(torch.tensor(0.0), 1.0)
    >>> round(d.log_prob(torch.tensor(0.0)).item(), 4)
    -1.1447
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from ppl.distributions.elementwise import ElementwiseDistribution
from ppl.distributions.util import EMPTY_SHAPE


class SoftLaplace(ElementwiseDistribution):
    """Hyperbolic-secant-shaped density: ``log p = log(2/pi) - log scale - logaddexp(z, -z)``.

    Args:
        loc: location.
        scale: positive scale.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        z = self._standardize(value)
        return math.log(2 / math.pi) - self.scale.log() - torch.logaddexp(z, -z)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        z = (value - self.loc) / self.scale
        return torch.atan(z.exp()) * (2 / math.pi)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        return self.loc + self.scale * torch.tan(value * (math.pi / 2)).log()

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
        u = u.clamp(torch.finfo(u.dtype).tiny, 1 - torch.finfo(u.dtype).eps)
        return self.icdf(u)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        return self.scale.pow(2) * (math.pi**2 / 4)
