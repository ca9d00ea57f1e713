"""A learned linear-Gaussian state space model plus a Matern GP per output (Pyro's
``pyro.contrib.timeseries.lgssmgp``).

Why: ``y_i(t) = (z_t @ H)_i + f_i(t) + eps_i(t)``: the discrete dynamics of ``z`` carry the
shared structure and each output's GP ``f_i`` its own smooth residual. The joint state
``(GP states, z)`` stays linear-Gaussian, so likelihood and forecasts stay exact. One
discrete step of ``z`` is ``dt = 1`` of GP time.

Example:
    >>> import torch, ppl
    >>> ppl.clear_param_store()  # models share the ParamStore by attribute name
    >>> from ppl.contrib.timeseries import GenericLGSSMWithGPNoiseModel
    >>> m = GenericLGSSMWithGPNoiseModel(obs_dim=2, state_dim=2, nu=2.5)
    >>> m.forecast(torch.randn(9, 2), 3).loc.shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import MultivariateNormal, constraints

import ppl.distributions as dist
from ppl.nn import pyro_method
from ppl.ops.tensor_utils import block_diag_embed

from ._kernel import block_diag2, constrained_param, make_kernel, positive_init
from .base import TimeSeriesModel, lgssm_horizons, predict_observations

__all__ = ["GenericLGSSMWithGPNoiseModel"]


class GenericLGSSMWithGPNoiseModel(TimeSeriesModel):
    """:class:`~ppl.contrib.timeseries.GenericLGSSM` dynamics with an added Matern GP per output.

    The hidden state is ``(f_1 states, ..., f_obs_dim states, z)``; ``z`` follows
    ``z_t = z_{t-1} @ z_trans_matrix + w_t`` (``w_t ~ N(0, diag(trans_noise_scale_sq))``) and
    ``y_t = z_t @ z_obs_matrix + f(t) + obs_loc + eps_t``.

    Args:
        obs_dim: the dimension of the targets (one GP each).
        state_dim: the dimension of ``z``.
        nu: the GPs' Matern order, 0.5, 1.5 or 2.5.
        obs_noise_scale_init: optional ``(obs_dim,)`` initial noise scales (0.2).
        length_scale_init: optional ``(obs_dim,)`` initial GP length scales.
        kernel_scale_init: optional ``(obs_dim,)`` initial GP kernel scales.
        learnable_observation_loc: learn ``obs_loc`` (else a zero buffer).

    Example:
        >>> m = GenericLGSSMWithGPNoiseModel(obs_dim=3, state_dim=2, nu=1.5)
        >>> m.full_state_dim  # 3 GPs of 2 coordinates, then z
        8
    """

    def __init__(
        self,
        obs_dim: int = 1,
        state_dim: int = 2,
        nu: float = 1.5,
        obs_noise_scale_init: torch.Tensor | None = None,
        length_scale_init: torch.Tensor | None = None,
        kernel_scale_init: torch.Tensor | None = None,
        learnable_observation_loc: bool = False,
    ) -> None:
        noise = positive_init(
            "GenericLGSSMWithGPNoiseModel", "obs_noise_scale_init", obs_noise_scale_init, obs_dim
        )
        super().__init__()
        self.obs_dim = obs_dim
        self.state_dim = state_dim
        self.nu = nu
        self.dt = 1.0
        self.kernel = make_kernel(nu, obs_dim, length_scale_init, kernel_scale_init)
        self.full_gp_state_dim = self.kernel.state_dim * obs_dim
        self.full_state_dim = self.full_gp_state_dim + state_dim
        self.obs_noise_scale = constrained_param(noise, constraint=constraints.positive)
        self.trans_noise_scale_sq = constrained_param(
            torch.ones(state_dim), constraint=constraints.positive
        )
        self.z_trans_matrix = nn.Parameter(
            torch.eye(state_dim) + 0.03 * torch.randn(state_dim, state_dim)
        )
        self.z_obs_matrix = nn.Parameter(0.3 * torch.randn(state_dim, obs_dim))
        self.init_noise_scale_sq = constrained_param(
            torch.ones(state_dim), constraint=constraints.positive
        )
        gp_obs = torch.eye(obs_dim).repeat_interleave(self.kernel.state_dim, dim=0)
        gp_obs[torch.arange(self.full_gp_state_dim) % self.kernel.state_dim != 0] = 0.0
        self.register_buffer("gp_obs_matrix", gp_obs)
        if learnable_observation_loc:
            self.obs_loc = nn.Parameter(torch.zeros(obs_dim))
        else:
            self.register_buffer("obs_loc", torch.zeros(obs_dim))

    def _get_obs_matrix(self) -> torch.Tensor:
        """``(full_state_dim, obs_dim)``: each GP's value coordinate, then ``z_obs_matrix``."""
        return torch.cat([self.gp_obs_matrix, self.z_obs_matrix], dim=0)

    def _get_init_dist(self) -> MultivariateNormal:
        covar = block_diag2(
            block_diag_embed(self.kernel.stationary_covariance()),
            torch.diag_embed(self.init_noise_scale_sq),
        )
        return MultivariateNormal(covar.new_zeros(self.full_state_dim), covar)

    def _get_obs_dist(self) -> dist.Distribution:
        return dist.Normal(self.obs_loc, self.obs_noise_scale).to_event(1)

    def _trans(
        self, gp_A: torch.Tensor, gp_Q: torch.Tensor, z_A: torch.Tensor, z_Q: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The joint transition and noise from the GP blocks ``(..., obs_dim, d, d)``
        and those of ``z``."""
        return (
            block_diag2(block_diag_embed(gp_A), z_A),
            block_diag2(block_diag_embed(gp_Q), z_Q),
        )

    def get_dist(self, duration: int | None = None) -> dist.GaussianHMM:
        """The ``GaussianHMM`` over ``(T, obs_dim)`` of the joint ``(GP, z)`` state."""
        gp_A, gp_Q = self.kernel.transition_matrix_and_covariance(dt=self.dt)
        A, Q = self._trans(
            gp_A, gp_Q, self.z_trans_matrix, torch.diag_embed(self.trans_noise_scale_sq)
        )
        return dist.GaussianHMM(
            self._get_init_dist(),
            A,
            MultivariateNormal(Q.new_zeros(self.full_state_dim), Q),
            self._get_obs_matrix(),
            self._get_obs_dist(),
            duration=duration,
        )

    @torch.no_grad()
    def _forecast(
        self,
        N_timesteps: int,
        filtering_state: MultivariateNormal,
        include_observation_noise: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Means ``(N, obs_dim)`` and covariances ``(N, obs_dim, obs_dim)`` of the next
        ``N_timesteps`` targets, exact for the joint state (GP-``z`` correlations included)."""
        z_A, z_Q = lgssm_horizons(
            self.z_trans_matrix, torch.diag_embed(self.trans_noise_scale_sq), N_timesteps
        )
        dts = torch.arange(1, N_timesteps + 1, dtype=z_A.dtype, device=z_A.device)
        gp_A, gp_Q = self.kernel.transition_matrix_and_covariance(dt=dts[:, None, None, None])
        A, Q = self._trans(gp_A, gp_Q, z_A, z_Q)
        noise = self.obs_noise_scale.pow(2) if include_observation_noise else None
        return predict_observations(
            filtering_state, A, Q, self._get_obs_matrix(), obs_loc=self.obs_loc, obs_var=noise
        )

    @pyro_method
    def forecast(self, targets: torch.Tensor, N_timesteps: int) -> MultivariateNormal:  # type: ignore[override]
        """``MultivariateNormal`` with batch ``(N_timesteps,)`` and event ``(obs_dim,)``."""
        loc, cov = self._forecast(N_timesteps, self._filter(targets))
        return MultivariateNormal(loc, cov)
