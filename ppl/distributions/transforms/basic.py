"""Elementwise activation bijections used inside flows: ELU, LeakyReLU (and tanh)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions.transforms import TanhTransform, Transform

from ppl.distributions import constraints

__all__ = ["ELUTransform", "LeakyReLUTransform", "elu", "leaky_relu", "tanh"]


class ELUTransform(Transform):
    """``y = elu(x)``: the identity for ``x >= 0``, ``exp(x) - 1`` below (onto ``(-1, inf)``).

    Example:
        >>> t = ELUTransform()
        >>> x = torch.tensor([-1.0, 2.0])
        >>> torch.allclose(t.inv(t(x).clone()), x, atol=1e-6)
        True
    """

    domain = constraints.real
    codomain = constraints.greater_than(-1.0)
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ELUTransform)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x)

    def _inverse(self, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
        # y >= 0: y itself; y in (-1, 0): log1p(y) (eps keeps y -> -1 finite)
        return y.clamp(min=0) + torch.log1p(y + eps).clamp(max=0)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``min(x, 0)`` (the log-slope)."""
        return -F.relu(-x)


class LeakyReLUTransform(Transform):
    """``y = leaky_relu(x)`` with slope 0.01 below zero.

    Example:
        >>> LeakyReLUTransform()(torch.tensor([-100.0, 3.0]))
        tensor([-1.,  3.])
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LeakyReLUTransform)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(y, negative_slope=100.0)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """0 for ``x >= 0``, ``log 0.01`` below."""
        return torch.where(x >= 0, torch.zeros_like(x), torch.full_like(x, math.log(0.01)))


def elu() -> ELUTransform:
    """An :class:`ELUTransform`."""
    return ELUTransform()


def leaky_relu() -> LeakyReLUTransform:
    """A :class:`LeakyReLUTransform`."""
    return LeakyReLUTransform()


def tanh() -> TanhTransform:
    """torch's ``TanhTransform``."""
    return TanhTransform()
