"""``EnergyDistance``: likelihood-free fitting by the posterior-predictive energy score.

Design notes
------------
For data ``x``, draws ``Z, Z' ~ q`` and posterior-predictive draws ``X ~ p(x | Z)``,
``X' ~ p(x | Z')``, the loss (Szekely & Rizzo, 2003; Gneiting & Raftery, 2007) is::

    E ||X - x||^beta  -  1/2 E ||X - X'||^beta  -  prior_scale * E log p(Z)

It needs samples of the likelihood, never its density, so it fits simulators; it is
a strictly proper scoring rule for ``0 < beta < 2`` and distributions with a finite
``beta``-th moment. The gradient is pathwise: guide sites and observed (likelihood)
sites must be reparameterized; model latents need not be.

The estimator runs ``num_particles`` (>= 2) vectorized particles in one pass: the
guide, then the model *unconditioned* (observed sites are sampled, the data kept in
``infer["obs"]``) and replayed against the guide. ``X - X'`` uses every pair of
distinct particles. Like Pyro, this is a plain callable loss (not an ``ELBO``):
``SVI(model, guide, optim, EnergyDistance())`` works, ``loss`` does not.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.set_rng_seed(0)
    >>> def model():
    ...     ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))
    >>> guide = lambda: None
    >>> # E|X| - E|X - X'| / 2 = sqrt(2/pi) - sqrt(2/pi) / sqrt(2) ~ 0.234
    >>> round(float(EnergyDistance(num_particles=2000)(model, guide)), 1)
    0.2
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .. import settings
from ..ops.tensor import scale_and_mask
from ..poutine.handlers import replay, trace, uncondition
from ..poutine.plate_messenger import PlateMessenger
from ..poutine.trace_struct import Trace
from ..poutine.util import prune_subsample_sites
from .util import guess_max_plate_nesting, is_sample_site

__all__ = ["EnergyDistance"]

PARTICLE_PLATE = "num_particles_vectorized"


def _squared_error(x: torch.Tensor, y: torch.Tensor, scale: Any, mask: Any) -> torch.Tensor:
    """``sum ||x - y||^2`` per particle: ``x`` is ``(P, B, E)``, ``y`` broadcasts to it."""
    diff = x - y
    if getattr(scale, "shape", ()) or getattr(mask, "shape", ()):
        error = (diff * diff).sum(-1)  # (P, B)
        return scale_and_mask(error, scale, mask).sum(-1)
    return scale_and_mask((diff * diff).sum((-1, -2)), scale, mask)


class EnergyDistance:
    """Posterior-predictive energy distance, optionally regularized by the prior (Pyro's).

    Args:
        beta: the exponent, in the open interval ``(0, 2)`` (default 1).
        prior_scale: weight (>= 0) of ``-E log p(Z)``; model params train only if > 0.
        num_particles: vectorized particles (>= 2).
        max_plate_nesting: plates the model uses; ``inf`` finds it from one run.

    Raises:
        ValueError: on a bad argument; when called, if the model observes nothing or
            a guide or likelihood site is not reparameterized (naming the site).

    Example:
        >>> EnergyDistance(beta=0.5, num_particles=8).beta
        0.5
    """

    def __init__(
        self,
        beta: float = 1.0,
        prior_scale: float = 0.0,
        num_particles: int = 2,
        max_plate_nesting: float = float("inf"),
    ) -> None:
        if not (isinstance(beta, (float, int)) and 0 < beta < 2):
            raise ValueError(f"EnergyDistance: expected beta in (0, 2), got {beta!r}")
        if not (isinstance(prior_scale, (float, int)) and prior_scale >= 0):
            raise ValueError(f"EnergyDistance: expected prior_scale >= 0, got {prior_scale!r}")
        if isinstance(num_particles, bool) or not (
            isinstance(num_particles, int) and num_particles >= 2
        ):
            raise ValueError(f"EnergyDistance: expected num_particles >= 2, got {num_particles!r}")
        self.beta = beta
        self.prior_scale = prior_scale
        self.num_particles = num_particles
        self.vectorize_particles = True
        self.max_plate_nesting = max_plate_nesting

    def _pow(self, x: torch.Tensor) -> torch.Tensor:
        """``||.||^beta`` from a squared norm."""
        return x.sqrt() if self.beta == 1 else x.pow(self.beta / 2)

    def _nesting(self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple,
                 kwargs: dict) -> int:
        if self.max_plate_nesting == math.inf:
            with torch.no_grad(), settings.validation_enabled(False):
                guide_trace = trace(guide).get_trace(*args, **kwargs)
                model_trace = trace(replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
            self.max_plate_nesting = guess_max_plate_nesting([model_trace, guide_trace])
        return int(self.max_plate_nesting)

    def _get_traces(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[Trace, Trace]:
        """``(guide_trace, model_trace)``: one vectorized run, observed sites re-sampled."""
        nesting = self._nesting(model, guide, args, kwargs)
        particles = PlateMessenger(PARTICLE_PLATE, self.num_particles, dim=-nesting - 1)
        with particles:
            guide_trace = trace(guide).get_trace(*args, **kwargs)
        with particles:
            model_trace = trace(uncondition(replay(model, trace=guide_trace))).get_trace(
                *args, **kwargs
            )
        for site in model_trace.nodes.values():
            if site.type == "sample" and site.infer.get("was_observed", False):
                site.is_observed = True
        guide_trace = prune_subsample_sites(guide_trace)
        model_trace = prune_subsample_sites(model_trace)
        for site in guide_trace.nodes.values():
            if is_sample_site(site) and not getattr(site.fn, "has_rsample", False):
                raise ValueError(
                    f"EnergyDistance: guide site {site.name!r} ({type(site.fn).__name__}) is "
                    "not reparameterized; the energy distance needs a fully reparameterized guide"
                )
        for site in model_trace.nodes.values():
            if (
                is_sample_site(site)
                and site.is_observed
                and not getattr(site.fn, "has_rsample", False)
            ):
                raise ValueError(
                    f"EnergyDistance: likelihood site {site.name!r} ({type(site.fn).__name__}) "
                    "is not reparameterized; use a reparameterized likelihood"
                )
        return guide_trace, model_trace

    def __call__(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """The differentiable loss (a 0-dim tensor) for one vectorized run."""
        _, model_trace = self._get_traces(model, guide, args, kwargs)
        num = self.num_particles
        errors: Any = 0.0
        spreads: Any = 0.0
        pairs = None
        found = False
        for site in model_trace.nodes.values():
            if not (is_sample_site(site) and site.is_observed):
                continue
            found = True
            obs = torch.as_tensor(site.infer["obs"])
            sample = site.value
            event_dim = int(getattr(site.fn, "event_dim", 0))
            batch_shape = obs.shape[: obs.dim() - event_dim]
            batch, event = batch_shape.numel(), obs.shape[obs.dim() - event_dim :].numel()
            scale, mask = site.scale, site.mask
            if getattr(scale, "shape", ()):
                scale = scale.expand(batch_shape).reshape(-1)
            if getattr(mask, "shape", ()):
                mask = mask.expand(batch_shape).reshape(-1)
            obs = obs.reshape(batch, event)
            sample = sample.reshape(num, batch, event)
            if pairs is None:
                pairs = torch.ones(num, num, device=obs.device).tril(-1).nonzero()
            errors = errors + _squared_error(sample, obs, scale, mask)
            first, second = sample[pairs].unbind(1)
            spreads = spreads + _squared_error(first, second, scale, mask)
        if not found:
            raise ValueError("EnergyDistance: the model has no observed sites to compare with")
        energy = self._pow(errors).mean() - 0.5 * self._pow(spreads).mean()
        if self.prior_scale > 0:
            log_prior = model_trace.log_prob_sum(lambda name, site: not site.is_observed)
            energy = energy - self.prior_scale * log_prior
        return energy

    def loss(self, *args: Any, **kwargs: Any) -> float:
        """Not defined (only the surrogate ``__call__`` is), as in Pyro."""
        raise NotImplementedError("EnergyDistance implements only the surrogate loss (__call__)")
