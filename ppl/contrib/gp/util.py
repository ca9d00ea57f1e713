"""Shared GP linear algebra: a jittered Cholesky with a clear error, and ``conditional``.

``conditional`` computes the Gaussian conditional ``f(Xnew) | f(X) = f_loc`` that every
GP model's ``forward`` uses, so the formula lives in one place.
"""

from __future__ import annotations

import torch

from .kernels.kernel import Kernel


def cholesky_with_jitter(K: torch.Tensor, jitter: float, who: str) -> torch.Tensor:
    """Lower Cholesky factor of ``K + jitter * I`` via ``torch.linalg.cholesky_ex``.

    Raises:
        ValueError: naming ``who``, the jitter tried and the fix, if the matrix is not
            positive definite even with the jitter.

    Example:
        >>> import torch
        >>> cholesky_with_jitter(torch.eye(2), 1e-6, "demo").shape
        torch.Size([2, 2])
    """
    eye = torch.eye(K.size(-1), dtype=K.dtype, device=K.device)
    L, info = torch.linalg.cholesky_ex(K + jitter * eye)
    if bool((info > 0).any()):
        raise ValueError(
            f"{who}: the Gram matrix is not positive definite even with jitter={jitter:g}; "
            "increase `jitter`, add noise, or check the kernel's hyperparameters and "
            "inputs for NaN or duplicate points"
        )
    return L


def conditional(
    Xnew: torch.Tensor,
    X: torch.Tensor,
    kernel: Kernel,
    f_loc: torch.Tensor,
    full_cov: bool = False,
    jitter: float = 1e-6,
    noise: float | torch.Tensor = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (co)variance of ``f(Xnew)`` given noisy observations ``f_loc`` at ``X``.

    Computes ``K_*x (K_xx + noise I)^-1 f_loc`` and ``K_** - K_*x (K_xx + noise I)^-1 K_x*``.

    Args:
        Xnew: test inputs ``(T, ...)``.
        X: training inputs ``(N, ...)``.
        kernel: the covariance function.
        f_loc: observed values ``(..., N)`` (extra leading dims are batch).
        full_cov: return the ``(T, T)`` covariance instead of the ``(T,)`` variance.
        jitter: added to the diagonal of ``K_xx`` for the Cholesky.
        noise: observation noise variance added to ``K_xx``.

    Returns:
        ``(loc, cov)`` of shapes ``(..., T)`` and ``(T, T)`` or ``(T,)``.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> X = torch.tensor([0.0, 1.0])
        >>> loc, var = conditional(X, X, RBF(1), torch.tensor([1.0, 2.0]), jitter=1e-9)
        >>> [round(v, 4) for v in loc.tolist()]
        [1.0, 2.0]
    """
    N = X.size(0)
    Kff = kernel(X)
    Kff = Kff + noise * torch.eye(N, dtype=Kff.dtype, device=Kff.device)
    Lff = cholesky_with_jitter(Kff, jitter, type(kernel).__name__)
    Kfs = kernel(X, Xnew)
    W = torch.linalg.solve_triangular(Lff, Kfs, upper=False)  # (N, T)
    alpha = torch.cholesky_solve(f_loc.unsqueeze(-1), Lff).squeeze(-1)
    loc = alpha @ Kfs
    if full_cov:
        cov = kernel(Xnew) - W.T @ W
    else:
        cov = kernel(Xnew, diag=True) - (W * W).sum(0)
    return loc, cov
