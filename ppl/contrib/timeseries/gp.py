"""Matern Gaussian process time series models (Pyro's ``pyro.contrib.timeseries.gp``).

Why: each model is a GP in time written as a state space model
(:class:`ppl.ops.ssm_gp.MaternKernel`), so the exact marginal likelihood of ``T`` evenly
spaced targets costs ``O(T)`` instead of the ``O(T^3)`` of a dense kernel matrix.

Example:
    >>> import torch, ppl
    >>> ppl.clear_param_store()  # models share the ParamStore by attribute name
    >>> from ppl.contrib.timeseries import LinearlyCoupledMaternGP
    >>> gp = LinearlyCoupledMaternGP(nu=2.5, obs_dim=3, num_gps=2)
    >>> y = torch.randn(8, 3)
    >>> gp.log_prob(y).shape, gp.forecast(y, torch.tensor([0.5])).covariance_matrix.shape
    (torch.Size([]), torch.Size([1, 3, 3]))
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import MultivariateNormal, Normal, constraints

import ppl.distributions as dist
from ppl.nn import pyro_method
from ppl.ops.tensor_utils import block_diag_embed

from ._kernel import constrained_param, make_kernel, positive_init
from .base import TimeSeriesModel, check_targets, predict_observations

__all__ = ["DependentMaternGP", "IndependentMaternGP", "LinearlyCoupledMaternGP"]


def _as_dts(dts: torch.Tensor) -> torch.Tensor:
    """Forecast times ``(S,)`` shaped ``(S, 1, 1, 1)`` for the kernel's batched steps."""
    if dts.dim() != 1:
        raise ValueError(f"forecast: dts must be 1-dimensional (S,), got {tuple(dts.shape)}")
    return dts[:, None, None, None]


def _first_coordinate_selector(state_dim: int, num_gps: int, like: torch.Tensor) -> torch.Tensor:
    """``(num_gps * state_dim,)`` with a one at each GP's value coordinate ``f``."""
    one_gp = like.new_zeros(state_dim)
    one_gp[0] = 1.0
    return one_gp.repeat(num_gps)


