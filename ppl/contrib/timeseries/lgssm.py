"""A linear-Gaussian state space model with learned matrices (Pyro's
``pyro.contrib.timeseries.lgssm``).

Why: the simplest trainable Kalman model, ``z_t = z_{t-1} @ A + w_t`` and
``y_t = z_t @ H + loc + eps_t``, with an exact likelihood and exact multi-step forecasts.

Example:
    >>> import torch, ppl
    >>> ppl.clear_param_store()  # models share the ParamStore by attribute name
    >>> from ppl.contrib.timeseries import GenericLGSSM
    >>> m = GenericLGSSM(obs_dim=2, state_dim=3)
    >>> m.forecast(torch.randn(7, 2), 4).covariance_matrix.shape
    torch.Size([4, 2, 2])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import MultivariateNormal, constraints

import ppl.distributions as dist
from ppl.nn import pyro_method

from ._kernel import constrained_param, positive_init
from .base import TimeSeriesModel, lgssm_horizons, predict_observations

__all__ = ["GenericLGSSM"]


class GenericLGSSM(TimeSeriesModel):
    """A time-invariant linear-Gaussian state space model, every matrix learned.

    ``z_0 ~ N(0, diag(init_noise_scale_sq))``, ``z_t = z_{t-1} @ trans_matrix + w_t`` with
    ``w_t ~ N(0, diag(trans_noise_scale_sq))``, and
    ``y_t = z_t @ obs_matrix + obs_loc + eps_t`` with ``eps_t ~ N(0, diag(obs_noise_scale^2))``.

    Args:
        obs_dim: the dimension of the targets.
        state_dim: the dimension of the hidden state.
        obs_noise_scale_init: optional ``(obs_dim,)`` initial noise scales (0.2).
        learnable_observation_loc: learn ``obs_loc`` (else a zero buffer).

    Example:
        >>> m = GenericLGSSM(obs_dim=1, state_dim=2)
        >>> m.trans_matrix.shape, m.obs_matrix.shape
        (torch.Size([2, 2]), torch.Size([2, 1]))
    """

    def __init__(
        self,
        obs_dim: int = 1,
        state_dim: int = 2,
        obs_noise_scale_init: torch.Tensor | None = None,
        learnable_observation_loc: bool = False,
    ) -> None:
        noise = positive_init("GenericLGSSM", "obs_noise_scale_init", obs_noise_scale_init, obs_dim)
        super().__init__()
        self.obs_dim = obs_dim
        self.state_dim = state_dim
        self.obs_noise_scale = constrained_param(noise, constraint=constraints.positive)
        self.trans_noise_scale_sq = constrained_param(
            torch.ones(state_dim), constraint=constraints.positive
        )
        self.trans_matrix = nn.Parameter(
            torch.eye(state_dim) + 0.03 * torch.randn(state_dim, state_dim)
        )
        self.obs_matrix = nn.Parameter(0.3 * torch.randn(state_dim, obs_dim))
        self.init_noise_scale_sq = constrained_param(
            torch.ones(state_dim), constraint=constraints.positive
        )
        if learnable_observation_loc:
            self.obs_loc = nn.Parameter(torch.zeros(obs_dim))
        else:
            self.register_buffer("obs_loc", torch.zeros(obs_dim))

    def _get_init_dist(self) -> MultivariateNormal:
        scale_sq = self.init_noise_scale_sq
        return MultivariateNormal(torch.zeros_like(scale_sq), torch.diag_embed(scale_sq))

    def _get_trans_dist(self) -> MultivariateNormal:
        scale_sq = self.trans_noise_scale_sq
        return MultivariateNormal(torch.zeros_like(scale_sq), torch.diag_embed(scale_sq))

    def _get_obs_dist(self) -> dist.Distribution:
        return dist.Normal(self.obs_loc, self.obs_noise_scale).to_event(1)

    def get_dist(self, duration: int | None = None) -> dist.GaussianHMM:
        """The ``GaussianHMM`` over ``(T, obs_dim)`` (``duration`` fixes ``T`` for sampling)."""
        return dist.GaussianHMM(
            self._get_init_dist(),
            self.trans_matrix,
            self._get_trans_dist(),
            self.obs_matrix,
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
        ``N_timesteps`` targets (marginally, one step at a time)."""
        A, Q = lgssm_horizons(
            self.trans_matrix, self._get_trans_dist().covariance_matrix, N_timesteps
        )
        noise = self.obs_noise_scale.pow(2) if include_observation_noise else None
        return predict_observations(
            filtering_state, A, Q, self.obs_matrix, obs_loc=self.obs_loc, obs_var=noise
        )

    @pyro_method
    def forecast(self, targets: torch.Tensor, N_timesteps: int) -> MultivariateNormal:  # type: ignore[override]
        """``MultivariateNormal`` with batch ``(N_timesteps,)`` and event ``(obs_dim,)``: the
        targets 1..N steps after ``targets[-1]``."""
        loc, cov = self._forecast(N_timesteps, self._filter(targets))
        return MultivariateNormal(loc, cov)
