"""Stein kernels for :class:`ppl.infer.svgd.SVGD`, and a small registry of them.

Design notes
------------
A Stein kernel (Pyro's ``SteinKernel`` contract) maps particles ``x`` of shape
``(N, D)`` to a pair ``(log_kernel, kernel_grad)``, both of shape ``(N, N, D)``:

* ``log_kernel[n, m, d]`` is the log of the kernel *component* for dim ``d`` between
  particles ``n`` and ``m``. The kernels here factorise over dims,
  ``k(x_n, x_m) = prod_d k_d``, so ``log_kernel.sum(-1).exp()`` is the full
  (``"multivariate"``) kernel and ``log_kernel.exp()`` the per-dim (``"univariate"``)
  one.
* ``kernel_grad[n, m, d]`` is ``-d log k / d x_{m,d}``: minus the gradient of the log
  kernel with respect to the *other* particle. SVGD multiplies it by the kernel to get
  the repulsive term of the descent direction (see ``svgd.py``).

Both kernels choose their bandwidth per dim from the particles (the median heuristic):
``h_d = median_{n<m} (x_{n,d} - x_{m,d})^2 / log(N + 1)``, optionally multiplied by
``bandwidth_factor``. No gradient flows through the kernel.

``register_kernel(name)`` / ``get_kernel(name)`` let ``fit(method="svgd", kernel="rbf")``
name a kernel by string; an unknown name is a ``KeyError`` listing the known ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = [
    "IMQSteinKernel",
    "RBFSteinKernel",
    "SteinKernel",
    "get_kernel",
    "register_kernel",
]


class SteinKernel:
    """Base class: ``log_kernel_and_grad(particles (N, D)) -> ((N, N, D), (N, N, D))``."""

    def log_kernel_and_grad(self, particles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


def _check_factor(value: float | None, owner: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{owner}: bandwidth_factor must be a number or None, got {type(value).__name__}"
        )
    if not value > 0:
        raise ValueError(f"{owner}: bandwidth_factor must be > 0, got {value}")
    return float(value)


def _check_particles(particles: torch.Tensor, owner: str) -> None:
    if not isinstance(particles, torch.Tensor):
        raise TypeError(f"{owner}: particles must be a tensor, got {type(particles).__name__}")
    if particles.dim() != 2 or particles.shape[0] < 2:
        raise ValueError(
            f"{owner}: particles must have shape (N, D) with N >= 2, got {tuple(particles.shape)}"
        )


def median_bandwidth(sq_dist: torch.Tensor, factor: float | None = None) -> torch.Tensor:
    """Per-dim bandwidth ``median_{n<m} sq_dist[n, m, d] / log(N + 1)`` (times ``factor``).

    Args:
        sq_dist: ``(N, N, D)`` squared per-dim differences between particles.
        factor: optional multiplier.

    Returns:
        A ``(D,)`` tensor, clamped away from zero so coincident particles do not divide
        by zero.
    """
    n = sq_dist.shape[0]
    upper = torch.triu_indices(n, n, offset=1, device=sq_dist.device)
    pairs = sq_dist[upper[0], upper[1]]  # (N(N-1)/2, D)
    h = pairs.median(dim=0).values
    if factor is not None:
        h = h * factor
    h = h / math.log(n + 1)
    return h.clamp_min(torch.finfo(h.dtype).tiny)


class RBFSteinKernel(SteinKernel):
    """The RBF kernel ``k_d(x, y) = exp(-(x_d - y_d)^2 / h_d)`` with median bandwidth.

    Args:
        bandwidth_factor: multiplies the median-heuristic bandwidth (None = 1).

    Raises:
        TypeError, ValueError: a non-numeric or non-positive ``bandwidth_factor``.

    Example:
        >>> log_k, grad = RBFSteinKernel().log_kernel_and_grad(torch.randn(5, 2))
        >>> tuple(log_k.shape), tuple(grad.shape)
        ((5, 5, 2), (5, 5, 2))
    """

    def __init__(self, bandwidth_factor: float | None = None) -> None:
        self.bandwidth_factor = _check_factor(bandwidth_factor, "RBFSteinKernel")

    @torch.no_grad()
    def log_kernel_and_grad(self, particles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See the module docstring; ``particles`` has shape ``(N, D)``, ``N >= 2``."""
        _check_particles(particles, "RBFSteinKernel")
        diff = particles.unsqueeze(0) - particles.unsqueeze(1)  # [n, m] = x_m - x_n
        sq = diff.square()
        h = median_bandwidth(sq, self.bandwidth_factor)
        return -sq / h, 2.0 * diff / h


