"""Orthonormal discrete cosine transforms (DCT-II and its inverse) via ``torch.fft``.

Why: time-series parameters often vary smoothly; an optimizer that also follows the
gradient in frequency space (``ppl.optim.DCTAdam``) and the ``DiscreteCosineReparam``
reparameterizer both need a DCT that works on any dim, device and dtype, and is
differentiable. torch has FFTs but no DCT, so it is built from one complex FFT of
length ``N`` (Makhoul's even/odd reordering).

``dct`` is scaled to be orthonormal (``norm="ortho"`` in scipy): ``idct(dct(x)) == x``
and ``dct`` preserves the Euclidean norm.

Example:
    >>> x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    >>> bool(torch.allclose(idct(dct(x)), x))
    True
    >>> round(float(dct(torch.ones(4))[0]), 4)  # the DC term: sum / sqrt(N)
    2.0
"""

from __future__ import annotations

import math

import torch

__all__ = ["dct", "idct", "next_fast_len"]

_FAST_LEN_CACHE: dict[int, int] = {}


def next_fast_len(size: int) -> int:
    """The smallest ``n >= size`` whose only prime factors are 2, 3 and 5.

    FFTs of such lengths are fast; ``scipy.fftpack.next_fast_len`` agrees.

    Raises:
        ValueError: ``size`` is not a positive int.

    Example:
        >>> next_fast_len(7), next_fast_len(11), next_fast_len(16)
        (8, 12, 16)
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"next_fast_len: size must be a positive int, got {size!r}")
    if size in _FAST_LEN_CACHE:
        return _FAST_LEN_CACHE[size]
    n = size
    while True:
        rest = n
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            _FAST_LEN_CACHE[size] = n
            return n
        n += 1


def _twiddle(n: int, like: torch.Tensor) -> torch.Tensor:
    """``exp(-i pi k / (2n))`` for ``k = 0..n-1``, complex, on ``like``'s device."""
    k = torch.arange(n, device=like.device, dtype=like.dtype)
    return torch.polar(torch.ones_like(k), -math.pi * k / (2 * n))


def _scale(n: int, like: torch.Tensor) -> torch.Tensor:
    """Orthonormal scale per frequency: ``sqrt(1/n)`` for k = 0, ``sqrt(2/n)`` otherwise."""
    s = torch.full((n,), math.sqrt(2.0 / n), device=like.device, dtype=like.dtype)
    s[0] = math.sqrt(1.0 / n)
    return s


def dct(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Orthonormal DCT-II of ``x`` along ``dim``.

    ``X_k = s_k * sum_n x_n cos(pi k (2n + 1) / (2N))`` with ``s_0 = sqrt(1/N)`` and
    ``s_k = sqrt(2/N)``; same shape as ``x``.
    """
    if not x.is_floating_point():
        raise TypeError(f"dct: expected a floating point tensor, got dtype {x.dtype}")
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    reordered = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    spectrum = torch.fft.fft(reordered, dim=-1)
    out = (spectrum * _twiddle(n, x)).real * _scale(n, x)
    return out.movedim(-1, dim)


def idct(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Inverse of :func:`dct` (the orthonormal DCT-III) along ``dim``."""
    if not x.is_floating_point():
        raise TypeError(f"idct: expected a floating point tensor, got dtype {x.dtype}")
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    unscaled = x / _scale(n, x)
    # V_k = conj(twiddle_k) * (X_k - i X_{n-k}), with X_n = 0
    mirrored = torch.cat([torch.zeros_like(unscaled[..., :1]), unscaled[..., 1:].flip(-1)], -1)
    spectrum = torch.complex(unscaled, -mirrored) * _twiddle(n, x).conj()
    reordered = torch.fft.ifft(spectrum, dim=-1).real
    half = (n + 1) // 2
    out = torch.empty_like(reordered)
    out[..., ::2] = reordered[..., :half]
    out[..., 1::2] = reordered[..., half:].flip(-1)
    return out.movedim(-1, dim)