class IndependentMaternGP(TimeSeriesModel):
    """``obs_dim`` independent univariate Matern GPs plus white observation noise.

    ``y_i(t) = f_i(t) + eps_i(t)`` with
    ``f_i ~ GP(0, kernel_scale_i^2 Matern_nu(., length_scale_i))``
    and ``eps_i ~ N(0, obs_noise_scale_i^2)``; the targets are spaced ``dt`` apart.

    Args:
        nu: the Matern order, 0.5, 1.5 or 2.5.
        dt: the time between neighbouring targets.
        obs_dim: the number of series (one GP each).
        length_scale_init: optional ``(obs_dim,)`` initial length scales.
        kernel_scale_init: optional ``(obs_dim,)`` initial kernel scales.
        obs_noise_scale_init: optional ``(obs_dim,)`` initial noise scales (0.2).

    Example:
        >>> import torch, ppl
        >>> ppl.clear_param_store()  # models share the ParamStore by attribute name
        >>> gp = IndependentMaternGP(nu=0.5, obs_dim=3)
        >>> gp.forecast(torch.randn(5, 3), torch.tensor([1.0, 2.0])).scale.shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        nu: float = 1.5,
        dt: float = 1.0,
        obs_dim: int = 1,
        length_scale_init: torch.Tensor | None = None,
        kernel_scale_init: torch.Tensor | None = None,
        obs_noise_scale_init: torch.Tensor | None = None,
    ) -> None:
        noise = positive_init(
            "IndependentMaternGP", "obs_noise_scale_init", obs_noise_scale_init, obs_dim
        )
        super().__init__()
        self.nu = nu
        self.dt = dt
        self.obs_dim = obs_dim
        self.kernel = make_kernel(nu, obs_dim, length_scale_init, kernel_scale_init)
        self.obs_noise_scale = constrained_param(noise, constraint=constraints.positive)
        obs_matrix = torch.zeros(self.kernel.state_dim, 1)
        obs_matrix[0, 0] = 1.0
        self.register_buffer("obs_matrix", obs_matrix)

    def get_dist(self, duration: int | None = None) -> dist.GaussianHMM:
        """A ``GaussianHMM`` with batch shape ``(obs_dim,)`` and event shape ``(T, 1)``: one
        chain per series (``duration`` fixes ``T`` for sampling)."""
        d = self.kernel.state_dim
        A, Q = self.kernel.transition_matrix_and_covariance(dt=self.dt)
        zeros = self.obs_matrix.new_zeros(self.obs_dim, 1, d)
        init = MultivariateNormal(zeros[:, 0], self.kernel.stationary_covariance())
        trans = MultivariateNormal(zeros, Q.unsqueeze(-3))
        scale = self.obs_noise_scale[:, None, None]
        obs = dist.Normal(torch.zeros_like(scale), scale).to_event(1)
        return dist.GaussianHMM(
            init, A.unsqueeze(-3), trans, self.obs_matrix, obs, duration=duration
        )

    @pyro_method
    def log_prob(self, targets: torch.Tensor) -> torch.Tensor:
        """``(obs_dim,)``: the exact GP marginal log likelihood of each column of ``targets``."""
        check_targets("IndependentMaternGP", targets, self.obs_dim)
        return self.get_dist().log_prob(targets.t().unsqueeze(-1))

    @torch.no_grad()
    def _filter(self, targets: torch.Tensor) -> MultivariateNormal:
        """The posterior of each GP's last state, batch ``(obs_dim,)``, event ``(state_dim,)``."""
        check_targets("IndependentMaternGP", targets, self.obs_dim)
        return self.get_dist().filter(targets.t().unsqueeze(-1))

    @torch.no_grad()
    def _forecast(
        self,
        dts: torch.Tensor,
        filtering_state: MultivariateNormal,
        include_observation_noise: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive means and variances ``(S, obs_dim)`` at ``dts`` past the last target."""
        A, Q = self.kernel.transition_matrix_and_covariance(dt=_as_dts(dts))
        noise = self.obs_noise_scale.pow(2)[:, None] if include_observation_noise else None
        loc, cov = predict_observations(filtering_state, A, Q, self.obs_matrix, obs_var=noise)
        return loc[..., 0], cov[..., 0, 0]

    @pyro_method
    def forecast(self, targets: torch.Tensor, dts: torch.Tensor) -> Normal:
        """``Normal`` with ``loc``/``scale`` of shape ``(S, obs_dim)``: the GP's prediction at
        ``dts`` (``(S,)``, measured from ``targets[-1]``), observation noise included."""
        loc, var = self._forecast(dts, self._filter(targets))
        return Normal(loc, var.sqrt())


class LinearlyCoupledMaternGP(TimeSeriesModel):
    """Outputs that mix ``num_gps`` shared Matern GPs: ``y_i(t) = sum_j A_ji f_j(t) + eps_i(t)``.

    Args:
        nu: the Matern order, 0.5, 1.5 or 2.5.
        dt: the time between neighbouring targets.
        obs_dim: the number of outputs (at least 2; use :class:`IndependentMaternGP` for 1).
        num_gps: the number of latent GPs.
        length_scale_init: optional ``(num_gps,)`` initial length scales.
        kernel_scale_init: optional ``(num_gps,)`` initial kernel scales.
        obs_noise_scale_init: optional ``(obs_dim,)`` initial noise scales (0.2).

    The mixing weights ``A`` (``(num_gps, obs_dim)``) are an ``nn.Parameter``.

    Raises:
        ValueError: if ``obs_dim < 2`` or an initial value has the wrong shape.

    Example:
        >>> gp = LinearlyCoupledMaternGP(obs_dim=2, num_gps=1)
        >>> gp.A.shape
        torch.Size([1, 2])
    """

    def __init__(
        self,
        nu: float = 1.5,
        dt: float = 1.0,
        obs_dim: int = 2,
        num_gps: int = 1,
        length_scale_init: torch.Tensor | None = None,
        kernel_scale_init: torch.Tensor | None = None,
        obs_noise_scale_init: torch.Tensor | None = None,
    ) -> None:
        if obs_dim < 2:
            raise ValueError(
                f"LinearlyCoupledMaternGP: obs_dim must be at least 2 (got {obs_dim}); "
                "use IndependentMaternGP for one output"
            )
        noise = positive_init(
            "LinearlyCoupledMaternGP", "obs_noise_scale_init", obs_noise_scale_init, obs_dim
        )
        super().__init__()
        self.nu = nu
        self.dt = dt
        self.obs_dim = obs_dim
        self.num_gps = num_gps
        self.kernel = make_kernel(nu, num_gps, length_scale_init, kernel_scale_init)
        self.full_state_dim = num_gps * self.kernel.state_dim
        self.obs_noise_scale = constrained_param(noise, constraint=constraints.positive)
        self.A = nn.Parameter(0.3 * torch.randn(num_gps, obs_dim))

    def _get_obs_matrix(self) -> torch.Tensor:
        """``(num_gps * state_dim, obs_dim)``: GP ``j``'s value coordinate carries row ``A[j]``."""
        A = self.A
        rows = A.repeat_interleave(self.kernel.state_dim, dim=0)
        selector = _first_coordinate_selector(self.kernel.state_dim, self.num_gps, A)
        return rows * selector[:, None]

    def get_dist(self, duration: int | None = None) -> dist.GaussianHMM:
        """A ``GaussianHMM`` over ``(T, obs_dim)`` with the GPs' states stacked (GP-major)."""
        A, Q = self.kernel.transition_matrix_and_covariance(dt=self.dt)
        zeros = self.A.new_zeros(self.full_state_dim)
        init = MultivariateNormal(zeros, block_diag_embed(self.kernel.stationary_covariance()))
        trans = MultivariateNormal(zeros, block_diag_embed(Q))
        obs = dist.Normal(self.A.new_zeros(self.obs_dim), self.obs_noise_scale).to_event(1)
        return dist.GaussianHMM(
            init, block_diag_embed(A), trans, self._get_obs_matrix(), obs, duration=duration
        )

    @torch.no_grad()
    def _forecast(
        self,
        dts: torch.Tensor,
        filtering_state: MultivariateNormal,
        include_observation_noise: bool = True,
        full_covar: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive means ``(S, obs_dim)`` and covariances ``(S, obs_dim, obs_dim)`` (or
        their diagonals with ``full_covar=False``)."""
        A, Q = self.kernel.transition_matrix_and_covariance(dt=_as_dts(dts))
        noise = self.obs_noise_scale.pow(2) if include_observation_noise else None
        loc, cov = predict_observations(
            filtering_state,
            block_diag_embed(A),
            block_diag_embed(Q),
            self._get_obs_matrix(),
            obs_var=noise,
        )
        return loc, cov if full_covar else cov.diagonal(dim1=-2, dim2=-1)

    @pyro_method
    def forecast(self, targets: torch.Tensor, dts: torch.Tensor) -> MultivariateNormal:
        """``MultivariateNormal`` with batch ``(S,)`` and event ``(obs_dim,)`` at ``dts``."""
        loc, cov = self._forecast(dts, self._filter(targets))
        return MultivariateNormal(loc, cov)


class DependentMaternGP(TimeSeriesModel):
    """Matern-3/2 GPs, one per output, driven by correlated white noise.

    GP ``i`` solves ``f_i'' + 2 lam_i f_i' + lam_i^2 f_i = w_i(t)`` with
    ``lam_i = sqrt(3) / length_scale_i`` and ``Cov(w_i, w_j) = W_ij`` white in time, where
    ``W = L L^T`` and ``L = wiener_noise_tril`` (lower Cholesky, learned). The scales live
    in ``W``, so the kernel's ``kernel_scale`` is fixed at one. With ``linearly_coupled``
    the outputs also mix the GPs through a learned ``(obs_dim, obs_dim)`` matrix.

    Args:
        nu: the Matern order; only 1.5 is supported.
        dt: the time between neighbouring targets.
        obs_dim: the number of outputs (and GPs).
        linearly_coupled: whether the outputs mix the GPs.
        length_scale_init: optional ``(obs_dim,)`` initial length scales.
        obs_noise_scale_init: optional ``(obs_dim,)`` initial noise scales (0.2).

    Raises:
        NotImplementedError: for ``nu != 1.5``.

    Example:
        >>> import torch, ppl
        >>> ppl.clear_param_store()  # models share the ParamStore by attribute name
        >>> gp = DependentMaternGP(obs_dim=2)
        >>> gp.log_prob(torch.randn(6, 2)).shape
        torch.Size([])
    """

    def __init__(
        self,
        nu: float = 1.5,
        dt: float = 1.0,
        obs_dim: int = 1,
        linearly_coupled: bool = False,
        length_scale_init: torch.Tensor | None = None,
        obs_noise_scale_init: torch.Tensor | None = None,
    ) -> None:
        if nu != 1.5:
            raise NotImplementedError(f"DependentMaternGP: only nu=1.5 is supported, got {nu}")
        noise = positive_init(
            "DependentMaternGP", "obs_noise_scale_init", obs_noise_scale_init, obs_dim
        )
        super().__init__()
        self.nu = nu
        self.dt = dt
        self.obs_dim = obs_dim
        self.kernel = make_kernel(nu, obs_dim, length_scale_init, freeze_kernel_scale=True)
        self.full_state_dim = self.kernel.state_dim * obs_dim
        self.obs_noise_scale = constrained_param(noise, constraint=constraints.positive)
        tril = torch.eye(obs_dim) + 0.03 * torch.randn(obs_dim, obs_dim).tril(-1)
        self.wiener_noise_tril = constrained_param(tril, constraint=constraints.lower_cholesky)
        if linearly_coupled:
            self.obs_matrix = nn.Parameter(0.3 * torch.randn(obs_dim, obs_dim))
        else:
            selector = _first_coordinate_selector(self.kernel.state_dim, obs_dim, torch.zeros(()))
            rows = torch.eye(obs_dim).repeat_interleave(self.kernel.state_dim, dim=0)
            self.register_buffer("obs_matrix", rows * selector[:, None])

    def _get_obs_matrix(self) -> torch.Tensor:
        """``(full_state_dim, obs_dim)``: GP ``j``'s value coordinate carries row ``j``."""
        M = self.obs_matrix
        if M.size(0) == self.full_state_dim:
            return M
        selector = _first_coordinate_selector(self.kernel.state_dim, self.obs_dim, M)
        return M.repeat_interleave(self.kernel.state_dim, dim=0) * selector[:, None]

    def _get_wiener_cov(self) -> torch.Tensor:
        """``W`` with each entry repeated over a ``state_dim x state_dim`` block."""
        L = self.wiener_noise_tril
        W = torch.matmul(L, L.transpose(-1, -2))
        d = self.kernel.state_dim
        return W.repeat_interleave(d, dim=0).repeat_interleave(d, dim=1)

    def _stationary_covariance(self) -> torch.Tensor:
        """The stationary joint covariance of all GPs' ``(f_i, f_i')``, GP-major.

        Block ``(i, j)`` solves ``F_i P + P F_j^T + W_ij e e^T = 0`` (``e`` picks ``f'``):
        ``P = W_ij / (lam_i + lam_j)^3 [[2, lam_i - lam_j], [lam_j - lam_i, 2 lam_i lam_j]]``.
        """
        lam = math.sqrt(3.0) / self.kernel.length_scale
        li, lj = lam[:, None], lam[None, :]
        block = torch.stack(
            [
                torch.stack([torch.full_like(li - lj, 2.0), li - lj], -1),
                torch.stack([lj - li, 2.0 * li * lj], -1),
            ],
            dim=-2,
        ) / (li + lj)[..., None, None].pow(3)  # (i, j, a, b)
        n, d = self.obs_dim, self.kernel.state_dim
        P = block.transpose(1, 2).reshape(n * d, n * d)
        return self._get_wiener_cov() * P

    def _transition(
        self, dt: float | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(A, Q, P)``: the block-diagonal transition for ``dt``, its process noise
        ``P - A^T P A`` and the stationary covariance ``P``."""
        P = self._stationary_covariance()
        A = block_diag_embed(self.kernel.transition_matrix(dt))
        Q = P - torch.matmul(A.transpose(-1, -2), torch.matmul(P, A))
        return A, Q, P

    def get_dist(self, duration: int | None = None) -> dist.GaussianHMM:
        """A ``GaussianHMM`` over ``(T, obs_dim)`` started at the stationary law."""
        A, Q, P = self._transition(self.dt)
        zeros = P.new_zeros(self.full_state_dim)
        obs = dist.Normal(P.new_zeros(self.obs_dim), self.obs_noise_scale).to_event(1)
        return dist.GaussianHMM(
            MultivariateNormal(zeros, P),
            A,
            MultivariateNormal(zeros, Q),
            self._get_obs_matrix(),
            obs,
            duration=duration,
        )

    @torch.no_grad()
    def _forecast(
        self,
        dts: torch.Tensor,
        filtering_state: MultivariateNormal,
        include_observation_noise: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive means ``(S, obs_dim)`` and covariances ``(S, obs_dim, obs_dim)``."""
        A, Q, _ = self._transition(_as_dts(dts))
        noise = self.obs_noise_scale.pow(2) if include_observation_noise else None
        return predict_observations(filtering_state, A, Q, self._get_obs_matrix(), obs_var=noise)

    @pyro_method
    def forecast(self, targets: torch.Tensor, dts: torch.Tensor) -> MultivariateNormal:
        """``MultivariateNormal`` with batch ``(S,)`` and event ``(obs_dim,)`` at ``dts``."""
        loc, cov = self._forecast(dts, self._filter(targets))
        return MultivariateNormal(loc, cov)
