"""``TraceMeanField_ELBO``: the ELBO with analytic KL terms where torch has them.

Design notes
------------
Under a mean-field assumption (each latent's guide factor depends on no other
latent), the ELBO splits per latent site ``z`` into
``E_q[log p(x | z)] - KL(q(z) || p(z))``. When
``torch.distributions.kl_divergence`` knows the pair (guide site's distribution,
model site's distribution) the KL is used exactly, scaled and masked like the site;
otherwise the site falls back to the Monte Carlo term ``log p(z) - log q(z)``.
Guide-only (``is_auxiliary``) sites contribute ``-log q``. Only reparameterized
guides are supported, as in Pyro (the estimator has no score-function term).

The value differs from ``Trace_ELBO``'s estimate (lower variance, same
expectation); the gradient is pathwise.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.clear_param_store()
    >>> model = lambda: ppl.sample("z", dist.Normal(0.0, 1.0))
    >>> guide = lambda: ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(1.0)), 1.0))
    >>> TraceMeanField_ELBO().loss(model, guide)  # exactly KL(N(1,1) || N(0,1))
    0.5
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.distributions import kl_divergence

from .. import settings
from ..ops.tensor import scale_and_mask
from ..poutine.trace_struct import Trace
from .elbo import ELBO
from .util import is_sample_site

__all__ = ["TraceMeanField_ELBO"]


def _analytic_kl(guide_site: Any, model_site: Any) -> torch.Tensor | None:
    """Scaled, masked ``KL(q || p)`` summed over the site, or None if torch has none."""
    try:
        kl = kl_divergence(guide_site.fn, model_site.fn)
    except NotImplementedError:
        return None
    if isinstance(kl, torch.Tensor) and kl.shape != guide_site.fn.batch_shape:
        kl = kl.expand(guide_site.fn.batch_shape)
    return scale_and_mask(kl, guide_site.scale, guide_site.mask).sum()


class TraceMeanField_ELBO(ELBO):
    """Pyro's ``TraceMeanField_ELBO`` (see the module notes). Arguments as :class:`ELBO`.

    Raises (when the loss is evaluated):
        NotImplementedError: naming the site, when a guide site is not reparameterized.
        ValueError: naming the site, when a latent model site has no guide site.

    Warns:
        UserWarning: (with validation on) when model and guide visit their shared
            latent sites in different orders: the mean-field condition then cannot
            be verified (Pyro's check).
    """

    def _particle_loss(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        elbo: Any = 0.0
        if settings._VALIDATION_ENABLED:
            _check_mean_field_order(model_trace, guide_trace)
        guide_trace.compute_log_prob()
        model_trace.compute_log_prob()
        for name, model_site in model_trace.nodes.items():
            if not is_sample_site(model_site):
                continue
            if model_site.is_observed:
                elbo = elbo + model_site["log_prob"].sum()
                continue
            guide_site = guide_trace.nodes.get(name)
            if guide_site is None:
                raise ValueError(
                    f"TraceMeanField_ELBO: latent model site {name!r} has no guide site; add "
                    f"ppl.sample({name!r}, ...) to the guide"
                )
            _check_reparameterized(guide_site)
            kl = _analytic_kl(guide_site, model_site)
            if kl is None:
                elbo = elbo + model_site["log_prob"].sum() - guide_site["log_prob"].sum()
            else:
                elbo = elbo - kl
        for name, guide_site in guide_trace.nodes.items():
            if is_sample_site(guide_site) and name not in model_trace.nodes:
                _check_reparameterized(guide_site)
                elbo = elbo - guide_site["log_prob"].sum()
        if not isinstance(elbo, torch.Tensor):
            elbo = torch.tensor(float(elbo))
        return -elbo, None


def _check_mean_field_order(model_trace: Trace, guide_trace: Trace) -> None:
    """Warn when the latent sites shared by model and guide come in different orders."""
    in_model = [n for n, s in model_trace.nodes.items() if is_sample_site(s) and n in guide_trace]
    in_guide = [n for n, s in guide_trace.nodes.items() if is_sample_site(s) and n in model_trace]
    if in_model != in_guide:
        warnings.warn(
            "TraceMeanField_ELBO: could not verify the mean-field restriction on the guide; "
            f"visit the latent sites in the model's order. Model sites: {in_model}; guide "
            f"sites: {in_guide}",
            stacklevel=4,
        )


def _check_reparameterized(site: Any) -> None:
    # NotImplementedError, as Pyro's check_fully_reparametrized raises
    if not getattr(site.fn, "has_rsample", False):
        raise NotImplementedError(
            f"TraceMeanField_ELBO: guide site {site.name!r} ({type(site.fn).__name__}) is not "
            "reparameterized; use Trace_ELBO, which handles it with a score-function term"
        )


def __getattr__(name: str) -> Any:
    # Pyro's module path ``pyro.infer.trace_mean_field_elbo.JitTraceMeanField_ELBO``.
    if name == "JitTraceMeanField_ELBO":
        from .compile.estimators import JitTraceMeanField_ELBO

        return JitTraceMeanField_ELBO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
