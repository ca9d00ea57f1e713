"""``AutoLowRankMultivariateNormal``: Normal with covariance ``W W^T + D`` (rank ``r``).

Design notes
------------
Parameters (Pyro's names and parameterisation): ``loc`` ``(D,)``, ``scale`` ``(D,)``
(``softplus_positive``, init ``sqrt(1/2) * init_scale``) and ``cov_factor`` ``(D, r)``
(init ``Normal(0, 1/sqrt(r))``, drawn from torch's global RNG, so ``ppl.set_rng_seed``
makes it reproducible). The posterior is
``LowRankMultivariateNormal(loc, cov_factor * scale[:, None], scale**2)``, i.e.
covariance ``diag(scale) (W W^T + I) diag(scale)``: the low-rank part is relative to
the per-coordinate scale. Cost per step is ``O(D r^2)`` instead of ``O(D^3)``.
``rank=None`` picks ``round(sqrt(D))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Distribution, Transform

from ppl.distributions import LowRankMultivariateNormal, constraints
from ppl.infer.autoguide.affine import LowerCholeskyAffine
from ppl.infer.autoguide.continuous import AutoContinuous
from ppl.infer.autoguide.initialization import init_to_median
from ppl.infer.autoguide.utils import check_init_scale

__all__ = ["AutoLowRankMultivariateNormal"]


class AutoLowRankMultivariateNormal(AutoContinuous):
    """Low-rank plus diagonal Normal guide (Pyro's ``AutoLowRankMultivariateNormal``).

    Args:
        model: the model.
        init_loc_fn: init strategy (default ``init_to_median``).
        init_scale: initial per-coordinate scale (approximately; see module notes).
        rank: rank ``r`` of the covariance factor (None: ``round(sqrt(latent_dim))``).
        create_plates: see :class:`~.guide.AutoGuide`.

    Raises:
        ValueError: if ``init_scale`` is not positive or ``rank`` not a positive int.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> guide = AutoLowRankMultivariateNormal(
        ...     lambda: ppl.sample("x", dist.Normal(0.0, 1.0).expand([4]).to_event(1)), rank=2)
        >>> tuple(guide.setup().cov_factor.shape)
        (4, 2)
    """

    scale_constraint = constraints.softplus_positive

    def __init__(
        self,
        model: Callable[..., Any],
        init_loc_fn: Callable[..., Any] | str = init_to_median,
        init_scale: float = 0.1,
        rank: int | None = None,
        *,
        create_plates: Callable[..., Any] | None = None,
    ) -> None:
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
            raise ValueError(
                f"AutoLowRankMultivariateNormal: rank must be a positive int or None, got {rank!r}"
            )
        self._init_scale = check_init_scale("AutoLowRankMultivariateNormal", init_scale)
        self.rank = rank
        super().__init__(model, init_loc_fn=init_loc_fn, create_plates=create_plates)

    def _setup_params(self) -> None:
        loc = self._init_loc()
        if self.rank is None:
            self.rank = max(1, int(round(self.latent_dim**0.5)))
        self._add_param("loc", loc)
        scale = torch.full_like(loc, math.sqrt(0.5) * self._init_scale)
        self._add_param("scale", scale, self.scale_constraint)
        factor = loc.new_empty(self.latent_dim, self.rank).normal_(0.0, 1.0 / math.sqrt(self.rank))
        self._add_param("cov_factor", factor)

    def get_posterior(self, *args: Any, **kwargs: Any) -> Distribution:
        """``LowRankMultivariateNormal(loc, cov_factor * scale[:, None], scale**2)``."""
        scale = self._param("scale")
        factor = self._param("cov_factor") * scale.unsqueeze(-1)
        return LowRankMultivariateNormal(self._param("loc"), factor, scale * scale)

    def get_transform(self, *args: Any, **kwargs: Any) -> Transform:
        """``x = loc + chol(cov) @ z`` (dense Cholesky of the low-rank covariance)."""
        posterior = self.get_posterior(*args, **kwargs)
        assert isinstance(posterior, LowRankMultivariateNormal)  # internal: see get_posterior
        return LowerCholeskyAffine(posterior.loc, posterior.scale_tril)

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self._lookup("scale")
        factor = self._lookup("cov_factor")
        return self._lookup("loc"), scale * (factor.pow(2).sum(-1) + 1).sqrt()
