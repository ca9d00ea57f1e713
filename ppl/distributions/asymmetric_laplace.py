"""``AsymmetricLaplace``: a Laplace density with different decay rates on each side of ``loc``.

``log p = -log(scale * (asym + 1/asym)) - |z| * (asym if z > 0 else 1/asym)``, ``z=(x-loc)/scale``.

Example:
    >>> import torch
    >>> round(AsymmetricLaplace(0.0, 1.0, 1.0).log_prob(torch.tensor(0.0)).item(), 4)
    -0.6931
"""

from __future__ import annotations

import math
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
        z = self._standardize(value)
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


class SoftAsymmetricLaplace(ElementwiseDistribution):
    """A smooth asymmetric Laplace: ``AsymmetricLaplace(loc, scale, asymmetry)`` plus
    independent ``Normal(0, scale * softness)`` noise.

    Equivalently ``loc + scale * softness * z - left * u + right * v`` with
    ``z ~ Normal(0, 1)``, ``u, v ~ Exponential(1)``, ``left = scale * asymmetry``,
    ``right = scale / asymmetry``. The density is the convolution, in closed form via
    ``erfc``; as ``softness -> 0`` it tends to the asymmetric Laplace.

    Args:
        loc: location (the mode when ``softness`` is small).
        scale: positive geometric mean of the left and right scales.
        asymmetry: positive square root of the left/right scale ratio (default 1).
        softness: positive width of the Gaussian smoother, relative to ``scale`` (default 1).

    Example:
        >>> d = SoftAsymmetricLaplace(0.0, 1.0, 2.0, 0.5)
        >>> round(float(d.mean), 4)  # right - left = 1/2 - 2
        -1.5
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "asymmetry": constraints.positive,
        "softness": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, asymmetry: Any = 1.0, softness: Any = 1.0, *,
                 validate_args: bool | None = None) -> None:
        self.loc, self.scale, self.asymmetry, self.softness = broadcast_all(
            loc, scale, asymmetry, softness)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def left_scale(self) -> torch.Tensor:
        return self.scale * self.asymmetry

    @property
    def right_scale(self) -> torch.Tensor:
        return self.scale / self.asymmetry

    @property
    def soft_scale(self) -> torch.Tensor:
        return self.scale * self.softness

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        a, b, s = self.asymmetry, self.asymmetry.reciprocal(), self.softness
        # Standardised density = [f_L(x) + f_R(x)] / (a + b), where, e.g., the left term
        # integrates exp(-t/a) against Normal(x + t; 0, s) over t > 0:
        #   f_L = exp(s^2/(2a^2) + x/a) erfc((s^2 + a x) / (sqrt(2) a s)) / 2.
        root2s = math.sqrt(2.0) * s
        left = (0.5 * s * s + a * x) / a.pow(2) + _log_erfc((s * s + a * x) / (a * root2s))
        right = (0.5 * s * s - b * x) / b.pow(2) + _log_erfc((s * s - b * x) / (b * root2s))
        return (math.log(0.5) + torch.logaddexp(left, right) - (a + b).log()
                - self.scale.log())

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        z = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        u, v = torch.empty((2,) + shape, dtype=self.loc.dtype,
                           device=self.loc.device).exponential_()
        return self.loc + self.soft_scale * z - self.left_scale * u + self.right_scale * v

    @property
    def mean(self) -> torch.Tensor:
        return self.loc + self.right_scale - self.left_scale

    @property
    def variance(self) -> torch.Tensor:
        return self.left_scale.pow(2) + self.right_scale.pow(2) + self.soft_scale.pow(2)


def _log_erfc(x: torch.Tensor) -> torch.Tensor:
    """``log(erfc(x))`` without underflow for large ``x`` (double precision, then cast)."""
    xd = x.double()
    # erfc(x) = erfcx(x) exp(-x^2), and erfcx is finite for all x >= 0.
    pos = torch.special.erfcx(xd.clamp(min=0)).log() - xd.clamp(min=0).pow(2)
    neg = torch.erfc(xd.clamp(max=0)).log()
    return torch.where(xd > 0, pos, neg).to(x.dtype)
