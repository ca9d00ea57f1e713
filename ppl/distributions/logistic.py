"""``Logistic`` and ``SkewLogistic``: the logistic family torch lacks as a class.

Example:
    >>> import torch
    >>> round(Logistic(torch.tensor(0.0), 1.0).log_prob(torch.tensor(0.0)).item(), 4)
    -1.3863
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from ppl.distributions.elementwise import ElementwiseDistribution
from ppl.distributions.util import EMPTY_SHAPE


class Logistic(ElementwiseDistribution):
    """Logistic distribution with location ``loc`` and scale ``scale`` (reparameterized).

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
        return -z - 2 * F.softplus(-z) - self.scale.log()

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((value - self.loc) / self.scale)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        return self.loc + self.scale * torch.logit(value)

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
        return self.scale.pow(2) * (torch.pi**2 / 3)

    def entropy(self) -> torch.Tensor:
        return self.scale.log() + 2


class SkewLogistic(ElementwiseDistribution):
    """Skewed logistic: density ``asym/scale * e^{-z} / (1 + e^{-z})^(asym+1)``, z=(x-loc)/scale.

    ``asymmetry == 1`` is the :class:`Logistic`; this is the type-I generalized logistic.

    Args:
        loc: location.
        scale: positive scale.
        asymmetry: positive skew parameter.
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "asymmetry": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(
        self, loc: Any, scale: Any, asymmetry: Any = 1.0, validate_args: bool | None = None
    ) -> None:
        self.loc, self.scale, self.asymmetry = broadcast_all(loc, scale, asymmetry)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        z = self._standardize(value)
        a = self.asymmetry
        return a.log() - self.scale.log() - z - (a + 1) * F.softplus(-z)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        z = (value - self.loc) / self.scale
        return torch.exp(-self.asymmetry * F.softplus(-z))

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        # u = (1 + e^{-z})^{-a}  =>  z = -log(u^{-1/a} - 1)
        z = -torch.log(torch.expm1(-value.log() / self.asymmetry))
        return self.loc + self.scale * z

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
        u = u.clamp(torch.finfo(u.dtype).tiny, 1 - torch.finfo(u.dtype).eps)
        return self.icdf(u)
