"""Monotonic rational splines: elementwise learnable bijections on ``[-bound, bound]``.

Design notes
------------
Each coordinate is mapped by a monotonic piecewise-rational function with ``K`` bins
on ``[-bound, bound]`` and the identity outside it. The spline is given by

* bin widths and heights (softmax-normalized, each at least ``1e-3`` of the interval),
* ``K - 1`` interior knot derivatives (softplus, plus ``1e-3``); the two boundary
  derivatives are fixed at ``1 - 1e-3`` so the map joins the identity smoothly,
* for the ``"linear"`` order only, a location ``lambda`` in each bin (sigmoid, kept in
  ``[0.025, 0.975]``).

``order="quadratic"`` is the rational-quadratic spline of Durkan et al. (2019), "Neural
Spline Flows"; ``order="linear"`` the rational-linear spline of Dolatabadi et al.
(2020), "Invertible Generative Modeling using Linear Rational Splines". Both have
closed-form inverses (a quadratic root / a Möbius map per bin).

Batch dims of the spline parameters (``(..., D, K)``, e.g. from a context network)
broadcast against the batch dims of the input ``(..., D)``.

Example:
    >>> _ = torch.manual_seed(0)
    >>> s = Spline(2, count_bins=4)
    >>> x = torch.tensor([[0.5, -4.0]])
    >>> y = s(x)
    >>> bool(y[0, 1] == -4.0), torch.allclose(s.inv(y.clone()), x, atol=1e-3)
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Transform

from ppl.distributions import constraints
from ppl.distributions.conditional import ConditionalTransformModule
from ppl.distributions.torch_transform import TransformModule

__all__ = ["ConditionalSpline", "ConditionedSpline", "Spline", "conditional_spline", "spline"]

SplineParams = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]
_ORDERS = ("linear", "quadratic")


def _check_order(order: str) -> None:
    if order not in _ORDERS:
        raise ValueError(f"Keyword argument 'order' must be one of {list(_ORDERS)}, got {order!r}")


def _knots(fractions: torch.Tensor, lo: float, hi: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin sizes and the ``K + 1`` knot positions for bins taking ``fractions`` of [lo, hi]."""
    inner = lo + (hi - lo) * torch.cumsum(fractions, dim=-1)[..., :-1]
    edge = inner.new_full(inner.shape[:-1] + (1,), lo)
    knots = torch.cat([edge, inner, edge + (hi - lo)], dim=-1)
    return knots[..., 1:] - knots[..., :-1], knots


