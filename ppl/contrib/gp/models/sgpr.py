"""Sparse GP regression with inducing points: DTC, FITC and VFE (Titsias) approximations.

With inducing inputs ``Xu`` (``M << N``), ``Q_ff = K_fu K_uu^-1 K_uf = W^T W`` where
``W = L_uu^-1 K_uf`` (``M x N``). The three approximations replace ``K_ff`` by:

* ``DTC``: ``Q_ff`` (deterministic training conditional);
* ``FITC``: ``Q_ff + diag(K_ff - Q_ff)`` (fully independent training conditional);
* ``VFE``: ``Q_ff``, plus the penalty ``-tr(K_ff - Q_ff) / (2 noise)``, which makes the
  objective a lower bound of the exact log marginal likelihood (Titsias, 2009).

``y`` is then a ``LowRankMultivariateNormal(mean, W^T, D)`` with ``D = noise`` (+ the
FITC diagonal), evaluated in ``O(N M^2)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn import Parameter

import ppl
import ppl.distributions as dist
from ppl.nn import pyro_method

from ..kernels.kernel import Kernel
from ..parameterized import positive_param
from .model import GPModel

__all__ = ["SparseGPRegression"]

_APPROXIMATIONS = ("DTC", "FITC", "VFE")


class SparseGPRegression(GPModel):
    """Sparse GP regression with learnable inducing inputs ``Xu``.

    Args:
        X: training inputs ``(N, ...)``.
        y: training targets ``(..., N)``, or None.
        kernel: the covariance function.
        Xu: initial inducing inputs ``(M, ...)`` (an ``nn.Parameter`` of the model).
        noise: positive observation-noise variance, default 1.
        mean_function: prior mean, default zero.
        approx: ``"VFE"`` (default), ``"DTC"`` or ``"FITC"``.
        jitter: diagonal jitter for the Cholesky of ``K_uu``.

    Raises:
        ValueError: an unknown ``approx``.
        TypeError: ``Xu`` is not a tensor.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> X = torch.linspace(0, 1, 10)
        >>> sgpr = SparseGPRegression(X, torch.sin(X), RBF(1), Xu=X[::3].clone())
        >>> sgpr(X)[0].shape
        torch.Size([10])
    """

    noise: torch.Tensor

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None,
        kernel: Kernel,
        Xu: torch.Tensor,
        noise: torch.Tensor | None = None,
        mean_function: Callable[[torch.Tensor], Any] | None = None,
        approx: str | None = None,
        jitter: float = 1e-6,
    ) -> None:
        if not isinstance(Xu, torch.Tensor):
            raise TypeError(
                f"SparseGPRegression: Xu must be a torch.Tensor, got {type(Xu).__name__}"
            )
        approx = "VFE" if approx is None else approx
        if approx not in _APPROXIMATIONS:
            raise ValueError(
                f"SparseGPRegression: approx must be one of {list(_APPROXIMATIONS)}, got {approx!r}"
            )
        super().__init__(X, y, kernel, mean_function, jitter)
        self.Xu = Parameter(Xu)
        noise = self.X.new_tensor(1.0) if noise is None else noise
        self.noise = positive_param(noise)  # type: ignore[assignment]
        self.approx = approx

    def _projection(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L_uu, W = L_uu^-1 K_uf)``."""
        Xu = self.Xu
        Luu = self._cholesky(self.kernel(Xu))
        W = torch.linalg.solve_triangular(Luu, self.kernel(Xu, self.X), upper=False)
        return Luu, W

    @pyro_method
    def model(self) -> Any:
        """Observe ``y`` under the sparse marginal; without ``y`` return ``(f_loc, f_var)``."""
        self.set_mode("model")
        N = self.X.size(0)
        _, W = self._projection()
        noise = self.noise
        D = noise.expand(N)
        gap = None
        if self.approx != "DTC":
            gap = self.kernel(self.X, diag=True) - W.pow(2).sum(0)  # diag(K_ff - Q_ff)
            if self.approx == "FITC":
                D = D + gap
        f_loc = self.X.new_zeros(N) + self.mean_function(self.X)
        if self.y is None:
            return f_loc, D + W.pow(2).sum(0)
        if self.approx == "VFE" and gap is not None:
            trace_term = (gap.sum() / noise).clamp(min=0)
            ppl.factor(self._pyro_get_fullname("trace_term"), -trace_term / 2.0)
        fn = dist.LowRankMultivariateNormal(f_loc, W.T, D)
        return self._observe_y(fn)

    @pyro_method
    def guide(self) -> None:
        """Hyperparameter guides only."""
        self.set_mode("guide")
        self._load_pyro_samples()

    def forward(
        self, Xnew: torch.Tensor, full_cov: bool = False, noiseless: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive mean and (co)variance at ``Xnew`` under the chosen approximation.

        With ``A = I + W D^-1 W^T = L L^T`` and ``W_* = L_uu^-1 K_u*``:
        ``loc = W_*^T A^-1 W D^-1 y`` and
        ``cov = K_** - W_*^T W_* + W_*^T A^-1 W_*``.

        Raises:
            ValueError: no training targets, or ``Xnew`` has the wrong feature shape.
        """
        self._check_Xnew_shape(Xnew)
        if self.y is None:
            raise ValueError(
                "SparseGPRegression.forward needs training targets y; call set_data(X, y)"
            )
        self.set_mode("guide")
        N = self.X.size(0)
        Luu, W = self._projection()
        D = self.noise.expand(N)
        if self.approx == "FITC":
            D = D + self.kernel(self.X, diag=True) - W.pow(2).sum(0)
        W_Dinv = W / D
        M = W.size(0)
        A = W_Dinv @ W.T + torch.eye(M, dtype=W.dtype, device=W.device)
        L = self._cholesky(A)
        y_residual = self.y - self.mean_function(self.X)  # (..., N)
        b = y_residual @ W_Dinv.T  # (..., M)
        Ws = torch.linalg.solve_triangular(Luu, self.kernel(self.Xu, Xnew), upper=False)
        Linv_Ws = torch.linalg.solve_triangular(L, Ws, upper=False)  # (M, T)
        Linv_b = torch.linalg.solve_triangular(L, b.unsqueeze(-1), upper=False).squeeze(-1)
        loc = Linv_b @ Linv_Ws  # (..., T)
        batch = self.y.shape[:-1]
        if full_cov:
            cov = self.kernel(Xnew) - Ws.T @ Ws + Linv_Ws.T @ Linv_Ws
            if not noiseless:
                cov = cov + self.noise * torch.eye(cov.size(-1), dtype=cov.dtype, device=cov.device)
            cov = cov.expand(batch + cov.shape)
        else:
            cov = self.kernel(Xnew, diag=True) - Ws.pow(2).sum(0) + Linv_Ws.pow(2).sum(0)
            if not noiseless:
                cov = cov + self.noise
            cov = cov.expand(batch + cov.shape)
        return loc + self.mean_function(Xnew), cov
