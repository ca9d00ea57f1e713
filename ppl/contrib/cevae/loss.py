"""``TraceCausalEffect_ELBO``: the CEVAE training objective.

The objective (to maximize) is ``ELBO + log q(t | x) + log q(y | t, x)``: the usual
ELBO over the latent ``z``, plus the log-likelihood of the guide's auxiliary
treatment and outcome predictors at the observed ``t`` and ``y``. Those two terms
train the predictors that the guide needs to answer counterfactual queries, where
``t`` and ``y`` are not observed.

It reuses :class:`~ppl.infer.Trace_ELBO`'s particle estimator on the guide trace
without its observed sites, and subtracts their log-densities.
"""

from __future__ import annotations

import torch

from ppl.infer.trace_elbo import Trace_ELBO
from ppl.infer.util import is_sample_site
from ppl.poutine.trace_struct import Trace

__all__ = ["TraceCausalEffect_ELBO"]


class TraceCausalEffect_ELBO(Trace_ELBO):
    """Loss of a :class:`~ppl.contrib.cevae.CEVAE`: ``-(ELBO + log q(t|x) + log q(y|t,x))``.

    Example:
        >>> loss = TraceCausalEffect_ELBO()
    """

    def _particle_loss(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        guide_trace.compute_log_prob()
        observed = [
            name
            for name, site in guide_trace.nodes.items()
            if is_sample_site(site) and site.is_observed
        ]
        latent_only = guide_trace.copy()
        for name in observed:
            latent_only.remove_node(name)
        loss, surrogate = super()._particle_loss(model_trace, latent_only)
        for name in observed:
            log_q = guide_trace.nodes[name]["log_prob"].sum()
            loss = loss - log_q
            if surrogate is not None:
                surrogate = surrogate - log_q
        return loss, surrogate
