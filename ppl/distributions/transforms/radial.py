"""Radial flow (Rezende & Mohamed 2015): contract or expand around a point ``x0``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Transform

from ppl.distributions import constraints
from ppl.distributions.conditional import ContextNetTransformModule
from ppl.distributions.torch_transform import TransformModule
from ppl.distributions.transforms._no_inverse import no_inverse

__all__ = ["ConditionalRadial", "ConditionedRadial", "Radial", "conditional_radial", "radial"]

RadialParams = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class ConditionedRadial(Transform):
    """``y = x + beta h(r) (x - x0)``, ``h = 1 / (alpha + r)``, ``r = |x - x0|``.

    ``alpha = softplus(alpha')`` and ``beta = softplus(beta') - alpha`` (so the map is
    invertible). No closed-form inverse: ``inv`` only returns cached values.

    Args:
        params: ``(x0, alpha', beta')`` or a callable returning them.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    _inverse_unavailable = True

    def __init__(self, params: RadialParams | Callable[[], RadialParams]) -> None:
        super().__init__(cache_size=1)
        self._params = params
        self._cached_logDetJ: torch.Tensor | None = None

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        x0, alpha_prime, beta_prime = self._params() if callable(self._params) else self._params
        alpha = F.softplus(alpha_prime)
        beta = F.softplus(beta_prime) - alpha
        diff = x - x0
        r = diff.norm(dim=-1, keepdim=True)
        h = 1 / (alpha + r)
        beta_h = beta * h
        # det J = (1 + beta h)^(D-1) (1 + beta h + beta h'(r) r), with h' = -h^2
        self._cached_logDetJ = (
            (x0.size(-1) - 1) * torch.log1p(beta_h) + torch.log1p(beta_h - beta * h.pow(2) * r)
        ).sum(-1)
        return x + beta_h * diff

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise no_inverse(type(self).__name__)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``log|det J|`` (recomputed unless ``(x, y)`` is cached)."""
        x_old, y_old = self._cached_x_y
        if x is not x_old or y is not y_old:
            self(x)
        assert self._cached_logDetJ is not None
        return self._cached_logDetJ


class Radial(ConditionedRadial, TransformModule):
    """Learnable radial flow (Pyro's ``Radial``); parameters ``x0 (D,)``,
    ``alpha_prime (1,)``, ``beta_prime (1,)``.

    Args:
        input_dim: event size ``D``.

    Example:
        >>> flow = Radial(3)
        >>> tuple(flow(torch.zeros(5, 3)).shape)
        (5, 3)
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, input_dim: int) -> None:
        super().__init__(self._flow_params)
        self.x0 = nn.Parameter(torch.empty(input_dim))
        self.alpha_prime = nn.Parameter(torch.empty(1))
        self.beta_prime = nn.Parameter(torch.empty(1))
        self.input_dim = input_dim
        self.reset_parameters()

    def _flow_params(self) -> RadialParams:
        return self.x0, self.alpha_prime, self.beta_prime

    def reset_parameters(self) -> None:
        """Every parameter ``~ U(-1/sqrt(D), 1/sqrt(D))``."""
        bound = 1.0 / math.sqrt(self.x0.size(0))
        with torch.no_grad():
            self.alpha_prime.uniform_(-bound, bound)
            self.beta_prime.uniform_(-bound, bound)
            self.x0.uniform_(-bound, bound)


class ConditionalRadial(ContextNetTransformModule):
    """Radial flow whose ``(x0, alpha', beta')`` a network computes from a context."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    conditioned = ConditionedRadial


def radial(input_dim: int) -> Radial:
    """A :class:`Radial` flow."""
    return Radial(input_dim)


def conditional_radial(
    input_dim: int, context_dim: int, hidden_dims: Sequence[int] | None = None
) -> ConditionalRadial:
    """A :class:`ConditionalRadial` with a fresh ``DenseNN`` (default hidden ``[10 D, 10 D]``)."""
    from ppl.nn.dense_nn import DenseNN

    if hidden_dims is None:
        hidden_dims = [input_dim * 10, input_dim * 10]
    nn = DenseNN(context_dim, hidden_dims, param_dims=[input_dim, 1, 1])
    return ConditionalRadial(nn)  # type: ignore[arg-type]
