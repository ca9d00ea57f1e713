"""Orthonormal linear transforms along one dim: discrete cosine and Haar wavelet.

Both are volume preserving (``log|det J| = 0``) and shape preserving; they act on
``dim`` (negative), so the event dim is ``-dim``.
"""

from __future__ import annotations

import math

import torch
from torch.distributions.transforms import Transform

from ppl.distributions import constraints
from ppl.ops.dct import dct, idct

__all__ = ["DiscreteCosineTransform", "HaarTransform", "haar_transform", "inverse_haar_transform"]

_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def haar_transform(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal discrete Haar transform along the last dim (any length).

    Pairs ``(x[2i], x[2i+1])`` become averages (recursed on) and differences; an odd
    last entry passes through.

    Example:
        >>> x = torch.tensor([1.0, 3.0, 2.0, 6.0, 5.0])
        >>> torch.allclose(inverse_haar_transform(haar_transform(x)), x)
        True
    """
    n = x.size(-1) // 2
    even, odd, tail = x[..., 0 : 2 * n : 2], x[..., 1 : 2 * n : 2], x[..., 2 * n :]
    lo = _INV_SQRT2 * (even + odd)
    hi = _INV_SQRT2 * (even - odd)
    if n >= 2:
        lo = haar_transform(lo)
    return torch.cat([lo, hi, tail], dim=-1)


def inverse_haar_transform(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_transform`."""
    n = x.size(-1) // 2
    lo, hi, tail = x[..., :n], x[..., n : 2 * n], x[..., 2 * n :]
    if n >= 2:
        lo = inverse_haar_transform(lo)
    even = _INV_SQRT2 * (lo + hi)
    odd = _INV_SQRT2 * (lo - hi)
    interleaved = torch.stack([even, odd], dim=-1).reshape(even.shape[:-1] + (-1,))
    return torch.cat([interleaved, tail], dim=-1)


class _AlongDim(Transform):
    """Shared plumbing: a shape-preserving orthonormal map along a negative ``dim``."""

    bijective = True

    def __init__(self, dim: int = -1, cache_size: int = 0) -> None:
        if not isinstance(dim, int) or dim >= 0:
            raise ValueError(f"{type(self).__name__}: dim must be a negative int, got {dim!r}")
        self.dim = dim
        super().__init__(cache_size=cache_size)

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, -self.dim)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, -self.dim)

    def _last(self, v: torch.Tensor) -> torch.Tensor:
        return v if self.dim == -1 else v.transpose(self.dim, -1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Zeros of the batch shape."""
        return x.new_zeros(x.shape[: self.dim])

    def forward_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size | tuple[int, ...]:
        if len(shape) < self.event_dim:
            raise ValueError("Too few dimensions on input")
        return shape

    def inverse_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size | tuple[int, ...]:
        if len(shape) < self.event_dim:
            raise ValueError("Too few dimensions on input")
        return shape


class DiscreteCosineTransform(_AlongDim):
    """Orthonormal DCT-II along ``dim`` (Pyro's ``DiscreteCosineTransform``).

    With ``smooth > 0`` frequency ``k`` is further scaled by ``(k + 1/2)^smooth``,
    normalized so that the Jacobian still has determinant one; larger ``smooth`` puts
    a prior on the base space that favors smoother signals.

    Args:
        dim: the negative dim to transform.
        smooth: the frequency weighting exponent.
        cache_size: 0 or 1.

    Example:
        >>> t = DiscreteCosineTransform(smooth=1.0)
        >>> x = torch.randn(5)
        >>> torch.allclose(t.inv(t(x)), x, atol=1e-5)
        True
    """

    def __init__(self, dim: int = -1, smooth: float = 0.0, cache_size: int = 0) -> None:
        self.smooth = float(smooth)
        self._weight_cache: torch.Tensor | None = None
        super().__init__(dim, cache_size=cache_size)

    def __hash__(self) -> int:
        return hash((type(self), self.dim, self.smooth))

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and self.dim == other.dim  # type: ignore[attr-defined]
            and self.smooth == other.smooth  # type: ignore[attr-defined]
        )

    @torch.no_grad()
    def _weight(self, y: torch.Tensor) -> torch.Tensor:
        n = y.size(-1)
        w = self._weight_cache
        if w is None or w.size(-1) != n or w.dtype != y.dtype or w.device != y.device:
            freq = torch.linspace(0.5, n - 0.5, n, dtype=y.dtype, device=y.device)
            w = freq.pow(self.smooth)
            w = w / w.log().mean().exp()  # geometric mean 1: |det J| stays 1
            self._weight_cache = w
        return w

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        y = dct(self._last(x))
        if self.smooth:
            y = y * self._weight(y)
        return self._last(y)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        y = self._last(y)
        if self.smooth:
            y = y / self._weight(y)
        return self._last(idct(y))

    def with_cache(self, cache_size: int = 1) -> DiscreteCosineTransform:
        if self._cache_size == cache_size:
            return self
        return DiscreteCosineTransform(self.dim, self.smooth, cache_size=cache_size)


class HaarTransform(_AlongDim):
    """Orthonormal discrete Haar wavelet transform along ``dim`` (Pyro's ``HaarTransform``).

    Args:
        dim: the negative dim to transform.
        flip: reverse the signal first (so the coarse terms describe its end).
        cache_size: 0 or 1.

    Example:
        >>> t = HaarTransform()
        >>> t(torch.tensor([1.0, 1.0]))
        tensor([1.4142, 0.0000])
    """

    def __init__(self, dim: int = -1, flip: bool = False, cache_size: int = 0) -> None:
        self.flip = flip
        super().__init__(dim, cache_size=cache_size)

    def __hash__(self) -> int:
        return hash((type(self), self.dim, self.flip))

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and self.dim == other.dim  # type: ignore[attr-defined]
            and self.flip == other.flip  # type: ignore[attr-defined]
        )

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        x = self._last(x)
        if self.flip:
            x = x.flip(-1)
        return self._last(haar_transform(x))

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        x = inverse_haar_transform(self._last(y))
        if self.flip:
            x = x.flip(-1)
        return self._last(x)

    def with_cache(self, cache_size: int = 1) -> HaarTransform:
        if self._cache_size == cache_size:
            return self
        return HaarTransform(self.dim, flip=self.flip, cache_size=cache_size)
