"""``TraceTailAdaptive_ELBO``: gradients of the tail-adaptive f-divergence (Wang et al., 2018).

Design notes
------------
The tail-adaptive f-divergence replaces the ELBO's uniform average over particles by
weights that depend only on the *ranks* of the importance weights, which keeps the
mass-covering behaviour of alpha-divergences without their heavy-tailed variance.
With ``K`` vectorized particles and ``l_k = log p(x, z_k) - log q(z_k)``::

    s_k     = #{j : l_j >= l_k}          (1 for the largest weight)
    gamma_k = s_k ** beta                (beta = tail_adaptive_beta, default -1)
    surrogate loss = -sum_k gamma_k l_k / sum_k gamma_k     (gamma detached)

Only the gradient is defined: :meth:`loss` raises ``NotImplementedError`` as in Pyro
(monitor with ``RenyiELBO`` or ``Trace_ELBO``). So that ``SVI``'s finite-loss guard
has a number to check, a step reports the plain ``-ELBO`` estimate
``-mean_k l_k`` as its value (Pyro reports ``inf``). Every guide site must be fully
reparameterized, and particles must be vectorized; like Pyro, the surrogate is divided
by ``num_particles`` (so learning rates carry over).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.clear_param_store()
    >>> def model():
    ...     ppl.sample("z", dist.Normal(0.0, 1.0))
    >>> def guide():
    ...     ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))
    >>> elbo = TraceTailAdaptive_ELBO(num_particles=10, vectorize_particles=True)
    >>> float(elbo.differentiable_loss(model, guide))  # the guide is the prior: -ELBO = 0
    0.0
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from .. import settings
from ..poutine.trace_struct import Trace
from .particles import particle_log_prob_sum
from .trace_elbo import Trace_ELBO
from .util import check_fully_reparametrized, is_sample_site

__all__ = ["TraceTailAdaptive_ELBO"]


def tail_adaptive_weights(log_w: torch.Tensor, beta: float) -> torch.Tensor:
    """Detached rank weights ``s_k ** beta``, ``s_k`` the descending rank of ``log_w[k]``.

    Example:
        >>> tail_adaptive_weights(torch.tensor([0.0, 2.0, 1.0]), -1.0).tolist()
        [0.3333333432674408, 1.0, 0.5]
    """
    order = torch.argsort(log_w.detach(), descending=True)
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(1, log_w.shape[0] + 1, device=log_w.device)
    return ranks.to(log_w.dtype).pow(beta)


class TraceTailAdaptive_ELBO(Trace_ELBO):
    """Stochastic VI with the tail-adaptive f-divergence (Pyro's ``TraceTailAdaptive_ELBO``).

    Args: as :class:`~ppl.infer.elbo.ELBO`; use ``num_particles > 1`` and
    ``vectorize_particles=True``; ``tail_adaptive_beta`` (default -1) sets the weights.

    Raises:
        NotImplementedError: from :meth:`loss`, or when evaluated without
            ``vectorize_particles=True`` or with a guide site that is not fully
            reparameterized.

    Example:
        >>> TraceTailAdaptive_ELBO(num_particles=4, vectorize_particles=True).tail_adaptive_beta
        -1.0
    """

    def loss(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> float:
        """Not defined for this objective (only its gradient is); raises as Pyro does."""
        raise NotImplementedError(
            "TraceTailAdaptive_ELBO defines only gradients, not a loss value; monitor "
            "progress with RenyiELBO or Trace_ELBO"
        )

    def _particle_loss(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self.vectorize_particles:
            raise NotImplementedError(
                "TraceTailAdaptive_ELBO needs vectorize_particles=True (and num_particles > 1)"
            )
        if self.num_particles == 1:
            warnings.warn(
                "TraceTailAdaptive_ELBO with num_particles=1 is Trace_ELBO; use more "
                "particles for an adaptive divergence",
                stacklevel=2,
            )
        if settings._VALIDATION_ENABLED:
            guide_trace.compute_log_prob()
            for site in guide_trace.nodes.values():
                if is_sample_site(site):
                    check_fully_reparametrized(site)
        num, nesting = self.num_particles, int(self.max_plate_nesting)
        log_w = particle_log_prob_sum(model_trace, num, nesting) - particle_log_prob_sum(
            guide_trace, num, nesting
        )
        if not isinstance(log_w, torch.Tensor):
            log_w = torch.zeros(num)
        gamma = tail_adaptive_weights(log_w, self.tail_adaptive_beta)
        surrogate = -(log_w * gamma).sum() / gamma.sum()
        # the base class divides by num_particles (Pyro's gradient scale)
        return -log_w.sum().detach(), surrogate
