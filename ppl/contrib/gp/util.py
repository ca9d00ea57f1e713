"""GP helpers: the Gaussian ``conditional`` every model predicts with, and ``train``.

``conditional`` is the one place the formula ``f(Xnew) | f(X)`` lives: the exact GP,
the variational GPs (where ``f(X)`` itself is Gaussian, ``N(f_loc, S S^T)``) and the
sparse variational GP (where ``X`` are the inducing points) all call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ppl.infer import TraceMeanField_ELBO

from .kernels.kernel import Kernel
from .linalg import jittered_cholesky

__all__ = ["conditional", "train"]


def conditional(
    Xnew: torch.Tensor,
    X: torch.Tensor,
    kernel: Kernel,
    f_loc: torch.Tensor,
    f_scale_tril: torch.Tensor | None = None,
    Lff: torch.Tensor | None = None,
    full_cov: bool = False,
    whiten: bool = False,
    jitter: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (co)variance of ``f(Xnew)`` given ``f(X) ~ N(f_loc, f_scale_tril f_scale_tril^T)``.

    With ``L`` the Cholesky factor of ``K_xx`` and ``W = L^-1 K_x*``:
    ``loc = W^T L^-1 f_loc`` and ``cov = K_** - W^T W + W^T L^-1 S S^T L^-T W``. With
    ``whiten=True``, ``f_loc``/``f_scale_tril`` describe ``u = L^-1 f(X)`` instead, so
    the ``L^-1`` factors drop out. ``f_scale_tril=None`` means ``f(X)`` is known
    exactly (then ``f_loc`` are noiseless observations; pass ``Lff`` of
    ``K_xx + noise I`` for noisy ones).

    Args:
        Xnew: test inputs ``(T, ...)``.
        X: conditioning inputs ``(N, ...)``.
        kernel: the covariance function.
        f_loc: mean of ``f(X)``, shape ``(..., N)`` (leading dims are a batch of
            independent GPs, the latent shape).
        f_scale_tril: lower-triangular ``(..., N, N)`` scale of ``f(X)``, or None.
        Lff: a precomputed lower Cholesky factor of ``K_xx`` (computed if None).
        full_cov: return the ``(..., T, T)`` covariance, else the ``(..., T)`` variance.
        whiten: ``f_loc``/``f_scale_tril`` are whitened (see above).
        jitter: diagonal jitter for the Cholesky of ``K_xx``.

    Returns:
        ``(loc, cov)``: ``loc`` of shape ``(..., T)``, ``cov`` as described.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> X = torch.tensor([0.0, 1.0])
        >>> loc, var = conditional(X, X, RBF(1), torch.tensor([1.0, 2.0]), jitter=1e-9)
        >>> [round(v, 4) for v in loc.tolist()]
        [1.0, 2.0]
    """
    latent_shape = f_loc.shape[:-1]
    if Lff is None:
        Lff = jittered_cholesky(kernel(X), jitter, "conditional")
    Kfs = kernel(X, Xnew)  # (N, T)
    W = torch.linalg.solve_triangular(Lff, Kfs, upper=False)  # (N, T)
    if whiten:
        v, S = f_loc, f_scale_tril
    else:
        v = torch.linalg.solve_triangular(Lff, f_loc.unsqueeze(-1), upper=False).squeeze(-1)
        S = None
        if f_scale_tril is not None:
            S = torch.linalg.solve_triangular(Lff, f_scale_tril, upper=False)
    loc = (v.unsqueeze(-2) @ W).squeeze(-2)  # (..., T)
    if full_cov:
        cov = kernel(Xnew) - W.T @ W
    else:
        cov = (kernel(Xnew, diag=True) - (W * W).sum(0)).clamp(min=0)
    if S is None:
        shape = latent_shape + cov.shape
        return loc, cov.expand(shape)
    WS = W.T @ S  # (..., T, N)
    if full_cov:
        return loc, cov + WS @ WS.transpose(-2, -1)
    return loc, cov + (WS * WS).sum(-1)


def train(
    gpmodule: Any,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    retain_graph: bool | None = None,
    num_steps: int = 1000,
) -> list[float]:
    """Fit ``gpmodule`` (anything with ``model``/``guide``/``parameters``) by gradient descent.

    Each step minimises ``loss_fn(gpmodule.model, gpmodule.guide)`` (default: the
    differentiable loss of ``TraceMeanField_ELBO``) with a torch optimizer (default
    ``Adam(gpmodule.parameters(), lr=0.01)``).

    Returns:
        the loss of every step.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> from ppl.contrib.gp.models import GPRegression
        >>> X = torch.linspace(0, 1, 5)
        >>> losses = train(GPRegression(X, X, RBF(1)), num_steps=3)
        >>> len(losses)
        3
    """
    if optimizer is None:
        optimizer = torch.optim.Adam(gpmodule.parameters(), lr=0.01)
    if loss_fn is None:
        loss_fn = TraceMeanField_ELBO().differentiable_loss

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(gpmodule.model, gpmodule.guide)
        if isinstance(loss, torch.Tensor) and loss.requires_grad:
            loss.backward(retain_graph=retain_graph)
        return loss

    losses = []
    for _ in range(num_steps):
        loss = optimizer.step(closure)  # type: ignore[arg-type]
        losses.append(float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss))
    return losses
