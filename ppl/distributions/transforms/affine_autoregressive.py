"""Inverse autoregressive flow: an affine map whose shift and scale come from a MADE.

Design notes
------------
``y = mu(x) + sigma(x) * x`` with ``(mu, log sigma) = arn(x)`` autoregressive, so
``y_i`` depends on ``x_j`` only for ``j`` before ``i`` in the network's permutation; the
Jacobian is triangular up to that permutation and ``log|det J| = sum(log sigma)``.
``log sigma`` is clamped to ``[log_scale_min_clip, log_scale_max_clip]`` with a
straight-through gradient.

The *stable* variant (Kingma et al. 2016, eq. 14) uses ``s = sigmoid(logit + bias)``
and ``y = s * x + (1 - s) * mu``.

Sampling (forward) is one network pass. The inverse needs ``D`` passes, one per
coordinate in permutation order; the transform has ``cache_size=1``, so scoring the
sample it just produced is free. ``log_abs_det_jacobian`` reuses the log-scale of the
last call when ``(x, y)`` is the cached pair and recomputes the forward otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ppl.distributions import constraints
from ppl.distributions.conditional import ConditionalTransformModule
from ppl.distributions.torch_transform import TransformModule
from ppl.distributions.transforms.utils import clamp_preserve_gradients

__all__ = [
    "AffineAutoregressive",
    "ConditionalAffineAutoregressive",
    "affine_autoregressive",
    "conditional_affine_autoregressive",
]


class ConditionedNN:
    """A conditional network with its context fixed: ``ConditionedNN(net, c)(x) == net(x, c)``.

    Exposes ``permutation`` and ``get_permutation`` of autoregressive networks, so the
    result can stand in for an ``AutoRegressiveNN``.
    """

    def __init__(self, nn: Any, context: torch.Tensor) -> None:
        self.func = nn
        self.context = context

    def __call__(self, x: torch.Tensor) -> Any:
        return self.func(x, context=self.context)

    @property
    def permutation(self) -> torch.Tensor:
        return self.func.permutation

    def get_permutation(self) -> torch.Tensor:
        return self.func.get_permutation()


class AffineAutoregressive(TransformModule):
    """Inverse autoregressive flow (Kingma et al. 2016) (Pyro's ``AffineAutoregressive``).

    Args:
        autoregressive_nn: a network ``x -> (mean, log_scale)`` (or ``(mean,
            logit_scale)`` when ``stable``) with a ``permutation`` attribute, e.g.
            :class:`ppl.nn.AutoRegressiveNN`.
        log_scale_min_clip: lower clamp of the log-scale.
        log_scale_max_clip: upper clamp of the log-scale.
        sigmoid_bias: added to the logit in the stable variant.
        stable: use ``y = s * x + (1 - s) * mean`` with ``s = sigmoid(logit + bias)``.

    Example:
        >>> from ppl.nn import AutoRegressiveNN
        >>> flow = AffineAutoregressive(AutoRegressiveNN(3, [10]))
        >>> x = torch.randn(4, 3)
        >>> torch.allclose(flow.inv(flow(x)), x)  # the cached input
        True
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    sign = +1
    autoregressive = True

    def __init__(
        self,
        autoregressive_nn: Any,
        log_scale_min_clip: float = -5.0,
        log_scale_max_clip: float = 3.0,
        sigmoid_bias: float = 2.0,
        stable: bool = False,
    ) -> None:
        super().__init__(cache_size=1)
        self.arn = autoregressive_nn
        self._cached_log_scale: torch.Tensor | None = None
        self.log_scale_min_clip = log_scale_min_clip
        self.log_scale_max_clip = log_scale_max_clip
        self.sigmoid_bias = sigmoid_bias
        self.stable = stable

    def _clamp(self, log_scale: torch.Tensor) -> torch.Tensor:
        return clamp_preserve_gradients(log_scale, self.log_scale_min_clip, self.log_scale_max_clip)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        mean, raw = self.arn(x)
        if self.stable:
            logit = raw + self.sigmoid_bias
            scale = torch.sigmoid(logit)
            self._cached_log_scale = F.logsigmoid(logit)
            return scale * x + (1 - scale) * mean
        log_scale = self._clamp(raw)
        self._cached_log_scale = log_scale
        return torch.exp(log_scale) * x + mean

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        # Solve coordinate by coordinate in permutation order: the network's output for
        # coordinate i only reads coordinates solved before it.
        cols = [y.new_zeros(y.shape[:-1])] * y.size(-1)
        raw = mean = y
        for i in [int(j) for j in self.arn.permutation]:
            mean, raw = self.arn(torch.stack(cols, dim=-1))
            if self.stable:
                inv_scale = 1 + torch.exp(-raw[..., i] - self.sigmoid_bias)
                cols[i] = inv_scale * y[..., i] + (1 - inv_scale) * mean[..., i]
            else:
                inv_scale = torch.exp(-self._clamp(raw[..., i]))
                cols[i] = (y[..., i] - mean[..., i]) * inv_scale
        if self.stable:
            self._cached_log_scale = F.logsigmoid(raw + self.sigmoid_bias)
        else:
            self._cached_log_scale = self._clamp(raw)
        return torch.stack(cols, dim=-1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum(log scale)`` over the last dim."""
        x_old, y_old = self._cached_x_y
        if x is not x_old or y is not y_old:
            self(x)
        if self._cached_log_scale is not None:
            log_scale = self._cached_log_scale
        elif self.stable:
            log_scale = F.logsigmoid(self.arn(x)[1] + self.sigmoid_bias)
        else:
            log_scale = self._clamp(self.arn(x)[1])
        return log_scale.sum(-1)


class ConditionalAffineAutoregressive(ConditionalTransformModule):
    """IAF whose network also reads a context (Pyro's ``ConditionalAffineAutoregressive``).

    Args:
        autoregressive_nn: a network ``(x, context) -> (mean, log_scale)`` such as
            :class:`ppl.nn.ConditionalAutoRegressiveNN`.
        **kwargs: keyword arguments of :class:`AffineAutoregressive`.

    Example:
        >>> flow = conditional_affine_autoregressive(3, context_dim=2)
        >>> tuple(flow.condition(torch.zeros(2))(torch.zeros(5, 3)).shape)
        (5, 3)
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, autoregressive_nn: torch.nn.Module, **kwargs: Any) -> None:
        super().__init__()
        self.nn = autoregressive_nn
        self.kwargs = kwargs

    def condition(self, context: torch.Tensor) -> AffineAutoregressive:
        """The :class:`AffineAutoregressive` flow for ``context``."""
        return AffineAutoregressive(ConditionedNN(self.nn, context), **self.kwargs)


def affine_autoregressive(
    input_dim: int, hidden_dims: Sequence[int] | None = None, **kwargs: Any
) -> AffineAutoregressive:
    """An :class:`AffineAutoregressive` flow with a fresh ``AutoRegressiveNN``.

    Args:
        input_dim: event size.
        hidden_dims: hidden sizes of the network (default ``[3 * input_dim + 1]``).
        **kwargs: keyword arguments of :class:`AffineAutoregressive`.

    Example:
        >>> tuple(affine_autoregressive(4)(torch.zeros(4)).shape)
        (4,)
    """
    from ppl.nn.auto_reg_nn import AutoRegressiveNN

    if hidden_dims is None:
        hidden_dims = [3 * input_dim + 1]
    return AffineAutoregressive(AutoRegressiveNN(input_dim, hidden_dims), **kwargs)


def conditional_affine_autoregressive(
    input_dim: int, context_dim: int, hidden_dims: Sequence[int] | None = None, **kwargs: Any
) -> ConditionalAffineAutoregressive:
    """A :class:`ConditionalAffineAutoregressive` with a fresh conditional MADE.

    Args:
        input_dim: event size.
        context_dim: context size.
        hidden_dims: hidden sizes (default ``[10 * input_dim]``).
        **kwargs: keyword arguments of :class:`AffineAutoregressive`.
    """
    from ppl.nn.auto_reg_nn import ConditionalAutoRegressiveNN

    if hidden_dims is None:
        hidden_dims = [10 * input_dim]
    nn = ConditionalAutoRegressiveNN(input_dim, context_dim, hidden_dims)
    return ConditionalAffineAutoregressive(nn, **kwargs)
