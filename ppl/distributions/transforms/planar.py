"""Planar flow (Rezende & Mohamed 2015): ``y = x + u_hat * tanh(w . x + b)``."""

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

__all__ = ["ConditionalPlanar", "ConditionedPlanar", "Planar", "conditional_planar", "planar"]

PlanarParams = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class ConditionedPlanar(Transform):
    """A planar map with given ``(bias, u, w)`` (or a callable returning them).

    ``u`` is replaced by ``u_hat = u + (softplus(u.w) - 1 - u.w) w / |w|^2`` so that
    ``u_hat . w >= -1``, which makes the map invertible. There is no closed-form
    inverse: ``inv`` only returns cached values and raises otherwise.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    _inverse_unavailable = True

    def __init__(self, params: PlanarParams | Callable[[], PlanarParams]) -> None:
        super().__init__(cache_size=1)
        self._params = params
        self._cached_logDetJ: torch.Tensor | None = None

    def u_hat(self, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The constrained ``u`` (so that the map is invertible)."""
        alpha = (u * w).sum(-1, keepdim=True)
        return u + (F.softplus(alpha) - 1 - alpha) * w / w.pow(2).sum(-1, keepdim=True)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        bias, u, w = self._params() if callable(self._params) else self._params
        act = torch.tanh((w * x).sum(-1, keepdim=True) + bias)
        u_hat = self.u_hat(u, w)
        psi = (1 - act.pow(2)) * w
        self._cached_logDetJ = torch.log(torch.abs(1 + (psi * u_hat).sum(-1)))
        return x + u_hat * act

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise no_inverse(type(self).__name__)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``log|1 + u_hat . psi(x)|`` (recomputed unless ``(x, y)`` is cached)."""
        x_old, y_old = self._cached_x_y
        if x is not x_old or y is not y_old:
            self(x)
        assert self._cached_logDetJ is not None
        return self._cached_logDetJ


class Planar(ConditionedPlanar, TransformModule):
    """Learnable planar flow (Pyro's ``Planar``); parameters ``bias (1,)``, ``u, w (D,)``.

    Args:
        input_dim: event size ``D``.

    Example:
        >>> flow = Planar(3)
        >>> tuple(flow(torch.zeros(5, 3)).shape)
        (5, 3)
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, input_dim: int) -> None:
        super().__init__(self._flow_params)
        self.bias = nn.Parameter(torch.empty(1))
        self.u = nn.Parameter(torch.empty(input_dim))
        self.w = nn.Parameter(torch.empty(input_dim))
        self.input_dim = input_dim
        self.reset_parameters()

    def _flow_params(self) -> PlanarParams:
        return self.bias, self.u, self.w

    def reset_parameters(self) -> None:
        """``u, w ~ U(-1/sqrt(D), 1/sqrt(D))``, ``bias = 0``."""
        bound = 1.0 / math.sqrt(self.u.size(0))
        with torch.no_grad():
            self.w.uniform_(-bound, bound)
            self.u.uniform_(-bound, bound)
            self.bias.zero_()


class ConditionalPlanar(ContextNetTransformModule):
    """Planar flow whose ``(bias, u, w)`` a network computes from a context.

    Args:
        nn: ``context -> (bias (..., 1), u (..., D), w (..., D))``.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    conditioned = ConditionedPlanar


def planar(input_dim: int) -> Planar:
    """A :class:`Planar` flow."""
    return Planar(input_dim)


def conditional_planar(
    input_dim: int, context_dim: int, hidden_dims: Sequence[int] | None = None
) -> ConditionalPlanar:
    """A :class:`ConditionalPlanar` with a fresh ``DenseNN`` (default hidden ``[10 D, 10 D]``)."""
    from ppl.nn.dense_nn import DenseNN

    if hidden_dims is None:
        hidden_dims = [input_dim * 10, input_dim * 10]
    nn = DenseNN(context_dim, hidden_dims, param_dims=[1, input_dim, input_dim])
    return ConditionalPlanar(nn)  # type: ignore[arg-type]
