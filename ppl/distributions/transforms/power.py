"""``PositivePowerTransform``: the odd power map ``y = sign(x) |x|^p`` (a bijection of R)."""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Distribution
from torch.distributions.transforms import Transform

from ppl.distributions import constraints

__all__ = ["PositivePowerTransform"]


class PositivePowerTransform(Transform):
    """``y = sign(x) * |x| ** exponent`` for ``exponent > 0`` (Pyro's ``PositivePowerTransform``).

    Unlike torch's ``PowerTransform`` it is defined on the whole real line.

    Args:
        exponent: positive exponent (number or tensor, broadcast with the input).
        cache_size: 0 or 1.
        validate_args: check ``exponent > 0`` (default: torch's validation flag).

    Raises:
        ValueError: if validation is on and an exponent is not positive.

    Example:
        >>> PositivePowerTransform(3.0)(torch.tensor([-2.0, 0.5]))
        tensor([-8.0000,  0.1250])
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1

    def __init__(
        self, exponent: Any, *, cache_size: int = 0, validate_args: bool | None = None
    ) -> None:
        super().__init__(cache_size=cache_size)
        if isinstance(exponent, int):
            exponent = float(exponent)
        self.exponent = torch.as_tensor(exponent)
        if validate_args is None:
            validate_args = Distribution._validate_args
        if validate_args and not bool(self.exponent.gt(0).all()):
            raise ValueError(f"Expected exponent > 0 but got: {self.exponent}")

    def with_cache(self, cache_size: int = 1) -> PositivePowerTransform:
        if self._cache_size == cache_size:
            return self
        return PositivePowerTransform(self.exponent, cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PositivePowerTransform):
            return False
        return bool(self.exponent.eq(other.exponent).all())

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs().pow(self.exponent) * x.sign()

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y.abs().pow(self.exponent.reciprocal()) * y.sign()

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``log(p) + log(y / x)`` (``= log p + (p - 1) log|x|``)."""
        return self.exponent.log() + (y / x).log()

    def forward_shape(self, shape: Any) -> torch.Size:
        return torch.broadcast_shapes(shape, self.exponent.shape)

    def inverse_shape(self, shape: Any) -> torch.Size:
        return torch.broadcast_shapes(shape, self.exponent.shape)
