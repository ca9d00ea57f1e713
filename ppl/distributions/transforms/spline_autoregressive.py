"""Spline autoregressive flow: each coordinate's spline is computed from the earlier ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ppl.distributions import constraints
from ppl.distributions.conditional import ConditionalTransformModule
from ppl.distributions.torch_transform import TransformModule
from ppl.distributions.transforms.affine_autoregressive import ConditionedNN
from ppl.distributions.transforms.spline import ConditionalSpline

__all__ = [
    "ConditionalSplineAutoregressive",
    "SplineAutoregressive",
    "conditional_spline_autoregressive",
    "spline_autoregressive",
]


class SplineAutoregressive(TransformModule):
    """Autoregressive spline flow (Durkan et al. 2019) (Pyro's ``SplineAutoregressive``).

    ``y_i = g_i(x_i)`` with an elementwise spline whose parameters an autoregressive
    network computes from the coordinates before ``i`` (in its permutation). The
    forward is one network pass; the inverse takes ``D`` passes (a fixed-point sweep,
    exact after ``D`` rounds).

    Args:
        input_dim: event size ``D``.
        autoregressive_nn: network with ``param_dims=[K, K, K - 1, K]`` (linear) or
            ``[K, K, K - 1]`` (quadratic), e.g. :class:`ppl.nn.AutoRegressiveNN`.
        count_bins: bins ``K``.
        bound: half-width of the interval.
        order: ``"linear"`` or ``"quadratic"``.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> flow = spline_autoregressive(3, count_bins=4)
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(flow.inv(flow(x).clone()), x, atol=1e-3)  # float32 round trip
        True
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    autoregressive = True

    def __init__(
        self,
        input_dim: int,
        autoregressive_nn: Any,
        count_bins: int = 8,
        bound: float = 3.0,
        order: str = "linear",
    ) -> None:
        super().__init__(cache_size=1)
        self.arn = autoregressive_nn
        self.spline = ConditionalSpline(autoregressive_nn, input_dim, count_bins, bound, order)
        self._cache_log_detJ: torch.Tensor | None = None

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        spline = self.spline.condition(x)
        y = spline(x)
        self._cache_log_detJ = spline._cache_log_detJ
        return y

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        # After round k the first k coordinates (in the network's order) are exact.
        x = torch.zeros_like(y)
        log_det = None
        for _ in range(y.size(-1)):
            spline = self.spline.condition(x)
            x = spline._inverse(y)
            log_det = spline._cache_log_detJ
        self._cache_log_detJ = log_det
        return x

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Sum of the per-coordinate log-derivatives."""
        x_old, y_old = self._cached_x_y
        if x is not x_old or y is not y_old:
            self(x)
        assert self._cache_log_detJ is not None
        return self._cache_log_detJ.sum(-1)


class ConditionalSplineAutoregressive(ConditionalTransformModule):
    """:class:`SplineAutoregressive` whose network also reads a context.

    Args:
        input_dim: event size.
        autoregressive_nn: e.g. :class:`ppl.nn.ConditionalAutoRegressiveNN`.
        **kwargs: ``count_bins``, ``bound``, ``order`` of :class:`SplineAutoregressive`.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, input_dim: int, autoregressive_nn: torch.nn.Module, **kwargs: Any) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.nn = autoregressive_nn
        self.kwargs = kwargs

    def condition(self, context: torch.Tensor) -> SplineAutoregressive:
        """The :class:`SplineAutoregressive` flow for ``context``."""
        return SplineAutoregressive(self.input_dim, ConditionedNN(self.nn, context), **self.kwargs)


def _param_dims(count_bins: int, order: str) -> list[int]:
    dims = [count_bins, count_bins, count_bins - 1]
    return dims + [count_bins] if order == "linear" else dims


def spline_autoregressive(
    input_dim: int,
    hidden_dims: Sequence[int] | None = None,
    count_bins: int = 8,
    bound: float = 3.0,
    order: str = "linear",
) -> SplineAutoregressive:
    """A :class:`SplineAutoregressive` with a fresh ``AutoRegressiveNN``.

    Args:
        input_dim: event size.
        hidden_dims: hidden sizes (default ``[10 * input_dim, 10 * input_dim]``).
        count_bins: bins.
        bound: half-width of the interval.
        order: ``"linear"`` or ``"quadratic"``.
    """
    from ppl.nn.auto_reg_nn import AutoRegressiveNN

    if hidden_dims is None:
        hidden_dims = [input_dim * 10, input_dim * 10]
    arn = AutoRegressiveNN(input_dim, hidden_dims, param_dims=_param_dims(count_bins, order))
    return SplineAutoregressive(input_dim, arn, count_bins=count_bins, bound=bound, order=order)


def conditional_spline_autoregressive(
    input_dim: int,
    context_dim: int,
    hidden_dims: Sequence[int] | None = None,
    count_bins: int = 8,
    bound: float = 3.0,
    order: str = "linear",
) -> ConditionalSplineAutoregressive:
    """A :class:`ConditionalSplineAutoregressive` with a fresh conditional MADE."""
    from ppl.nn.auto_reg_nn import ConditionalAutoRegressiveNN

    if hidden_dims is None:
        hidden_dims = [input_dim * 10, input_dim * 10]
    arn = ConditionalAutoRegressiveNN(
        input_dim, context_dim, hidden_dims, param_dims=_param_dims(count_bins, order)
    )
    return ConditionalSplineAutoregressive(
        input_dim, arn, count_bins=count_bins, bound=bound, order=order
    )
