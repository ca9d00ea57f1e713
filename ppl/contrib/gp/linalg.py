"""A Cholesky factorisation that retries with growing jitter and explains a failure.

Every GP model factorises a Gram matrix. Round-off (or duplicate inputs) can make a
mathematically PSD matrix numerically indefinite, so :func:`jittered_cholesky` adds
``jitter * I`` and, if ``torch.linalg.cholesky_ex`` still reports a failure, retries
with ten and a hundred times the jitter before raising an error that names the model,
the jitters tried and what to change. The first successful factor is returned, so a
well-conditioned matrix is factorised exactly once with the requested jitter.
"""

from __future__ import annotations

import torch

__all__ = ["jittered_cholesky"]

_RETRY_FACTORS = (1.0, 10.0, 100.0)


def jittered_cholesky(K: torch.Tensor, jitter: float, who: str) -> torch.Tensor:
    """Lower Cholesky factor of ``K + j * I`` for the first ``j`` in ``jitter * (1, 10, 100)``.

    Args:
        K: symmetric ``(..., N, N)`` matrix.
        jitter: diagonal jitter of the first attempt (``0`` means a single, exact try).
        who: name of the caller (model or function), quoted in the error.

    Returns:
        ``L`` with ``L @ L.mT == K + j * I``.

    Raises:
        ValueError: if no attempt succeeds; the message names ``who``, the jitters
            tried and the usual fixes.

    Example:
        >>> import torch
        >>> jittered_cholesky(torch.ones(2, 2), 1e-6, "demo").shape
        torch.Size([2, 2])
    """
    eye = torch.eye(K.size(-1), dtype=K.dtype, device=K.device)
    tried: list[float] = []
    for factor in _RETRY_FACTORS:
        j = float(jitter) * factor
        if j in tried:
            continue
        tried.append(j)
        L, info = torch.linalg.cholesky_ex(K + j * eye if j else K)
        if not bool((info > 0).any()) and bool(torch.isfinite(L).all()):
            return L
    shown = ", ".join(f"{j:g}" for j in tried)
    raise ValueError(
        f"{who}: the {K.size(-1)}x{K.size(-1)} covariance matrix is not positive definite "
        f"even with jitter={shown} added to its diagonal; increase `jitter` (e.g. "
        f"jitter={max(tried[-1] * 10, 1e-6):g}), add observation noise or a WhiteNoise "
        "kernel, or check the inputs and kernel hyperparameters for NaN/inf values "
        "and duplicate points"
    )
