"""Tensor algebra helpers at Pyro's path ``pyro.ops.tensor_utils``.

Why: time-series models, Gaussian helpers and Pyro's own tests import these names
from this one module. Each function is pure torch (no handlers, no state) and
works on any device and dtype; the DCT pair lives in :mod:`ppl.ops.dct` and is
re-exported here.

Example:
    >>> periodic_repeat(torch.tensor([1, 2]), 5, 0).tolist()
    [1, 2, 1, 2, 1]
    >>> convolve(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0])).round().tolist()
    [1.0, 2.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.fft import irfft, rfft

from ppl.ops.dct import dct, idct, next_fast_len

__all__ = [
    "CHOLESKY_RELATIVE_JITTER",
    "as_complex",
    "block_diag_embed",
    "block_diagonal",
    "broadcast_tensors_without_dim",
    "cholesky_solve",
    "convolve",
    "dct",
    "haar_transform",
    "idct",
    "inverse_haar_transform",
    "matmul",
    "matvecmul",
    "next_fast_len",
    "periodic_cumsum",
    "periodic_features",
    "periodic_repeat",
    "precision_to_scale_tril",
    "repeated_matmul",
    "safe_cholesky",
    "safe_normalize",
    "triangular_solve",
]

#: Jitter added to the diagonal by :func:`safe_cholesky`, in units of
#: ``finfo(dtype).eps`` times the largest absolute entry of each row.
#: Set it to 0 to disable jitter.
CHOLESKY_RELATIVE_JITTER = 4.0

_SQRT_HALF = math.sqrt(0.5)


def _negative_dim(dim: int, ndim: int) -> int:
    return dim - ndim if dim >= 0 else dim


def as_complex(x: torch.Tensor) -> torch.Tensor:
    """:func:`torch.view_as_complex` that first copies ``x`` when its strides forbid a view.

    ``x`` has a trailing dim of size 2 holding (real, imag) pairs.

    Example:
        >>> as_complex(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([1.+2.j, 3.+4.j])
    """
    if x.size(-1) != 2:
        raise ValueError(
            f"as_complex: expected a trailing dim of size 2, got shape {tuple(x.shape)}"
        )
    if x.stride(-1) != 1 or x.storage_offset() % 2 or any(s % 2 for s in x.stride()[:-1]):
        x = x.clone(memory_format=torch.contiguous_format)
    return torch.view_as_complex(x)


def block_diag_embed(mat: torch.Tensor) -> torch.Tensor:
    """Lay a stack of ``B`` blocks ``(..., B, M, N)`` along a diagonal: ``(..., B*M, B*N)``.

    Example:
        >>> block_diag_embed(torch.ones(2, 1, 1))
        tensor([[1., 0.],
                [0., 1.]])
    """
    if mat.dim() < 3:
        raise ValueError(
            "block_diag_embed: mat must have 3 or more dims (..., B, M, N), "
            f"got shape {tuple(mat.shape)}"
        )
    B, M, N = mat.shape[-3:]
    eye = torch.eye(B, dtype=mat.dtype, device=mat.device).reshape(B, 1, B, 1)
    # (..., B, M, 1, N) * (B, 1, B, 1) -> (..., B, M, B, N): block b sits at column b.
    return (mat.unsqueeze(-2) * eye).reshape(mat.shape[:-3] + (B * M, B * N))


def block_diagonal(mat: torch.Tensor, block_size: int) -> torch.Tensor:
    """The ``block_size`` diagonal blocks of ``(..., B*M, B*N)`` as ``(..., B, M, N)``.

    The inverse of :func:`block_diag_embed` on block-diagonal input.

    Example:
        >>> block_diagonal(torch.eye(4), 2).shape
        torch.Size([2, 2, 2])
    """
    B = block_size
    M, N = mat.size(-2) // B, mat.size(-1) // B
    if mat.shape[-2:] != (B * M, B * N):
        raise ValueError(
            f"block_diagonal: the last two dims {tuple(mat.shape[-2:])} are not multiples "
            f"of block_size={B}"
        )
    blocks = mat.reshape(mat.shape[:-2] + (B, M, B, N)).transpose(-2, -3)
    idx = torch.arange(B, device=mat.device)
    return blocks[..., idx, idx, :, :]


def periodic_repeat(tensor: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Tile ``tensor`` along ``dim`` (its period) and cut it to length ``size``.

    Used for static seasonality in time series.

    Example:
        >>> periodic_repeat(torch.tensor([[1, 2, 3]]), 4, 1).tolist()
        [[1, 2, 3, 1]]
    """
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"periodic_repeat: size must be a nonnegative int, got {size!r}")
    dim = _negative_dim(dim, tensor.dim())
    period = tensor.size(dim)
    repeats = [1] * tensor.dim()
    repeats[dim] = -(-size // period)
    return tensor.repeat(*repeats).narrow(dim, 0, size)


def periodic_cumsum(tensor: torch.Tensor, period: int, dim: int) -> torch.Tensor:
    """Cumulative sum along ``dim`` with stride ``period``.

    ``result[t] = tensor[t]`` for ``t < period`` and
    ``result[t] = tensor[t] + result[t - period]`` after; used for drifting seasonality.

    Example:
        >>> periodic_cumsum(torch.tensor([1, 2, 3, 4, 5]), 2, 0).tolist()
        [1, 2, 4, 6, 9]
    """
    if not isinstance(period, int) or period <= 0:
        raise ValueError(f"periodic_cumsum: period must be a positive int, got {period!r}")
    dim = _negative_dim(dim, tensor.dim())
    size = tensor.size(dim)
    cycles = -(-size // period)
    pad = cycles * period - size
    if pad:
        tensor = torch.nn.functional.pad(tensor, (0, 0) * (-1 - dim) + (0, pad))
    tail = tensor.shape[tensor.dim() + dim + 1 :]
    shape = tensor.shape[: tensor.dim() + dim] + (cycles, period) + tail
    result = tensor.reshape(shape).cumsum(dim - 1).reshape(tensor.shape)
    return result.narrow(dim, 0, size) if pad else result


def periodic_features(
    duration: int,
    max_period: float | None = None,
    min_period: float | None = None,
    **options: Any,
) -> torch.Tensor:
    """Cosine/sine regressors for periods from ``max_period`` down to ``min_period``.

    Frequencies ``2 pi k / max_period`` for ``k = 1, 2, ...`` while
    ``k < max_period / min_period``: first the ``cos`` column of every frequency,
    then the ``-sin`` columns in the same order. ``max_period`` defaults to
    ``duration`` and ``min_period`` to 2 (the Nyquist limit).
    ``options`` are tensor options (``dtype``, ``device``).

    Returns:
        a ``(duration, 2 * (ceil(max_period / min_period) - 1))`` tensor in ``[-1, 1]``.

    Example:
        >>> periodic_features(4).shape
        torch.Size([4, 2])
    """
    if not isinstance(duration, int) or duration < 0:
        raise ValueError(f"periodic_features: duration must be a nonnegative int, got {duration!r}")
    max_period = duration if max_period is None else max_period
    min_period = 2 if min_period is None else min_period
    if min_period < 2:
        raise ValueError(f"periodic_features: min_period={min_period} is below the Nyquist limit 2")
    if min_period > max_period:
        raise ValueError(
            f"periodic_features: min_period={min_period} exceeds max_period={max_period}"
        )
    t = torch.arange(float(duration), **options)[:, None, None]
    freq = torch.arange(1, max_period / min_period, **options) * (2 * math.pi / max_period)
    shift = torch.tensor([0.0, math.pi / 2], **options)[:, None]
    # cos(x + pi/2) = -sin(x): one cos call gives both columns.
    return torch.cos(freq * t + shift).reshape(duration, -1).contiguous()


def convolve(signal: torch.Tensor, kernel: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """1-d convolution of ``signal`` with ``kernel`` along the last dim, via FFT.

    Leading dims broadcast. With ``m, n`` the two lengths the output length is
    ``m + n - 1`` (``"full"``), ``max(m, n) - min(m, n) + 1`` (``"valid"``) or
    ``max(m, n)`` (``"same"``), matching :func:`numpy.convolve`.

    Example:
        >>> signal, kernel = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 1.0])
        >>> convolve(signal, kernel, "same").round().tolist()
        [0.0, 1.0, 2.0]
    """
    m, n = signal.size(-1), kernel.size(-1)
    lengths = {"full": m + n - 1, "valid": max(m, n) - min(m, n) + 1, "same": max(m, n)}
    if mode not in lengths:
        raise ValueError(f"convolve: unknown mode {mode!r}, expected 'full', 'valid' or 'same'")
    keep = lengths[mode]
    full = m + n - 1
    fft_len = next_fast_len(full)
    product = rfft(signal, n=fft_len) * rfft(kernel, n=fft_len)
    result = irfft(product, n=fft_len)
    start = (full - keep) // 2
    return result[..., start : start + keep]


def repeated_matmul(M: torch.Tensor, n: int) -> torch.Tensor:
    """The powers ``M, M^2, ..., M^n`` stacked on a new leftmost dim: ``(n, ..., N, N)``.

    Built by repeated doubling, so the depth of the computation grows like ``log n``.

    Example:
        >>> repeated_matmul(torch.tensor([[2.0]]), 3).flatten().tolist()
        [2.0, 4.0, 8.0]
    """
    if M.size(-1) != M.size(-2):
        raise ValueError(f"repeated_matmul: M must be square, got shape {tuple(M.shape)}")
    if n < 1:
        raise ValueError(f"repeated_matmul: n must be 1 or larger, got {n}")
    powers = M.unsqueeze(0)
    while powers.size(0) < n:
        # powers holds M^1..M^k; multiplying by M^k gives M^(k+1)..M^(2k).
        powers = torch.cat([powers, torch.matmul(powers[-1], powers)])
    return powers[:n]


def haar_transform(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal discrete Haar wavelet transform along the last dim.

    Pairs are split into averages ``(a + b) / sqrt 2`` (transformed again,
    recursively) and differences ``(a - b) / sqrt 2``; an odd trailing entry is
    carried unchanged. Inverse: :func:`inverse_haar_transform`.

    Example:
        >>> haar_transform(torch.tensor([1.0, 1.0])).pow(2).round().tolist()  # [sqrt 2, 0] squared
        [2.0, 0.0]
    """
    half = x.size(-1) // 2
    even = x[..., 0 : 2 * half : 2]
    odd = x[..., 1 : 2 * half : 2]
    rest = x[..., 2 * half :]
    lo = (even + odd) * _SQRT_HALF
    hi = (even - odd) * _SQRT_HALF
    if half >= 2:
        lo = haar_transform(lo)
    return torch.cat([lo, hi, rest], dim=-1)


def inverse_haar_transform(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`haar_transform` along the last dim.

    Example:
        >>> x = torch.arange(5.0)
        >>> bool(torch.allclose(inverse_haar_transform(haar_transform(x)), x, atol=1e-6))
        True
    """
    half = x.size(-1) // 2
    lo, hi, rest = x[..., :half], x[..., half : 2 * half], x[..., 2 * half :]
    if half >= 2:
        lo = inverse_haar_transform(lo)
    even = (lo + hi) * _SQRT_HALF
    odd = (lo - hi) * _SQRT_HALF
    interleaved = torch.stack([even, odd], dim=-1).flatten(-2)
    return torch.cat([interleaved, rest], dim=-1)


def safe_cholesky(x: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of ``x`` after adding a small relative jitter to the diagonal.

    The jitter is ``CHOLESKY_RELATIVE_JITTER * eps * max_j |x[i, j]|`` on row ``i``;
    a ``1 x 1`` matrix is clamped to be positive and square-rooted.

    Example:
        >>> safe_cholesky(torch.tensor([[4.0]]))
        tensor([[2.]])
    """
    jitter_scale = CHOLESKY_RELATIVE_JITTER
    if x.size(-1) == 1:
        if jitter_scale:
            x = x.clamp(min=torch.finfo(x.dtype).tiny)
        return x.sqrt()
    if jitter_scale:
        row_max = x.detach().abs().amax(-1)
        jitter = jitter_scale * torch.finfo(x.dtype).eps * row_max
        x = x + torch.diag_embed(jitter)
    return torch.linalg.cholesky(x)


def cholesky_solve(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Solve ``(y y^T) z = x`` given the Cholesky factor ``y``; scalars (size 1) divide.

    Example:
        >>> cholesky_solve(torch.tensor([[8.0]]), torch.tensor([[2.0]]))
        tensor([[2.]])
    """
    if y.size(-1) == 1:
        return x / (y * y)
    return torch.cholesky_solve(x, y)


def matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x @ y``, taking an elementwise product when the inner size is 1.

    Example:
        >>> matmul(torch.tensor([[2.0]]), torch.tensor([[3.0]]))
        tensor([[6.]])
    """
    if x.size(-1) == 1:
        return x * y
    return torch.matmul(x, y)


def matvecmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batched matrix-vector product ``x @ y`` (``y`` a batch of vectors).

    Example:
        >>> matvecmul(torch.eye(2) * 3, torch.tensor([1.0, 2.0])).tolist()
        [3.0, 6.0]
    """
    if x.size(-1) == 1:
        return x.squeeze(-1) * y
    return torch.matmul(x, y.unsqueeze(-1)).squeeze(-1)


def triangular_solve(
    x: torch.Tensor, y: torch.Tensor, upper: bool = False, transpose: bool = False
) -> torch.Tensor:
    """Solve ``y z = x`` (or ``y^T z = x`` with ``transpose``) for triangular ``y``.

    Example:
        >>> lower = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
        >>> triangular_solve(torch.tensor([[2.0], [5.0]]), lower).tolist()
        [[2.0], [1.5]]
    """
    if y.size(-1) == 1:
        return x / y
    if transpose:
        y = y.transpose(-1, -2)
        upper = not upper
    return torch.linalg.solve_triangular(y, x, upper=upper)


def precision_to_scale_tril(P: torch.Tensor) -> torch.Tensor:
    """Lower-triangular ``L`` with ``L L^T = P^{-1}``, without forming ``P^{-1}``.

    Reversing rows and columns turns the Cholesky factor of ``P`` into an upper
    factorisation, whose inverse transpose is the wanted lower factor.

    Example:
        >>> precision_to_scale_tril(torch.tensor([[4.0]]))
        tensor([[0.5000]])
    """
    flipped = torch.linalg.cholesky(P.flip(-2, -1))
    inv_scale = flipped.flip(-2, -1).transpose(-2, -1)  # lower, with inv_scale^T inv_scale = P
    eye = torch.eye(P.size(-1), dtype=P.dtype, device=P.device)
    return torch.linalg.solve_triangular(inv_scale, eye, upper=False)


def safe_normalize(x: torch.Tensor, *, p: float = 2) -> torch.Tensor:
    """``x / ||x||_p`` along the last dim; the zero vector maps to ``[1, 0, ..., 0]``.

    Example:
        >>> safe_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        tensor([[0.6000, 0.8000],
                [1.0000, 0.0000]])
    """
    if not isinstance(p, (float, int)) or p < 0:
        raise ValueError(f"safe_normalize: p must be a nonnegative number, got {p!r}")
    norm = torch.linalg.vector_norm(x, ord=p, dim=-1, keepdim=True)
    x = x / norm.clamp(min=torch.finfo(x.dtype).tiny)
    zero = x.detach().eq(0).all(dim=-1)
    x.data[..., 0][zero] = 1
    return x


def broadcast_tensors_without_dim(tensors: Sequence[torch.Tensor], dim: int) -> list[torch.Tensor]:
    """Broadcast ``tensors`` against each other in every dim except ``dim``.

    The results can then be concatenated along ``dim``. A nonnegative ``dim`` needs
    all tensors to have the same rank.

    Example:
        >>> a, b = broadcast_tensors_without_dim([torch.ones(2, 1), torch.ones(3)], -1)
        >>> a.shape, b.shape
        (torch.Size([2, 1]), torch.Size([2, 3]))
    """
    if dim >= 0:
        ranks = {t.dim() for t in tensors}
        if len(ranks) > 1:
            raise ValueError(
                f"broadcast_tensors_without_dim: dim={dim} must be negative when the tensors "
                f"have different ranks {sorted(ranks)}"
            )
    shapes = []
    for t in tensors:
        s = list(t.shape)
        s[dim] = 1
        shapes.append(s)
    common = list(torch.broadcast_shapes(*shapes))
    out = []
    for t in tensors:
        target = list(common)
        target[dim] = t.shape[dim]
        out.append(t.expand(target))
    return out
