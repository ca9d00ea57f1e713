"""Special functions at Pyro's path ``pyro.ops.special``.

Why: several distributions and likelihoods need a log with bounded gradients at 0,
fast approximate log Beta / log binomial coefficients, log Bessel functions of the
first kind, Gauss-Hermite quadrature and a sparse multinomial likelihood; Pyro
code imports them from here.

Example:
    >>> import math
    >>> lb = float(log_beta(torch.tensor(2.0), torch.tensor(3.0)))
    >>> round(lb, 4) == round(math.log(1 / 12), 4)
    True
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import torch
from numpy.polynomial.hermite import hermgauss

__all__ = [
    "get_quad_rule",
    "log_I1",
    "log_beta",
    "log_binomial",
    "safe_log",
    "sparse_multinomial_likelihood",
]

# Stirling's series for lgamma after n upward shifts has absolute error below 0.082 / n.
_STIRLING_ERROR = 0.082
_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


class _SafeLog(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return x.log()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad / x.clamp(min=torch.finfo(x.dtype).eps)


def safe_log(x: torch.Tensor) -> torch.Tensor:
    """``x.log()`` whose gradient is at most ``1 / finfo.eps`` (finite at ``x = 0``).

    Example:
        >>> x = torch.tensor(0.0, requires_grad=True)
        >>> bool(torch.isfinite(torch.autograd.grad(safe_log(x), [x])[0]))
        True
    """
    return _SafeLog.apply(x)


def log_beta(x: torch.Tensor, y: torch.Tensor, tol: float = 0.0) -> torch.Tensor:
    """``log B(x, y) = lgamma(x) + lgamma(y) - lgamma(x + y)``, approximated when ``tol >= 0.02``.

    The approximation applies Stirling's formula ``lgamma(z) ~ (z - 1/2) log z - z +
    log(2 pi)/2`` after shifting each argument up ``n = ceil(0.082 / tol)`` times with
    ``lgamma(z) = lgamma(z + 1) - log z``; its absolute error is below ``tol``. It
    needs only ``log`` and products, which is cheaper than three ``lgamma`` calls.

    Example:
        >>> x, y = torch.tensor(0.5), torch.tensor(4.0)
        >>> bool((log_beta(x, y, tol=0.1) - log_beta(x, y)).abs() < 0.1)
        True
    """
    if not isinstance(tol, (float, int)) or tol < 0:
        raise ValueError(f"log_beta: tol must be a nonnegative number, got {tol!r}")
    if tol < 0.02:
        return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)
    shifts = int(math.ceil(_STIRLING_ERROR / tol))
    s = x + y
    # Shifting gives lgamma(z) = lgamma(z + n) - sum_i log(z + i); the shift terms of
    # x, y and s = x + y are collected in one product so that one log is taken.
    ratio = s / (x * y)
    for i in range(1, shifts):
        ratio = ratio * ((s + i) / ((x + i) * (y + i)))
    x, y, s = x + shifts, y + shifts, s + shifts
    # Stirling's "- z" terms: -(x + n) - (y + n) + (s + n) = -n.
    stirling = (x - 0.5) * x.log() + (y - 0.5) * y.log() - (s - 0.5) * s.log()
    return ratio.log() + stirling + (_HALF_LOG_TWO_PI - shifts)


@torch.no_grad()
def log_binomial(n: torch.Tensor, k: torch.Tensor, tol: float = 0.0) -> torch.Tensor:
    """``log (n choose k)``; with ``tol >= 0.02`` via the approximate :func:`log_beta`.

    Uses ``(n choose k) = 1 / ((n + 1) B(k + 1, n - k + 1))``. No gradient is recorded.

    Example:
        >>> float(log_binomial(torch.tensor(5.0), torch.tensor(2.0)).exp().round())
        10.0
    """
    if not isinstance(tol, (float, int)) or tol < 0:
        raise ValueError(f"log_binomial: tol must be a nonnegative number, got {tol!r}")
    n1 = n + 1
    if tol < 0.02:
        return torch.lgamma(n1) - torch.lgamma(k + 1) - torch.lgamma(n1 - k)
    return -n1.log() - log_beta(k + 1, n1 - k, tol=tol)


def log_I1(orders: int, value: torch.Tensor, terms: int = 250) -> torch.Tensor:
    """``log I_v(value)`` for the orders ``v = 0, 1, ..., orders`` (modified Bessel, 1st kind).

    Sums the series ``I_v(z) = sum_k (z/2)^(2k+v) / (k! Gamma(v+k+1))`` in log space,
    truncated after ``terms`` terms.

    Returns:
        a tensor of shape ``(orders + 1,) + value.shape`` (a 0-dim value counts as
        shape ``(1,)``).

    Example:
        >>> float(log_I1(0, torch.tensor([0.0]))[0, 0])  # I_0(0) = 1
        0.0
    """
    n_orders = orders + 1
    shape = value.shape if value.dim() else torch.Size([1])
    z = value.reshape(-1, 1)
    k = torch.arange(terms, device=value.device)
    log_factorial = torch.lgamma(k.to(z.dtype) + 1)  # (terms,)
    v = torch.arange(n_orders, device=value.device).to(z.dtype)[:, None]  # (orders, 1)
    log_gamma = torch.lgamma(v + k.to(z.dtype) + 1)  # (orders, terms)
    # terms of the series without the common (z/2)^v factor: (orders, V, terms)
    # (0 * log 0 is taken as 0, so that z = 0 gives I_0(0) = 1.)
    powers = torch.xlogy(2 * k.to(z.dtype), z / 2)
    series = powers - log_factorial - log_gamma[:, None, :]
    log_sum = series.logsumexp(-1)  # (orders, V)
    result = torch.xlogy(v, (z / 2).T) + log_sum
    return result.reshape((n_orders,) + shape)


def get_quad_rule(
    num_quad: int, prototype_tensor: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Hermite points and log weights for expectations under ``Normal(0, 1)``.

    ``E[f(Z)] ~ sum_i exp(log_weights[i]) f(points[i])``, exact for polynomials of
    degree below ``2 * num_quad``. Results take ``prototype_tensor``'s dtype and device.

    Example:
        >>> pts, logw = get_quad_rule(8, torch.zeros(()))
        >>> round(float((logw.exp() * pts ** 2).sum()), 6)  # Var Z
        1.0
    """
    points, weights = hermgauss(num_quad)
    points = points * np.sqrt(2.0)
    log_weights = np.log(weights) - 0.5 * np.log(np.pi)
    like = prototype_tensor
    return (
        torch.as_tensor(points).to(dtype=like.dtype, device=like.device),
        torch.as_tensor(log_weights).to(dtype=like.dtype, device=like.device),
    )


