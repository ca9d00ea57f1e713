"""``AutoLaplaceApproximation``: MAP in unconstrained space, then a Gaussian from the Hessian.

Design notes
------------
Fitting: the guide is a point mass at ``AutoLaplaceApproximation.loc`` (the packed
unconstrained latent vector), so ``Trace_ELBO`` finds the mode of the *unconstrained*
posterior density ``p(T(z), data) |det J_T(z)|``.

:meth:`AutoLaplaceApproximation.laplace_approximation` then computes the Hessian
``H`` of ``-log p(T(z), data) - log |det J_T(z)|`` at that mode with
``torch.autograd.functional.hessian`` (the model is run with its latents fixed by
``poutine.condition``, inside ``poutine.block``), and returns an
:class:`~.multivariate_normal.AutoMultivariateNormal` with ``loc`` = the mode and
covariance factor ``cholesky(H^{-1}) = scale[:, None] * scale_tril``. If ``H`` is not
positive definite the point is not a strict local mode: a ``ValueError`` says so,
unless ``jitter > 0`` was given, in which case ``jitter * I`` is added (doubling up to
10 times) until the Cholesky factorisation succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Distribution

from ppl.distributions import Delta
from ppl.infer.autoguide.continuous import AutoContinuous
from ppl.infer.autoguide.initialization import init_to_median, init_to_value
from ppl.infer.autoguide.multivariate_normal import AutoMultivariateNormal
from ppl.infer.autoguide.utils import log_density_of
from ppl.params.param_store import get_param_store
from ppl.poutine.block_messenger import BlockMessenger
from ppl.poutine.condition_messenger import ConditionMessenger
from ppl.poutine.trace_messenger import trace

__all__ = ["AutoLaplaceApproximation"]


class AutoLaplaceApproximation(AutoContinuous):
    """MAP point over the packed vector, with a Laplace approximation on request.

    Args:
        model: the model.
        init_loc_fn: init strategy (default ``init_to_median``).
        jitter: ``0`` (default) makes a non-positive-definite Hessian an error; a
            positive value is added to its diagonal instead (see module notes).
        create_plates: see :class:`~.guide.AutoGuide`.

    Raises:
        ValueError: if ``jitter`` is negative.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> guide = AutoLaplaceApproximation(lambda: ppl.sample("x", dist.Normal(1.0, 2.0)))
        >>> mvn = guide.laplace_approximation()
        >>> round(float(mvn.scale.detach()), 4)  # the exact posterior sd: 2
        2.0
    """

    def __init__(
        self,
        model: Callable[..., Any],
        init_loc_fn: Callable[..., Any] | str = init_to_median,
        jitter: float = 0.0,
        *,
        create_plates: Callable[..., Any] | None = None,
    ) -> None:
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or jitter < 0:
            raise ValueError(
                f"AutoLaplaceApproximation: jitter must be a number >= 0, got {jitter!r}"
            )
        self.jitter = float(jitter)
        super().__init__(model, init_loc_fn=init_loc_fn, create_plates=create_plates)

    def _setup_params(self) -> None:
        self._add_param("loc", self._init_loc())

    def get_posterior(self, *args: Any, **kwargs: Any) -> Distribution:
        """``Delta(loc, event_dim=1)``: the MAP point."""
        return Delta(self._param("loc"), event_dim=1)

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        loc = self._lookup("loc")
        return loc, torch.zeros_like(loc)

    def _neg_log_density(self, latent: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``-log p(T(z), data) - log|det J_T(z)|`` at the packed vector ``latent``."""
        values: dict[str, torch.Tensor] = {}
        log_jac: torch.Tensor | float = 0.0
        for name, u in self._unpack(latent).items():
            info = self._sites[name]
            value = info.transform(u)
            values[name] = value
            ld = log_density_of(info, value, u)
            log_jac = log_jac + (ld.sum() if isinstance(ld, torch.Tensor) else ld)
        with BlockMessenger():
            tr = trace(ConditionMessenger(values)(self.model)).get_trace(*args, **kwargs)
        return log_jac - tr.log_prob_sum()

    def laplace_approximation(self, *args: Any, **kwargs: Any) -> AutoMultivariateNormal:
        """A Gaussian guide centred at the current MAP point with covariance ``H^{-1}``.

        Args:
            *args, **kwargs: the model's arguments.

        Returns:
            A set-up :class:`AutoMultivariateNormal` for the same model whose parameters
            (``AutoMultivariateNormal.loc``/``.scale``/``.scale_tril`` in the ParamStore)
            hold the mode and ``cholesky(H^{-1})`` split into its diagonal times a
            unit-diagonal factor.

        Raises:
            ValueError: if the Hessian is not finite, or not positive definite and
                ``jitter`` is 0.
        """
        self.setup(*args, **kwargs)
        loc = self._lookup("loc").detach()
        hess = torch.autograd.functional.hessian(
            lambda z: self._neg_log_density(z, *args, **kwargs), loc
        )
        hess = 0.5 * (hess + hess.transpose(-1, -2))
        if not bool(torch.isfinite(hess).all()):
            raise ValueError(
                "AutoLaplaceApproximation.laplace_approximation: the Hessian of the negative "
                "log density at the MAP point is not finite; check the model at "
                f"{self.median(*args, **kwargs)}"
            )
        chol = self._cholesky(hess)
        factor = torch.linalg.cholesky(torch.cholesky_inverse(chol))
        scale = factor.diagonal()  # factor = scale[:, None] * unit, unit's diagonal all ones
        unit = (factor / scale[:, None]).tril(-1)
        unit = unit + torch.eye(unit.shape[-1], dtype=unit.dtype, device=unit.device)
        point = {n: v.detach() for n, v in self.median(*args, **kwargs).items()}
        gaussian = AutoMultivariateNormal(
            self.model, init_loc_fn=init_to_value(values=point), create_plates=self.create_plates
        )
        gaussian.setup(*args, **kwargs)
        if gaussian.layout != self.layout:
            raise ValueError(
                "AutoLaplaceApproximation.laplace_approximation: the model's latent sites "
                f"changed between runs ({gaussian.layout} vs {self.layout}); the Laplace "
                "approximation needs a model with a fixed set of latent sites"
            )
        store = get_param_store()
        store[gaussian._param_names["loc"]] = loc.clone()
        store[gaussian._param_names["scale"]] = scale
        store[gaussian._param_names["scale_tril"]] = unit
        return gaussian

    def _cholesky(self, hess: torch.Tensor) -> torch.Tensor:
        chol, info = torch.linalg.cholesky_ex(hess)
        if int(info) == 0:
            return chol
        if self.jitter > 0:
            eye = torch.eye(hess.shape[-1], dtype=hess.dtype, device=hess.device)
            jitter = self.jitter
            for _ in range(10):
                chol, info = torch.linalg.cholesky_ex(hess + jitter * eye)
                if int(info) == 0:
                    return chol
                jitter *= 2
        smallest = float(torch.linalg.eigvalsh(hess)[0])
        raise ValueError(
            "AutoLaplaceApproximation.laplace_approximation: the Hessian of the negative log "
            f"density at the current point is not positive definite (smallest eigenvalue "
            f"{smallest:.4g}), so the point is not a strict local mode. Run more optimization "
            "steps to reach the MAP, or construct the guide with jitter=1e-3 (or larger) to "
            "add jitter * I to the Hessian."
        )
