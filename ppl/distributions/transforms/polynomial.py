"""Sum-of-squares polynomial flow (Jaini et al. 2019): an autoregressive monotone polynomial."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from ppl.distributions import constraints
from ppl.distributions.torch_transform import TransformModule
from ppl.distributions.transforms._no_inverse import no_inverse

__all__ = ["Polynomial", "polynomial"]


class Polynomial(TransformModule):
    """``y_d = c_d + integral_0^{x_d} sum_s (sum_k a_{s,k,d} t^k)^2 dt`` (Pyro's ``Polynomial``).

    The coefficients ``a`` (``count_sum`` squares of degree ``count_degree``) come from an
    autoregressive network on ``x``, so ``y_d`` is increasing in ``x_d`` and depends on
    earlier coordinates only. No closed-form inverse (cached values only).

    Args:
        autoregressive_nn: network with ``param_dims=[(count_degree + 1) * count_sum]``.
        input_dim: event size ``D``.
        count_degree: degree of each squared polynomial.
        count_sum: number of squares summed.

    Example:
        >>> flow = polynomial(3)
        >>> tuple(flow(torch.zeros(2, 3)).shape)
        (2, 3)
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    autoregressive = True
    _inverse_unavailable = True

    powers: torch.Tensor
    power_mask: torch.Tensor
    mask: torch.Tensor

    def __init__(
        self, autoregressive_nn: Any, input_dim: int, count_degree: int, count_sum: int
    ) -> None:
        super().__init__(cache_size=1)
        self.arn = autoregressive_nn
        self.input_dim = input_dim
        self.count_degree = count_degree
        self.count_sum = count_sum
        self._cached_logDetJ: torch.Tensor | None = None
        self.c = nn.Parameter(torch.empty(input_dim))
        self.reset_parameters()
        dtype = torch.get_default_dtype()
        powers = torch.arange(1, count_degree + 2, dtype=dtype)
        # power_mask[i, j] = i + j + 1: the power of t in the integral of t^i t^j
        power_mask = powers + torch.arange(count_degree + 1, dtype=dtype).unsqueeze(-1)
        self.register_buffer("powers", powers)
        self.register_buffer("power_mask", power_mask)
        self.register_buffer("mask", power_mask.reciprocal())

    def reset_parameters(self) -> None:
        """``c ~ U(-1/sqrt(D), 1/sqrt(D))``."""
        bound = 1.0 / math.sqrt(self.c.size(0))
        with torch.no_grad():
            self.c.uniform_(-bound, bound)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        k = self.count_degree + 1
        a = self.arn(x).reshape(-1, self.count_sum, k, self.input_dim)
        coefs = a.unsqueeze(-2) * a.unsqueeze(-3)  # (N, S, K, K, D): a_i a_j
        xv = x.reshape(-1, 1, 1, self.input_dim)
        powers = self.power_mask.unsqueeze(-1)
        integral = coefs * xv.pow(powers).unsqueeze(-4) * self.mask.unsqueeze(-1)
        y = self.c + integral.sum((1, 2, 3)).reshape(x.shape)
        slope = (coefs * xv.pow(powers - 1).unsqueeze(-4)).sum((1, 2, 3)).reshape(x.shape)
        self._cached_logDetJ = torch.log(slope + 1e-8).sum(-1)
        return y

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise no_inverse(type(self).__name__)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum_d log(dy_d/dx_d)`` (recomputed unless ``(x, y)`` is cached)."""
        x_old, y_old = self._cached_x_y
        if x is not x_old or y is not y_old:
            self(x)
        assert self._cached_logDetJ is not None
        return self._cached_logDetJ


def polynomial(input_dim: int, hidden_dims: Sequence[int] | None = None) -> Polynomial:
    """A :class:`Polynomial` flow: 3 squares of degree 4, network hidden ``[10 * input_dim]``."""
    from ppl.nn.auto_reg_nn import AutoRegressiveNN

    count_degree, count_sum = 4, 3
    if hidden_dims is None:
        hidden_dims = [input_dim * 10]
    arn = AutoRegressiveNN(input_dim, hidden_dims, param_dims=[(count_degree + 1) * count_sum])
    return Polynomial(arn, input_dim=input_dim, count_degree=count_degree, count_sum=count_sum)