_LOG_FACTORIAL_SUMS: dict[int, torch.Tensor] = {}


def _log_factorial_sum(x: torch.Tensor) -> torch.Tensor:
    """``sum(lgamma(x + 1))``, cached per tensor object when no gradient is needed."""
    if x.requires_grad:
        return torch.lgamma(x + 1).sum()
    key = id(x)
    cached = _LOG_FACTORIAL_SUMS.get(key)
    if cached is None:
        cached = torch.lgamma(x + 1).sum()
        _LOG_FACTORIAL_SUMS[key] = cached
        weakref.finalize(x, _LOG_FACTORIAL_SUMS.pop, key, None)
    return cached


def sparse_multinomial_likelihood(
    total_count: torch.Tensor, nonzero_logits: torch.Tensor, nonzero_value: torch.Tensor
) -> torch.Tensor:
    """Summed multinomial log-likelihood from only the nonzero counts.

    ``total_count`` holds the row totals, ``nonzero_logits`` the normalized logits at
    the nonzero cells and ``nonzero_value`` the counts there. The factorial terms of
    fixed data tensors are cached, so repeated calls with new logits cost one dot.

    Example:
        >>> logits = torch.tensor([[0.2, 0.3, 0.5]]).log()
        >>> value = torch.tensor([[2.0, 0.0, 1.0]])
        >>> nnz = value.nonzero(as_tuple=True)
        >>> lp = sparse_multinomial_likelihood(value.sum(-1), logits[nnz], value[nnz])
        >>> round(float(lp.exp()), 4)  # 3!/(2! 1!) * 0.2^2 * 0.5
        0.06
    """
    return (
        _log_factorial_sum(total_count)
        - _log_factorial_sum(nonzero_value)
        + torch.dot(nonzero_logits, nonzero_value)
    )