class IMQSteinKernel(SteinKernel):
    """The inverse multi-quadric kernel ``k_d(x, y) = (1 + (x_d - y_d)^2 / h_d)^beta``.

    Heavier tails than the RBF kernel, which keeps distant particles interacting (better
    in higher dimensions, Gorham & Mackey 2017).

    Args:
        alpha: the constant inside the bracket, ``(alpha + r^2 / h)^beta`` (> 0).
        beta: the (negative) exponent, in ``(-1, 0)``.
        bandwidth_factor: multiplies the median-heuristic bandwidth (None = 1).

    Raises:
        ValueError: ``alpha <= 0`` or ``beta`` outside ``(-1, 0)``.

    Example:
        >>> log_k, _ = IMQSteinKernel().log_kernel_and_grad(torch.randn(4, 3))
        >>> tuple(log_k.shape)
        (4, 4, 3)
    """

    def __init__(
        self, alpha: float = 0.5, beta: float = -0.5, bandwidth_factor: float | None = None
    ) -> None:
        if not alpha > 0:
            raise ValueError(f"IMQSteinKernel: alpha must be > 0, got {alpha}")
        if not -1.0 < beta < 0.0:
            raise ValueError(f"IMQSteinKernel: beta must lie in (-1, 0), got {beta}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.bandwidth_factor = _check_factor(bandwidth_factor, "IMQSteinKernel")

    @torch.no_grad()
    def log_kernel_and_grad(self, particles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See the module docstring; ``particles`` has shape ``(N, D)``, ``N >= 2``."""
        _check_particles(particles, "IMQSteinKernel")
        diff = particles.unsqueeze(0) - particles.unsqueeze(1)
        sq = diff.square()
        h = median_bandwidth(sq, self.bandwidth_factor)
        base = self.alpha + sq / h
        log_kernel = self.beta * base.log()
        # d log k / d x_m = beta * 2 (x_m - x_n) / (h * base); the kernel_grad is its negative
        grad = -2.0 * self.beta * diff / (h * base)
        return log_kernel, grad


_KERNELS: dict[str, Callable[..., SteinKernel]] = {}


def register_kernel(
    name: str,
) -> Callable[[Callable[..., SteinKernel]], Callable[..., SteinKernel]]:
    """Decorator registering a kernel factory under ``name`` (for ``kernel="name"``).

    Example:
        >>> @register_kernel("wide_rbf")
        ... def _wide():
        ...     return RBFSteinKernel(bandwidth_factor=4.0)
        >>> type(get_kernel("wide_rbf")).__name__
        'RBFSteinKernel'
    """

    def decorate(factory: Callable[..., SteinKernel]) -> Callable[..., SteinKernel]:
        _KERNELS[name] = factory
        return factory

    return decorate


def get_kernel(kernel: str | SteinKernel) -> SteinKernel:
    """Resolve ``kernel``: a kernel object is returned as is, a string is looked up.

    Raises:
        KeyError: an unknown name (the message lists the registered names).
        TypeError: neither a string nor an object with ``log_kernel_and_grad``.
    """
    if isinstance(kernel, str):
        try:
            return _KERNELS[kernel]()
        except KeyError:
            raise KeyError(
                f"unknown Stein kernel {kernel!r}; registered kernels: {sorted(_KERNELS)}. "
                "Add one with ppl.infer.kernels.register_kernel(name)."
            ) from None
    if not callable(getattr(kernel, "log_kernel_and_grad", None)):
        raise TypeError(
            "kernel must be a name or an object with log_kernel_and_grad(particles), "
            f"got {type(kernel).__name__}"
        )
    return kernel


register_kernel("rbf")(RBFSteinKernel)
register_kernel("imq")(IMQSteinKernel)