def _pick(param: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``param[..., i, idx[..., i]]`` with the batch dims of both broadcast."""
    batch = torch.broadcast_shapes(param.shape[:-1], idx.shape[:-1])
    param = param.expand(batch + param.shape[-1:])
    return param.gather(-1, idx.expand(batch + (1,))).squeeze(-1)


def _rq_forward(x, w, cw, h, ch, s, d0, d1):
    """Rational-quadratic map of ``x`` inside its bin; returns ``(y, log dy/dx)``."""
    theta = (x - cw) / w
    t1mt = theta * (1 - theta)
    den = s + (d0 + d1 - 2 * s) * t1mt
    y = ch + h * (s * theta.pow(2) + d0 * t1mt) / den
    num = s.pow(2) * (d1 * theta.pow(2) + 2 * s * t1mt + d0 * (1 - theta).pow(2))
    return y, torch.log(num) - 2 * torch.log(den)


def _rq_inverse(y, w, cw, h, ch, s, d0, d1):
    """Inverse of :func:`_rq_forward` (the stable root of a quadratic in theta)."""
    dy = y - ch
    curv = d0 + d1 - 2 * s
    a = dy * curv + h * (s - d0)
    b = h * d0 - dy * curv
    c = -s * dy
    disc = (b.pow(2) - 4 * a * c).clamp(min=0)
    theta = (2 * c) / (-b - torch.sqrt(disc))
    x = cw + theta * w
    t1mt = theta * (1 - theta)
    den = s + curv * t1mt
    num = s.pow(2) * (d1 * theta.pow(2) + 2 * s * t1mt + d0 * (1 - theta).pow(2))
    return x, torch.log(num) - 2 * torch.log(den)


def _rl_weights(lam, ch, h, s, d0, d1):
    """Weights and the middle point ``(wa, wb, wc, ya, yb, yc)`` of a rational-linear bin."""
    wa = torch.ones_like(d0)
    wb = torch.sqrt(d0 / d1)
    wc = (lam * d0 + (1 - lam) * wb * d1) / s
    ya, yb = ch, ch + h
    yc = ((1 - lam) * ya + lam * wb * yb) / ((1 - lam) + lam * wb)
    return wa, wb, wc, ya, yb, yc


def _rl_forward(x, lam, w, cw, h, ch, s, d0, d1):
    """Rational-linear map of ``x`` inside its bin; returns ``(y, log dy/dx)``."""
    wa, wb, wc, ya, yb, yc = _rl_weights(lam, ch, h, s, d0, d1)
    theta = (x - cw) / w
    left = theta <= lam
    num = torch.where(left, wa * ya * (lam - theta) + wc * yc * theta,
                      wc * yc * (1 - theta) + wb * yb * (theta - lam))  # fmt: skip
    den = torch.where(left, wa * (lam - theta) + wc * theta,
                      wc * (1 - theta) + wb * (theta - lam))  # fmt: skip
    slope = torch.where(left, wa * wc * lam * (yc - ya), wb * wc * (1 - lam) * (yb - yc)) / w
    return num / den, torch.log(slope) - 2 * torch.log(den.abs())


def _rl_inverse(y, lam, w, cw, h, ch, s, d0, d1):
    """Inverse of :func:`_rl_forward`; returns ``(x, log dx/dy)``."""
    wa, wb, wc, ya, yb, yc = _rl_weights(lam, ch, h, s, d0, d1)
    left = y <= yc
    num = torch.where(left, lam * wa * (ya - y),
                      (wc - lam * wb) * y + lam * wb * yb - wc * yc)  # fmt: skip
    den = torch.where(left, (wc - wa) * y + wa * ya - wc * yc,
                      (wc - wb) * y + wb * yb - wc * yc)  # fmt: skip
    slope = torch.where(left, wa * wc * lam * (yc - ya), wb * wc * (1 - lam) * (yb - yc)) * w
    return cw + (num / den) * w, torch.log(slope) - 2 * torch.log(den.abs())


def monotonic_rational_spline(
    inputs: torch.Tensor,
    widths: torch.Tensor,
    heights: torch.Tensor,
    derivatives: torch.Tensor,
    lambdas: torch.Tensor | None = None,
    inverse: bool = False,
    bound: float = 3.0,
    min_bin_width: float = 1e-3,
    min_bin_height: float = 1e-3,
    min_derivative: float = 1e-3,
    min_lambda: float = 0.025,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply (or invert) an elementwise monotonic rational spline.

    Args:
        inputs: ``(..., D)`` values.
        widths, heights: ``(..., D, K)`` normalized bin fractions (rows sum to 1).
        derivatives: ``(..., D, K - 1)`` positive interior knot derivatives.
        lambdas: ``(..., D, K)`` in ``(0, 1)`` for the linear order; ``None`` selects
            the rational-quadratic spline.
        inverse: map ``y -> x`` instead of ``x -> y``.
        bound: the spline acts on ``[-bound, bound]``; the identity outside.

    Returns:
        ``(outputs, log|d outputs / d inputs|)``, both of the shape of ``inputs``.

    Raises:
        ValueError: if ``bound`` is not positive or the minimal bin sizes exceed the
            interval for ``K`` bins.
    """
    if not bound > 0:
        raise ValueError(f"bound must be positive, got {bound}")
    num_bins = widths.shape[-1]
    if min_bin_width * num_bins > 1.0:
        raise ValueError("Minimal bin width too large for the number of bins")
    if min_bin_height * num_bins > 1.0:
        raise ValueError("Minimal bin height too large for the number of bins")

    widths = min_bin_width + (1 - min_bin_width * num_bins) * widths
    heights = min_bin_height + (1 - min_bin_height * num_bins) * heights
    widths, cumwidths = _knots(widths, -bound, bound)
    heights, cumheights = _knots(heights, -bound, bound)
    derivatives = F.pad(min_derivative + derivatives, (1, 1), value=1.0 - min_derivative)

    inside = (inputs >= -bound) & (inputs <= bound)
    z = inputs.clamp(-bound, bound)  # keeps the unused branch finite outside the interval
    edges = (cumheights if inverse else cumwidths) + eps
    idx = (z.unsqueeze(-1) >= edges).sum(-1, keepdim=True) - 1
    idx = idx.clamp(0, num_bins - 1)

    w, cw = _pick(widths, idx), _pick(cumwidths[..., :-1], idx)
    h, ch = _pick(heights, idx), _pick(cumheights[..., :-1], idx)
    s = _pick(heights / widths, idx)
    d0, d1 = _pick(derivatives[..., :-1], idx), _pick(derivatives[..., 1:], idx)

    if lambdas is None:
        rq = _rq_inverse if inverse else _rq_forward
        out, logdet = rq(z, w, cw, h, ch, s, d0, d1)
        if inverse:
            logdet = -logdet
    else:
        lam = _pick((1 - 2 * min_lambda) * lambdas + min_lambda, idx)
        rl = _rl_inverse if inverse else _rl_forward
        out, logdet = rl(z, lam, w, cw, h, ch, s, d0, d1)
    out = torch.where(inside, out, inputs)
    return out, torch.where(inside, logdet, torch.zeros_like(logdet))


class ConditionedSpline(Transform):
    """An elementwise spline with given (or lazily computed) parameters.

    Args:
        params: ``(widths, heights, derivatives, lambdas)`` normalized as in
            :func:`monotonic_rational_spline`, or a callable returning them.
        bound: half-width of the spline's interval.
        order: ``"linear"`` or ``"quadratic"``.
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True

    def __init__(
        self,
        params: SplineParams | Callable[[], SplineParams],
        bound: float = 3.0,
        order: str = "linear",
    ) -> None:
        super().__init__(cache_size=1)
        self._params = params
        self.order = order
        self.bound = bound
        self._cache_log_detJ: torch.Tensor | None = None

    def spline_op(self, x: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(output, log|d output / d input|)``; ``inverse=True`` maps ``y -> x``."""
        w, h, d, lam = self._params() if callable(self._params) else self._params
        return monotonic_rational_spline(x, w, h, d, lam, bound=self.bound, **kwargs)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        y, self._cache_log_detJ = self.spline_op(x)
        return y

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        x, log_det = self.spline_op(y, inverse=True)
        self._cache_log_detJ = -log_det
        return x

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Elementwise ``log|dy/dx|`` (shape of ``x``)."""
        x_old, y_old = self._cached_x_y
        if x is not x_old or y is not y_old:
            self(x)
        assert self._cache_log_detJ is not None
        return self._cache_log_detJ


class Spline(ConditionedSpline, TransformModule):
    """Elementwise learnable spline flow (Pyro's ``Spline``).

    Args:
        input_dim: number of coordinates ``D``.
        count_bins: number of bins ``K``.
        bound: the spline acts on ``[-bound, bound]`` (identity outside).
        order: ``"linear"`` (Dolatabadi et al. 2020) or ``"quadratic"`` (Durkan et al. 2019).

    Raises:
        ValueError: for an unknown ``order``.

    Example:
        >>> flow = Spline(3, count_bins=6, order="quadratic")
        >>> tuple(flow.log_abs_det_jacobian(torch.zeros(2, 3), flow(torch.zeros(2, 3))).shape)
        (2, 3)
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True

    def __init__(
        self, input_dim: int, count_bins: int = 8, bound: float = 3.0, order: str = "linear"
    ) -> None:
        _check_order(order)
        super().__init__(self._unpacked_params, bound=bound, order=order)
        self.input_dim = input_dim
        self.count_bins = count_bins
        self.unnormalized_widths = nn.Parameter(torch.randn(input_dim, count_bins))
        self.unnormalized_heights = nn.Parameter(torch.randn(input_dim, count_bins))
        self.unnormalized_derivatives = nn.Parameter(torch.randn(input_dim, count_bins - 1))
        if order == "linear":
            self.unnormalized_lambdas = nn.Parameter(torch.rand(input_dim, count_bins))

    def _unpacked_params(self) -> SplineParams:
        w = F.softmax(self.unnormalized_widths, dim=-1)
        h = F.softmax(self.unnormalized_heights, dim=-1)
        d = F.softplus(self.unnormalized_derivatives)
        lam = torch.sigmoid(self.unnormalized_lambdas) if self.order == "linear" else None
        return w, h, d, lam


class ConditionalSpline(ConditionalTransformModule):
    """Elementwise spline whose parameters a network computes from a context.

    Args:
        nn: ``context -> (w, h, d[, l])``; each either ``(..., D * K)``-sized (a dense
            net) or ``(..., K, D)`` (an autoregressive net).
        input_dim: number of coordinates ``D``.
        count_bins: number of bins ``K``.
        bound: half-width of the interval.
        order: ``"linear"`` (four outputs) or ``"quadratic"`` (three).

    Example:
        >>> flow = conditional_spline(2, context_dim=3, count_bins=4)
        >>> tuple(flow.condition(torch.zeros(3))(torch.zeros(5, 2)).shape)
        (5, 2)
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True

    def __init__(
        self,
        nn: Callable[..., Any],
        input_dim: int,
        count_bins: int,
        bound: float = 3.0,
        order: str = "linear",
    ) -> None:
        _check_order(order)
        super().__init__()
        self.nn = nn
        self.input_dim = input_dim
        self.count_bins = count_bins
        self.bound = bound
        self.order = order

    def _shape(self, t: torch.Tensor, bins: int, autoregressive: bool) -> torch.Tensor:
        if autoregressive:
            return t.transpose(-1, -2)
        return t.reshape(t.shape[:-1] + (self.input_dim, bins))

    def _params(self, context: torch.Tensor) -> SplineParams:
        out = self.nn(context)
        w, h, d = out[:3]
        autoregressive = w.shape[-1] == self.input_dim
        lam = None
        if self.order == "linear":
            lam = torch.sigmoid(self._shape(out[3], self.count_bins, autoregressive))
        w = F.softmax(self._shape(w, self.count_bins, autoregressive), dim=-1)
        h = F.softmax(self._shape(h, self.count_bins, autoregressive), dim=-1)
        d = F.softplus(self._shape(d, self.count_bins - 1, autoregressive))
        return w, h, d, lam

    def condition(self, context: torch.Tensor) -> ConditionedSpline:
        """The spline for ``context`` (its parameters are computed when it is applied)."""
        return ConditionedSpline(lambda: self._params(context), bound=self.bound, order=self.order)


def spline(input_dim: int, **kwargs: Any) -> Spline:
    """A :class:`Spline` flow (keyword arguments as its constructor)."""
    return Spline(input_dim, **kwargs)


def conditional_spline(
    input_dim: int,
    context_dim: int,
    hidden_dims: Sequence[int] | None = None,
    count_bins: int = 8,
    bound: float = 3.0,
    order: str = "linear",
) -> ConditionalSpline:
    """A :class:`ConditionalSpline` with a fresh ``DenseNN`` on the context.

    Args:
        input_dim: number of coordinates.
        context_dim: context size.
        hidden_dims: hidden sizes (default ``[10 * input_dim, 10 * input_dim]``).
        count_bins: number of bins.
        bound: half-width of the interval.
        order: ``"linear"`` or ``"quadratic"``.
    """
    from ppl.nn.dense_nn import DenseNN

    _check_order(order)
    if hidden_dims is None:
        hidden_dims = [input_dim * 10, input_dim * 10]
    sizes = [input_dim * count_bins, input_dim * count_bins, input_dim * (count_bins - 1)]
    if order == "linear":
        sizes.append(input_dim * count_bins)
    nn = DenseNN(context_dim, hidden_dims, param_dims=sizes)
    return ConditionalSpline(nn, input_dim, count_bins, bound=bound, order=order)
