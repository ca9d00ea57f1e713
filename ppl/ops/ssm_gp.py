"""Matern Gaussian processes in time as linear state space models (Pyro's ``pyro.ops.ssm_gp``).

Why: a GP on the real line with a Matern kernel of order ``nu = p + 1/2`` is exactly the
first coordinate of a ``p + 1``-dimensional linear SDE whose state is ``(f, f', ..., f^(p))``.
Sampled on a time grid, that SDE is a linear-Gaussian Markov chain, so the GP's marginal
likelihood and forecasts cost ``O(T)`` work (``O(log T)`` depth with a parallel scan)
instead of the ``O(T^3)`` of a dense covariance. :mod:`ppl.contrib.timeseries` builds its
models from :class:`MaternKernel`.

The SDE is ``dx = F x dt + noise`` with ``F`` the companion matrix of ``(s + lam)^(p+1)``
and ``lam = sqrt(2 nu) / length_scale``. ``F + lam I`` is nilpotent, so the matrix
exponential is a short exact polynomial: ``expm(F t) = exp(-lam t) sum_k (N t)^k / k!``.
The stationary covariance holds the kernel's derivatives at zero,
``Cov(f^(i), f^(j)) = (-1)^j k^(i+j)(0)``.

Matrices follow Pyro's layout ``(old_state, new_state)``: a row state vector ``z`` moves on
as ``z @ transition_matrix(dt)``.

Example:
    >>> import torch
    >>> mk = MaternKernel(nu=1.5, num_gps=2)
    >>> A, Q = mk.transition_matrix_and_covariance(dt=0.5)
    >>> A.shape, Q.shape
    (torch.Size([2, 2, 2]), torch.Size([2, 2, 2]))
    >>> float(mk.stationary_covariance()[0, 0, 0])  # the kernel variance
    1.0
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

__all__ = ["MaternKernel"]

# state dimension p + 1 for each supported order nu = p + 1/2
_STATE_DIM = {0.5: 1, 1.5: 2, 2.5: 3}
# spectral moments mu_n = (-1)^n k^(2n)(0) = c_n * lam^(2n) * kernel_scale^2, per order
_MOMENT_COEFFS = {0.5: (1.0,), 1.5: (1.0, 1.0), 2.5: (1.0, 1.0 / 3.0, 1.0)}


def _positive_leaf(name: str, init: torch.Tensor | None, size: int) -> nn.Parameter:
    """The log of a positive initial value (ones by default) as a trainable leaf."""
    if init is None:
        init = torch.ones(size)
    init = torch.as_tensor(init)
    if not init.is_floating_point():
        init = init.to(torch.get_default_dtype())
    if init.shape != (size,):
        raise ValueError(
            f"MaternKernel: {name}_init must have shape ({size},), got {tuple(init.shape)}"
        )
    if not bool((init > 0).all()):
        raise ValueError(f"MaternKernel: {name}_init must be positive, got {init.tolist()}")
    return nn.Parameter(init.detach().clone().log())


class MaternKernel(nn.Module):
    """``num_gps`` independent univariate Matern GPs in state space form.

    ``length_scale`` and ``kernel_scale`` are positive, stored as trainable logs
    (``length_scale_unconstrained``, ``kernel_scale_unconstrained``); assigning a positive
    tensor to ``length_scale`` or ``kernel_scale`` sets them. The kernel of GP ``g`` is
    ``kernel_scale[g]**2 * Matern_nu(|t - s| / length_scale[g])``.

    It is a plain ``nn.Module`` (the ops layer sits below ``ppl.nn``); inside a
    ``PyroModule`` its leaves are the parent's ``parameters()``.

    Args:
        nu: the Matern order, one of 0.5, 1.5, 2.5 (state dimension 1, 2, 3).
        num_gps: how many independent GPs.
        length_scale_init: optional ``(num_gps,)`` positive initial length scales (ones).
        kernel_scale_init: optional ``(num_gps,)`` positive initial kernel scales (ones).

    Raises:
        NotImplementedError: for another ``nu``.
        ValueError: if an initial value has the wrong shape or is not positive.

    Example:
        >>> import torch
        >>> mk = MaternKernel(nu=0.5, length_scale_init=torch.tensor([2.0]))
        >>> round(float(mk.transition_matrix(2.0)), 6)  # exp(-dt / length_scale)
        0.367879
    """

    def __init__(
        self,
        nu: float = 1.5,
        num_gps: int = 1,
        length_scale_init: torch.Tensor | None = None,
        kernel_scale_init: torch.Tensor | None = None,
    ) -> None:
        if nu not in _STATE_DIM:
            raise NotImplementedError(f"MaternKernel: nu must be one of 0.5, 1.5, 2.5, got {nu}")
        super().__init__()
        self.nu = nu
        self.state_dim = _STATE_DIM[nu]
        self.num_gps = num_gps
        self.length_scale_unconstrained = _positive_leaf("length_scale", length_scale_init, num_gps)
        self.kernel_scale_unconstrained = _positive_leaf("kernel_scale", kernel_scale_init, num_gps)

    # ------------------------------------------------------------------ parameters
    def _declared(self, name: str) -> bool:
        """Whether a ``PyroModule`` version of this kernel declared ``name`` a ``PyroParam``
        (then reads go through the module, as ``param`` statements)."""
        return name in self.__dict__.get("_pyro_params", ())

    @property
    def length_scale(self) -> torch.Tensor:
        """The ``(num_gps,)`` positive length scales."""
        if self._declared("length_scale"):
            return cast(torch.Tensor, self.__getattr__("length_scale"))
        return self.length_scale_unconstrained.exp()

    @length_scale.setter
    def length_scale(self, value: torch.Tensor) -> None:
        self._set_positive("length_scale", value)

    @property
    def kernel_scale(self) -> torch.Tensor:
        """The ``(num_gps,)`` positive kernel scales (square roots of the GP variances)."""
        frozen = self._buffers.get("kernel_scale")
        if frozen is not None:
            return frozen
        if self._declared("kernel_scale"):
            return cast(torch.Tensor, self.__getattr__("kernel_scale"))
        return self.kernel_scale_unconstrained.exp()

    @kernel_scale.setter
    def kernel_scale(self, value: torch.Tensor) -> None:
        self._set_positive("kernel_scale", value)

    def _set_positive(self, name: str, value: torch.Tensor) -> None:
        leaf = getattr(self, name + "_unconstrained")
        value = torch.as_tensor(value, dtype=leaf.dtype, device=leaf.device)
        if value.shape != leaf.shape or not bool((value > 0).all()):
            raise ValueError(
                f"MaternKernel.{name}: expected a positive tensor of shape "
                f"{tuple(leaf.shape)}, got shape {tuple(value.shape)}"
            )
        with torch.no_grad():
            leaf.copy_(value.log())

    def freeze_kernel_scale(self) -> None:
        """Fix ``kernel_scale`` at one: the parameter becomes a buffer named
        ``kernel_scale`` (Pyro's state-dict key), no longer trained. For models whose
        scales live elsewhere, such as the Wiener noise of a ``DependentMaternGP``."""
        ones = torch.ones_like(self.kernel_scale_unconstrained.detach())
        del self.kernel_scale_unconstrained
        # register_buffer refuses a name the class defines (the property): set it directly
        self._buffers["kernel_scale"] = ones

    # ------------------------------------------------------------------ state space form
    def _rate(self) -> torch.Tensor:
        """``lam = sqrt(2 nu) / length_scale`` shaped ``(num_gps, 1, 1)``."""
        return (math.sqrt(2.0 * self.nu) / self.length_scale)[:, None, None]

    def _nilpotent_part(self, lam: torch.Tensor) -> torch.Tensor:
        """``N = F + lam I`` for the companion drift ``F`` of ``(s + lam)^d``, ``(num_gps, d, d)``
        in the column-vector layout (``dx/dt = F x``)."""
        d = self.state_dim
        F = lam.new_zeros((self.num_gps, d, d))
        if d > 1:
            F[:, :-1, 1:] = torch.eye(d - 1, dtype=lam.dtype, device=lam.device)
        # last row: -binom(d, k) lam^(d - k) for k = 0..d-1
        last = [-math.comb(d, k) * lam[:, 0, 0] ** (d - k) for k in range(d)]
        F[:, -1, :] = torch.stack(last, dim=-1)
        return F + lam * torch.eye(d, dtype=lam.dtype, device=lam.device)

    def transition_matrix(self, dt: float | torch.Tensor) -> torch.Tensor:
        """``expm(F dt)`` transposed to the ``(old, new)`` layout.

        Args:
            dt: a time step; a tensor of shape ``(..., 1, 1, 1)`` gives a batch of steps.

        Returns:
            ``(..., num_gps, state_dim, state_dim)``.
        """
        lam = self._rate()
        N = self._nilpotent_part(lam)
        dt = torch.as_tensor(dt, dtype=lam.dtype, device=lam.device)
        eye = torch.eye(self.state_dim, dtype=lam.dtype, device=lam.device)
        total = eye.expand(N.shape) + 0 * dt  # broadcast to the batch of steps
        term = eye.expand(N.shape)
        for k in range(1, self.state_dim):
            term = torch.matmul(term, N)
            total = total + term * dt**k / math.factorial(k)
        return (torch.exp(-lam * dt) * total).transpose(-1, -2)

    def stationary_covariance(self) -> torch.Tensor:
        """The covariance of ``(f, f', ...)`` under the stationary law, ``(num_gps, d, d)``."""
        lam = self._rate()
        var = self.kernel_scale.pow(2)[:, None, None]
        d = self.state_dim
        P = lam.new_zeros((self.num_gps, d, d))
        for i in range(d):
            for j in range(d):
                if (i + j) % 2:
                    continue
                n = (i + j) // 2
                sign = (-1.0) ** (j + n)
                moment = _MOMENT_COEFFS[self.nu][n] * lam[:, 0, 0] ** (2 * n) * var[:, 0, 0]
                P[:, i, j] = sign * moment
        return P

    def process_covariance(self, A: torch.Tensor) -> torch.Tensor:
        """The noise a step with transition ``A`` adds, ``P - A^T P A`` (stationarity).

        Raises:
            ValueError: if ``A`` is not ``(..., state_dim, state_dim)``.
        """
        d = self.state_dim
        if A.shape[-2:] != (d, d):
            raise ValueError(
                f"MaternKernel.process_covariance: A must end in ({d}, {d}), got {tuple(A.shape)}"
            )
        P = self.stationary_covariance()
        return P - torch.matmul(A.transpose(-1, -2), torch.matmul(P, A))

    def transition_matrix_and_covariance(
        self, dt: float | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(transition_matrix(dt), process_covariance(...))`` for one step of length ``dt``."""
        A = self.transition_matrix(dt)
        return A, self.process_covariance(A)
