"""The time series model interface and the Kalman prediction every model forecasts with.

Why: the models differ only in how they build their state space matrices; predicting
``k`` steps past the filtered last state is the same linear-Gaussian algebra for all.

Example:
    >>> import torch
    >>> from torch.distributions import MultivariateNormal
    >>> last = MultivariateNormal(torch.ones(1), torch.eye(1))  # z ~ N(1, 1)
    >>> A, Q = torch.full((1, 1, 1), 0.5), torch.ones(1, 1, 1)   # z' = 0.5 z + N(0, 1)
    >>> loc, cov = predict_observations(last, A, Q, torch.ones(1, 1))
    >>> loc.tolist(), cov.tolist()
    ([[0.5]], [[[1.25]]])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Distribution, MultivariateNormal

from ppl.nn import PyroModule, pyro_method
from ppl.ops.tensor_utils import repeated_matmul

__all__ = ["TimeSeriesModel", "check_targets", "lgssm_horizons", "predict_observations"]


class TimeSeriesModel(PyroModule):
    """Base class of the time series models: a ``PyroModule`` with ``log_prob``,
    ``forecast`` and ``get_dist``.

    ``targets`` are always ``(T, obs_dim)`` real tensors, evenly spaced in time.

    Example:
        >>> from ppl.contrib.timeseries import GenericLGSSM
        >>> isinstance(GenericLGSSM(obs_dim=2), TimeSeriesModel)
        True
    """

    @pyro_method
    def log_prob(self, targets: torch.Tensor) -> torch.Tensor:
        """``log p(targets)``: a scalar for a multivariate model, ``(obs_dim,)`` for a
        batch of independent univariate series. By default the exact log likelihood
        under :meth:`get_dist`."""
        check_targets(type(self).__name__, targets, self.obs_dim)
        return self.get_dist().log_prob(targets)

    @torch.no_grad()
    def _filter(self, targets: torch.Tensor) -> MultivariateNormal:
        """The law of the last state given ``targets`` (what forecasts start from)."""
        check_targets(type(self).__name__, targets, self.obs_dim)
        hmm: Any = self.get_dist()  # a GaussianHMM
        return hmm.filter(targets)

    def forecast(self, targets: torch.Tensor, dts: torch.Tensor) -> Distribution:
        """The predictive distribution at times ``dts`` (``(S,)``, zero is the time of
        ``targets[-1]``) given ``targets``: batch shape ``(S,)``, event shape ``(obs_dim,)``,
        no correlation between distinct times."""
        raise NotImplementedError

    def get_dist(self, duration: int | None = None) -> Distribution:
        """The distribution over ``(T, obs_dim)`` this model defines (a ``GaussianHMM``)."""
        raise NotImplementedError


def check_targets(model: str, targets: torch.Tensor, obs_dim: int) -> None:
    """Raise ``ValueError`` unless ``targets`` is ``(T, obs_dim)``."""
    if targets.dim() != 2 or targets.size(-1) != obs_dim:
        raise ValueError(
            f"{model}: targets must have shape (T, {obs_dim}), got {tuple(targets.shape)}"
        )


def predict_observations(
    filtered: MultivariateNormal,
    trans: torch.Tensor,
    process_covar: torch.Tensor,
    obs_matrix: torch.Tensor,
    obs_loc: torch.Tensor | None = None,
    obs_var: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and covariance of ``x = z' @ H + loc + noise`` with ``z' = z @ A_k + w_k``.

    Args:
        filtered: the law of the last state ``z``, event ``(D,)``.
        trans: ``A_k`` per horizon ``(S, ..., D, D)`` in the ``(old, new)`` layout.
        process_covar: ``Cov(w_k)``, the noise accumulated over horizon ``k``, same shape.
        obs_matrix: ``H``, ``(D, O)``.
        obs_loc: optional ``(O,)`` observation mean.
        obs_var: optional ``(..., O)`` observation noise variances (added on the diagonal).

    Returns:
        ``loc`` of shape ``(S, ..., O)`` and ``covariance`` of shape ``(S, ..., O, O)``.
    """
    state_loc = torch.matmul(filtered.loc.unsqueeze(-2), trans).squeeze(-2)
    sigma = filtered.covariance_matrix
    state_cov = torch.matmul(trans.transpose(-1, -2), torch.matmul(sigma, trans)) + process_covar
    loc = torch.matmul(state_loc.unsqueeze(-2), obs_matrix).squeeze(-2)
    if obs_loc is not None:
        loc = loc + obs_loc
    cov = torch.matmul(obs_matrix.transpose(-1, -2), torch.matmul(state_cov, obs_matrix))
    if obs_var is not None:
        cov = cov + torch.diag_embed(obs_var)
    return loc, cov


def lgssm_horizons(
    trans_matrix: torch.Tensor, process_covar: torch.Tensor, num_steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``A^k`` and ``sum_{j<k} (A^j)^T Q A^j`` for ``k = 1..num_steps`` (each
    ``(num_steps, D, D)``): the transition and the accumulated noise of ``k`` steps of a
    homogeneous chain."""
    if num_steps < 1:
        raise ValueError(f"forecast: the number of steps must be at least 1, got {num_steps}")
    eye = torch.eye(trans_matrix.size(-1), dtype=trans_matrix.dtype, device=trans_matrix.device)
    powers = torch.cat([eye.unsqueeze(0), repeated_matmul(trans_matrix, num_steps)])  # A^0..A^n
    terms = torch.matmul(powers[:-1].transpose(-1, -2), torch.matmul(process_covar, powers[:-1]))
    return powers[1:], terms.cumsum(0)
