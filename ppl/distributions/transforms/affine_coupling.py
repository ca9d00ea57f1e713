"""Affine coupling (RealNVP, Dinh et al. 2017): one part of the input shifts and scales the rest."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.distributions.utils import _sum_rightmost

from ppl.distributions import constraints
from ppl.distributions.conditional import ConditionalTransformModule
from ppl.distributions.torch_transform import TransformModule
from ppl.distributions.transforms.affine_autoregressive import ConditionedNN
from ppl.distributions.transforms.utils import clamp_preserve_gradients

__all__ = [
    "AffineCoupling",
    "ConditionalAffineCoupling",
    "affine_coupling",
    "conditional_affine_coupling",
]


class AffineCoupling(TransformModule):
    """RealNVP coupling layer (Pyro's ``AffineCoupling``).

    Along event dim ``dim`` the input splits into ``x1`` (first ``split_dim`` entries)
    and ``x2``: ``y1 = x1``, ``y2 = exp(log_scale) * x2 + mean`` with
    ``(mean, log_scale) = hypernet(x1 flattened)`` reshaped to ``x2``'s event shape
    and the log-scale clamped (straight-through gradient). Forward and inverse both
    cost one network pass.

    Args:
        split_dim: size of ``x1`` along ``dim``.
        hypernet: ``x1 -> (mean, log_scale)``, e.g. :class:`ppl.nn.DenseNN`.
        dim: the negative event dim to split; the event dim is ``-dim``.
        log_scale_min_clip: lower clamp of the log-scale.
        log_scale_max_clip: upper clamp of the log-scale.

    Raises:
        ValueError: if ``dim`` is not negative.

    Example:
        >>> flow = affine_coupling(4)
        >>> x = torch.randn(3, 4)
        >>> torch.allclose(flow.inv(flow(x).clone()), x, atol=1e-5)
        True
    """

    bijective = True

    def __init__(
        self,
        split_dim: int,
        hypernet: Callable[..., Any],
        *,
        dim: int = -1,
        log_scale_min_clip: float = -5.0,
        log_scale_max_clip: float = 3.0,
    ) -> None:
        super().__init__(cache_size=1)
        if dim >= 0:
            raise ValueError(f"AffineCoupling: 'dim' keyword argument must be negative, got {dim}")
        self.split_dim = split_dim
        self.nn = hypernet
        self.dim = dim
        self._cached_log_scale: torch.Tensor | None = None
        self.log_scale_min_clip = log_scale_min_clip
        self.log_scale_max_clip = log_scale_max_clip

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, -self.dim)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, -self.dim)

    def _split(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first, second = v.split([self.split_dim, v.size(self.dim) - self.split_dim], dim=self.dim)
        return first, second

    def _shift_log_scale(
        self, x1: torch.Tensor, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Network outputs for ``x1``, reshaped to the event shape of ``like`` and clamped."""
        mean, log_scale = self.nn(x1.reshape(x1.shape[: self.dim] + (-1,)))
        event = like.shape[self.dim :]
        mean = mean.reshape(mean.shape[:-1] + event)
        log_scale = log_scale.reshape(log_scale.shape[:-1] + event)
        log_scale = clamp_preserve_gradients(
            log_scale, self.log_scale_min_clip, self.log_scale_max_clip
        )
        return mean, log_scale

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self._split(x)
        mean, log_scale = self._shift_log_scale(x1, x2)
        self._cached_log_scale = log_scale
        return torch.cat([x1, torch.exp(log_scale) * x2 + mean], dim=self.dim)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        y1, y2 = self._split(y)
        mean, log_scale = self._shift_log_scale(y1, y2)
        self._cached_log_scale = log_scale
        return torch.cat([y1, (y2 - mean) * torch.exp(-log_scale)], dim=self.dim)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Sum of the log-scales over the event dims."""
        x_old, y_old = self._cached_x_y
        if self._cached_log_scale is not None and x is x_old and y is y_old:
            log_scale = self._cached_log_scale
        else:
            x1, x2 = self._split(x)
            _, log_scale = self._shift_log_scale(x1, x2)
        return _sum_rightmost(log_scale, self.event_dim)


class ConditionalAffineCoupling(ConditionalTransformModule):
    """:class:`AffineCoupling` whose hypernetwork also reads a context.

    Args:
        split_dim: size of the conditioning part.
        hypernet: ``(x1, context) -> (mean, log_scale)``, e.g. :class:`ppl.nn.ConditionalDenseNN`.
        **kwargs: keyword arguments of :class:`AffineCoupling`.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, split_dim: int, hypernet: torch.nn.Module, **kwargs: Any) -> None:
        super().__init__()
        self.split_dim = split_dim
        self.nn = hypernet
        self.kwargs = kwargs

    def condition(self, context: torch.Tensor) -> AffineCoupling:
        """The coupling layer for ``context``."""
        return AffineCoupling(self.split_dim, ConditionedNN(self.nn, context), **self.kwargs)


def _coupling_sizes(
    input_dim: int | Sequence[int], dim: int, split_dim: int | None
) -> tuple[list[int], int, int]:
    """``(event_shape, split_dim, extra)`` where ``extra`` is the size right of ``dim``."""
    if isinstance(input_dim, int):
        event_shape, extra = [input_dim], 1
    else:
        event_shape = list(input_dim)
        if len(event_shape) != -dim:
            raise ValueError(f"event shape {input_dim} must have same length as event_dim {-dim}")
        extra = math.prod(event_shape[dim + 1 :]) if dim < -1 else 1
    if split_dim is None:
        split_dim = event_shape[dim] // 2
    return event_shape, split_dim, extra


def affine_coupling(
    input_dim: int | Sequence[int],
    hidden_dims: Sequence[int] | None = None,
    split_dim: int | None = None,
    dim: int = -1,
    **kwargs: Any,
) -> AffineCoupling:
    """An :class:`AffineCoupling` with a fresh ``DenseNN`` hypernetwork.

    Args:
        input_dim: event size, or event shape (length ``-dim``) for ``dim < -1``.
        hidden_dims: hidden sizes (default ``[10 * event_shape[dim] * extra]``).
        split_dim: conditioning size along ``dim`` (default half).
        dim: the negative event dim to split.
        **kwargs: log-scale clips of :class:`AffineCoupling`.

    Raises:
        ValueError: if an event shape's length is not ``-dim``.
    """
    from ppl.nn.dense_nn import DenseNN

    shape, split_dim, extra = _coupling_sizes(input_dim, dim, split_dim)
    if hidden_dims is None:
        hidden_dims = [10 * shape[dim] * extra]
    out = (shape[dim] - split_dim) * extra
    hypernet = DenseNN(split_dim * extra, hidden_dims, [out, out])
    return AffineCoupling(split_dim, hypernet, dim=dim, **kwargs)


def conditional_affine_coupling(
    input_dim: int | Sequence[int],
    context_dim: int,
    hidden_dims: Sequence[int] | None = None,
    split_dim: int | None = None,
    dim: int = -1,
    **kwargs: Any,
) -> ConditionalAffineCoupling:
    """A :class:`ConditionalAffineCoupling` with a fresh ``ConditionalDenseNN``."""
    from ppl.nn.dense_nn import ConditionalDenseNN

    shape, split_dim, extra = _coupling_sizes(input_dim, dim, split_dim)
    if hidden_dims is None:
        hidden_dims = [10 * shape[dim] * extra]
    out = (shape[dim] - split_dim) * extra
    nn = ConditionalDenseNN(split_dim * extra, context_dim, hidden_dims, [out, out])
    return ConditionalAffineCoupling(split_dim, nn, dim=dim, **kwargs)
