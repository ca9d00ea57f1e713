"""``AsymmetricLaplace``: a Laplace density with different decay rates on each side of ``loc``.

``log p = -log(scale * (asym + 1/asym)) - |z| * (asym if z > 0 else 1/asym)``, ``z=(x-loc)/scale``.

Example:
    >>> import torch
    >>> round(AsymmetricLaplace(0.0, 1.0, 1.0).log_prob(torch.tensor(0.0)).item(), 4)
    -0.6931
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from ppl.distributions.elementwise import ElementwiseDistribution
from ppl.distributions.util import EMPTY_SHAPE


class AsymmetricLaplace(ElementwiseDistribution):
    """Asymmetric Laplace with location, positive scale and positive asymmetry.

    Args:
        loc: location (the mode).
        scale: positive scale.
        asymmetry: positive ratio of the left to the right decay length.
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "asymmetry": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(
        self, loc: Any, scale: Any, asymmetry: Any, validate_args: bool | None = None
    ) -> None:
        self.loc, self.scale, self.asymmetry = broadcast_all(loc, scale, asymmetry)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        k = self.asymmetry
        decay = torch.where(z > 0, z * k, -z / k)
        return -decay - torch.log(self.scale * (k + k.reciprocal()))

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        # The difference of two exponentials with means scale*asym (left) and scale/asym.
        shape = self._extended_shape(sample_shape)
        e = torch.empty((2,) + shape, dtype=self.loc.dtype, device=self.loc.device).exponential_()
        k = self.asymmetry
        return self.loc + self.scale * (e[0] / k - e[1] * k)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc + self.scale * (self.asymmetry.reciprocal() - self.asymmetry)

    @property
    def variance(self) -> torch.Tensor:
        k = self.asymmetry
        return self.scale.pow(2) * (k.pow(-2) + k.pow(2))
