"""``RenyiELBO``: the Renyi alpha-divergence bound (the IWAE bound at ``alpha=0``).

Design notes
------------
With ``K`` particles ``z_k ~ q`` and log weights ``l_k = log p(x, z_k) - log q(z_k)``,
the objective (Li & Turner, 2016) is::

    L_alpha = 1 / (1 - alpha) * log( mean_k exp((1 - alpha) * l_k) )

It is a lower bound of ``log p(x)`` for ``alpha >= 0``, tighter than the ELBO for
``alpha < 1``, equal to the IWAE bound (Burda et al., 2016) at ``alpha = 0``, and
tends to ``log p(x)`` as ``K`` grows. ``alpha = 1`` is the ordinary ELBO: use
``Trace_ELBO``.

Unlike the other ELBOs the estimate is not a mean over particles, so this class
replaces :meth:`~ppl.infer.elbo.ELBO._loss_from_traces` (not ``_particle_loss``).
The gradient is the self-normalized importance-weighted one: with detached weights
``w_k = exp((1 - alpha) l_k) / mean_j exp((1 - alpha) l_j)``, the surrogate is
``mean_k w_k s_k``, where ``s_k`` is ``l_k`` for reparameterized guide sites (pathwise)
and adds ``alpha / (1 - alpha) * log q(z_k)`` for score-function sites. The plates
shared by every model site are kept element-wise (one bound per data point, summed),
the others are summed inside each particle, as in Pyro.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.clear_param_store()
    >>> def model():
    ...     z = ppl.sample("z", dist.Normal(0.0, 1.0))
    ...     ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))
    >>> def guide():  # the exact posterior N(0, 1/2): every weight equals p(x)
    ...     ppl.sample("z", dist.Normal(0.0, 0.5 ** 0.5))
    >>> round(RenyiELBO(num_particles=3).loss(model, guide), 4)  # -log N(0 | 0, 2)
    1.2655
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..poutine.trace_struct import Trace
from .elbo import ELBO
from .trace_elbo import site_score_terms
from .util import get_dependent_plate_dims, is_identically_zero, is_sample_site

__all__ = ["RenyiELBO"]


def _sum_dims(x: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """``x`` summed over the negative ``dims`` it has, keeping them (size 1)."""
    present = [d for d in dims if d >= -x.dim()]
    return x.sum(present, keepdim=True) if present else x


def _pad_left(x: torch.Tensor, rank: int) -> torch.Tensor:
    """``x`` reshaped with leading size-1 dims up to ``rank`` dims."""
    if x.dim() >= rank:
        return x
    return x.reshape((1,) * (rank - x.dim()) + tuple(x.shape))


class RenyiELBO(ELBO):
    """Renyi's alpha-divergence variational bound (Pyro's ``RenyiELBO``).

    Args:
        alpha: the order of the divergence, any real but 1 (0: the IWAE bound).
        num_particles: ``K``, the number of importance samples (default 2).
        max_plate_nesting, max_iarange_nesting, vectorize_particles,
        strict_enumeration_warning: as in :class:`~ppl.infer.elbo.ELBO`.

    Raises:
        ValueError: if ``alpha == 1`` (use ``Trace_ELBO``).
        NotImplementedError: (when evaluated) for a guide site that is partly
            reparameterized (both a score-function and an entropy term).

    Example:
        >>> RenyiELBO(alpha=0.5, num_particles=8).alpha
        0.5
    """

    def __init__(
        self,
        alpha: float = 0,
        num_particles: int = 2,
        max_plate_nesting: float = float("inf"),
        max_iarange_nesting: float | None = None,
        vectorize_particles: bool = False,
        strict_enumeration_warning: bool = True,
    ) -> None:
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
            raise TypeError(f"RenyiELBO: alpha must be a real number, got {alpha!r}")
        if alpha == 1:
            raise ValueError(
                "RenyiELBO: alpha must not be 1 (that is the ordinary ELBO); use Trace_ELBO"
            )
        self.alpha = alpha
        super().__init__(
            num_particles=num_particles,
            max_plate_nesting=max_plate_nesting,
            max_iarange_nesting=max_iarange_nesting,
            vectorize_particles=vectorize_particles,
            strict_enumeration_warning=strict_enumeration_warning,
        )

    def _particle_terms(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[Any, Any, list[Any]]:
        """``(log weight, surrogate, terms)`` of one run, each shaped by the shared plates.

        The log weight is detached; the surrogate carries the gradient of the bound
        before weighting.
        """
        sum_dims = get_dependent_plate_dims(
            s for s in model_trace.nodes.values() if is_sample_site(s)
        )
        model_trace.compute_log_prob()
        guide_trace.compute_log_prob()
        log_w: Any = 0.0
        surrogate: Any = 0.0
        ratio = self.alpha / (1.0 - self.alpha)
        for site in model_trace.nodes.values():
            if is_sample_site(site):
                lp = _sum_dims(site["log_prob"], sum_dims)
                log_w = log_w + lp.detach()
                surrogate = surrogate + lp
        for site in guide_trace.nodes.values():
            if not is_sample_site(site):
                continue
            lp = _sum_dims(site["log_prob"], sum_dims)
            log_w = log_w - lp.detach()
            score, entropy = site_score_terms(site)
            if not is_identically_zero(entropy):
                if not is_identically_zero(score):
                    raise NotImplementedError(
                        f"RenyiELBO: guide site {site.name!r} is partly reparameterized "
                        "(score-function and pathwise terms); make it fully reparameterized "
                        "or use Trace_ELBO"
                    )
                surrogate = surrogate - lp
            elif not is_identically_zero(score):
                surrogate = surrogate + ratio * lp
        return log_w, surrogate, sum_dims

    def _loss_from_traces(self, traces: list[tuple[Trace, Trace]]) -> torch.Tensor:
        log_ws, surrogates = [], []
        for model_trace, guide_trace in traces:
            log_w, surrogate, _ = self._particle_terms(model_trace, guide_trace)
            log_ws.append(log_w)
            surrogates.append(surrogate)
        tensors = [t for t in log_ws + surrogates if isinstance(t, torch.Tensor)]
        if not tensors:  # no sample sites: the bound is 0
            return torch.tensor(0.0)
        proto = tensors[0]

        def as_tensor(x: Any, rank: int) -> torch.Tensor:
            return _pad_left(torch.as_tensor(x, dtype=proto.dtype, device=proto.device), rank)

        if self.vectorize_particles:
            # one run; the particle plate sits at -(nesting + 1): pad so it is dim 0
            rank = int(self.max_plate_nesting) + 1
            log_w, surr = torch.broadcast_tensors(
                as_tensor(log_ws[0], rank), as_tensor(surrogates[0], rank)
            )
            # a run whose particle dim stayed size 1 (no site varies along it) repeats
            log_w = log_w.expand((self.num_particles,) + log_w.shape[1:])
            surr = surr.expand((self.num_particles,) + surr.shape[1:])
        else:
            rank = max(t.dim() for t in tensors)
            pairs = [
                torch.broadcast_tensors(as_tensor(w, rank), as_tensor(s, rank))
                for w, s in zip(log_ws, surrogates)
            ]
            shape = torch.broadcast_shapes(*(w.shape for w, _ in pairs))
            log_w = torch.stack([w.expand(shape) for w, _ in pairs])
            surr = torch.stack([s.expand(shape) for _, s in pairs])
        num = self.num_particles
        scaled = (1.0 - self.alpha) * log_w
        log_mean = torch.logsumexp(scaled, dim=0, keepdim=True) - math.log(num)
        bound = log_mean.sum() / (1.0 - self.alpha)
        weights = (scaled - log_mean).exp().detach()
        surrogate_bound = (weights * surr).sum() / num
        # value of -bound, gradient of -surrogate_bound
        return -bound + (surrogate_bound.detach() - surrogate_bound)
