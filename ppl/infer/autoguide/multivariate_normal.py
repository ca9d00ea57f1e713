"""``AutoMultivariateNormal``: a full-covariance Normal over the packed latent vector.

Design notes
------------
Three parameters, as Pyro 1.8+ names them, so Pyro-trained param files load and scripts
reading ``AutoMultivariateNormal.loc/scale/scale_tril`` work:

* ``loc`` ``(D,)``, the mean in unconstrained space;
* ``scale`` ``(D,)`` (``softplus_positive``), per-coordinate scales;
* ``scale_tril`` ``(D, D)`` (``unit_lower_cholesky``), a unit-diagonal lower factor.

The covariance factor is ``L = scale[:, None] * scale_tril`` and the covariance
``L @ L.T``. Splitting the scales out keeps the step size of each coordinate's width
independent of the correlations; :meth:`AutoMultivariateNormal.covariance_factor`
returns ``L``.

Marginal quantiles use the exact marginal standard deviations (row norms of ``L``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Distribution, Transform

from ppl.distributions import MultivariateNormal, constraints
from ppl.infer.autoguide.affine import LowerCholeskyAffine
from ppl.infer.autoguide.continuous import AutoContinuous
from ppl.infer.autoguide.initialization import init_to_median
from ppl.infer.autoguide.utils import check_init_scale

__all__ = ["AutoMultivariateNormal"]


class AutoMultivariateNormal(AutoContinuous):
    """Full-rank Normal guide over all latents (Pyro's ``AutoMultivariateNormal``).

    Args:
        model: the model.
        init_loc_fn: init strategy (default ``init_to_median``).
        init_scale: initial ``scale`` (every coordinate); ``scale_tril`` starts at ``I``.
        create_plates: see :class:`~.guide.AutoGuide`.

    Raises:
        ValueError: if ``init_scale`` is not positive; at setup, for a discrete latent
            or a latent inside a subsampled plate.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> def model():
        ...     ppl.sample("x", dist.Normal(0.0, 1.0))
        ...     ppl.sample("y", dist.Normal(0.0, 1.0))
        >>> guide = AutoMultivariateNormal(model).setup()
        >>> [name.split(".")[1] for name in sorted(ppl.get_param_store())]
        ['loc', 'scale', 'scale_tril']
        >>> guide.covariance_factor()
        tensor([[0.1000, 0.0000],
                [0.0000, 0.1000]], grad_fn=<...>)
    """

    scale_constraint = constraints.softplus_positive
    scale_tril_constraint = constraints.unit_lower_cholesky

    def __init__(
        self,
        model: Callable[..., Any],
        init_loc_fn: Callable[..., Any] | str = init_to_median,
        init_scale: float = 0.1,
        *,
        create_plates: Callable[..., Any] | None = None,
    ) -> None:
        self._init_scale = check_init_scale("AutoMultivariateNormal", init_scale)
        super().__init__(model, init_loc_fn=init_loc_fn, create_plates=create_plates)

    def _setup_params(self) -> None:
        loc = self._init_loc()
        eye = torch.eye(self.latent_dim, dtype=loc.dtype, device=loc.device)
        self._add_param("loc", loc)
        self._add_param("scale", torch.full_like(loc, self._init_scale), self.scale_constraint)
        self._add_param("scale_tril", eye, self.scale_tril_constraint)

    def covariance_factor(self) -> torch.Tensor:
        """The lower Cholesky factor ``scale[:, None] * scale_tril`` of the covariance."""
        self._require_setup("covariance_factor")
        return self._lookup("scale")[..., None] * self._lookup("scale_tril")

    def _factor(self) -> torch.Tensor:
        return self._param("scale")[..., None] * self._param("scale_tril")

    def get_posterior(self, *args: Any, **kwargs: Any) -> Distribution:
        """``MultivariateNormal(loc, scale_tril=scale[:, None] * scale_tril)``."""
        return MultivariateNormal(self._param("loc"), scale_tril=self._factor())

    def get_transform(self, *args: Any, **kwargs: Any) -> Transform:
        """``x = loc + (scale[:, None] * scale_tril) @ z``."""
        return LowerCholeskyAffine(self._param("loc"), self._factor())

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        factor = self._lookup("scale")[..., None] * self._lookup("scale_tril")
        return self._lookup("loc"), factor.pow(2).sum(-1).sqrt()
