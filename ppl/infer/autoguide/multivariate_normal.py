"""``AutoMultivariateNormal``: a full-covariance Normal over the packed latent vector.

Design notes
------------
Two parameters, ``AutoMultivariateNormal.loc`` ``(D,)`` and
``AutoMultivariateNormal.scale_tril`` ``(D, D)``, the lower Cholesky factor ``L`` of
the posterior covariance ``L @ L.T`` in unconstrained space (constraint
``softplus_lower_cholesky``: positive diagonal through softplus, which is better
conditioned for gradient steps than ``exp``). This is the parameterisation of seed
002 (``params['auto_scale_tril']``) and of Pyro before 1.8; Pyro 1.8+ splits the same
factor into a positive ``scale`` vector times a unit-diagonal ``scale_tril``. The
covariance is ``guide.scale_tril @ guide.scale_tril.T``.

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
        init_scale: initial ``scale_tril`` is ``init_scale * I``.
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
        >>> guide.scale_tril
        tensor([[0.1000, 0.0000],
                [0.0000, 0.1000]], grad_fn=<...>)
    """

    scale_tril_constraint = constraints.softplus_lower_cholesky

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
        self._add_param("scale_tril", eye * self._init_scale, self.scale_tril_constraint)

    def get_posterior(self, *args: Any, **kwargs: Any) -> Distribution:
        """``MultivariateNormal(loc, scale_tril=scale_tril)``."""
        return MultivariateNormal(self._param("loc"), scale_tril=self._param("scale_tril"))

    def get_transform(self, *args: Any, **kwargs: Any) -> Transform:
        """``x = loc + scale_tril @ z``."""
        return LowerCholeskyAffine(self._param("loc"), self._param("scale_tril"))

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        scale_tril = self._lookup("scale_tril")
        return self._lookup("loc"), scale_tril.pow(2).sum(-1).sqrt()
