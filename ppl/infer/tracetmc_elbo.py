"""``TraceTMC_ELBO``: the Tensor Monte Carlo estimate of the log marginal likelihood.

Design notes
------------
Tensor Monte Carlo (Aitchison 2018) draws ``K`` values per latent site (mark a site
``infer={"enumerate": "parallel", "num_samples": K}``, or use
``config_enumerate(..., num_samples=K)``), lays them along the site's own enumeration
dim, and averages the importance weight ``p(x, z) / q(z)`` over *every combination*
of draws, which the factor graph makes cheap: the weight factorises over sites, so
the average is a sum-product contraction of per-site log-factors, done by the same
engine as exact enumeration (:func:`ppl.ops.contract.contract_tensor_tree`), plates
multiplied out, enumeration dims ``logsumexp``-ed.

Per site, the log-factor is

* a guide latent drawn ``K`` times: ``-log q(z) - log K`` plus a DiCE term
  ``score - stop_grad(score)`` (value 0) that carries the score-function gradient of a
  non-reparameterized draw;
* a guide latent drawn once: ``-log q(z)`` plus its DiCE term;
* a guide latent enumerated exhaustively: nothing (``q`` weights each value and
  ``1/q`` undoes it, leaving the exact sum over values);
* a model site that the guide also has, or an observed site: ``log p``;
* a model-only latent enumerated exhaustively: ``log p`` (the exact sum);
* a model-only latent drawn from its prior (``K`` times or once): its weight ``p/p``
  is one, so only ``-log K`` and its DiCE term remain.

The estimate of one particle is the log of the tensor average; the loss is minus the
mean over particles. Exhaustive enumeration everywhere gives the exact log evidence,
so ``TraceTMC_ELBO`` and :class:`~ppl.infer.traceenum_elbo.TraceEnum_ELBO` with an
empty guide agree then. As in Pyro, variables outside a plate may not depend on
variables inside it.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer import config_enumerate
    >>> @config_enumerate
    ... def model():
    ...     z = ppl.sample("z", dist.Bernoulli(0.3))
    ...     ppl.sample("x", dist.Normal(2.0 * z, 1.0), obs=torch.tensor(1.5))
    >>> loss = TraceTMC_ELBO(max_plate_nesting=0).loss(model, lambda: None)
    >>> exact = TraceEnum_ELBO(max_plate_nesting=0).loss(model, lambda: None)
    >>> abs(loss - exact) < 1e-6
    True
"""

from __future__ import annotations

from typing import Any

import torch

from ..ops.contract import Packed, contract_tensor_tree
from ..poutine.runtime import Message
from ..poutine.trace_struct import Trace
from .traceenum_elbo import TraceEnum_ELBO, ordinal, pack_site, site_dice_factor

__all__ = ["TraceTMC_ELBO", "tmc_log_factors"]


def _is_latent(site: Message) -> bool:
    return site.type == "sample" and not site.is_observed


def _draws(site: Message) -> int | None:
    """``K`` for a site drawn ``K`` times in parallel, else None."""
    infer = site.infer
    if infer.get("enumerate") == "parallel" and infer.get("num_samples") is not None:
        return int(infer["num_samples"])
    return None


def _exhaustive(site: Message) -> bool:
    return site.infer.get("_enumerate_dim") is not None and _draws(site) is None


def _negate(p: Packed) -> Packed:
    return Packed(-p.tensor, p.dims)


def tmc_log_factors(model_trace: Trace, guide_trace: Trace) -> dict[frozenset, list[Packed]]:
    """The TMC log-factors of one trace pair, grouped by ordinal (see the module notes).

    Returns:
        ordinal (frozenset of plate dim names) -> list of :class:`Packed` log-factors.
    """
    tree: dict[frozenset, list[Packed]] = {}

    def add(site: Message, factor: Packed | None) -> None:
        if factor is not None:
            tree.setdefault(ordinal(site), []).append(factor)

    for site in guide_trace.nodes.values():
        if not _is_latent(site) or site.infer.get("is_subsample"):
            continue
        if _exhaustive(site):
            continue
        add(site, _negate(pack_site(site, "log_prob")))
        add(site, _dice(site))
    for name, site in model_trace.nodes.items():
        if site.type != "sample" or site.infer.get("is_subsample"):
            continue
        if site.is_observed or name in guide_trace.nodes or _exhaustive(site):
            add(site, pack_site(site, "log_prob"))
        else:  # drawn from the prior: weight p/p = 1
            add(site, _dice(site))
    return tree


def _dice(site: Message) -> Packed | None:
    factor, log_denom = site_dice_factor(site)
    if factor is not None and log_denom:
        factor = Packed(factor.tensor - log_denom, factor.dims)
    return factor


def tmc_estimate(model_trace: Trace, guide_trace: Trace) -> Any:
    """The TMC log marginal likelihood estimate of one trace pair (0.0 without factors)."""
    tree = tmc_log_factors(model_trace, guide_trace)
    if not tree:
        return 0.0
    sum_dims = {
        d for fs in tree.values() for f in fs for d in f.dims if not d.startswith("plate:")
    }
    out = contract_tensor_tree(tree, sum_dims)
    total: Any = 0.0
    for terms in out.values():
        for term in terms:
            total = total + term.tensor.sum()
    return total


class TraceTMC_ELBO(TraceEnum_ELBO):
    """Tensor Monte Carlo (Pyro's ``TraceTMC_ELBO``): a multi-sample bound, tight as ``K`` grows.

    Mark sites with ``infer={"enumerate": "parallel", "num_samples": K}`` to draw ``K``
    values each (or leave out ``num_samples`` to enumerate a discrete site exactly);
    a model site absent from the guide is drawn from its prior. ``differentiable_loss``
    returns minus the estimate of ``log p(x)``, averaged over ``num_particles``. See the
    module notes for the factors.

    Example:
        >>> TraceTMC_ELBO(max_plate_nesting=1).num_particles
        1
    """

    def _particle_loss(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        estimate = tmc_estimate(model_trace, guide_trace)
        if not isinstance(estimate, torch.Tensor):
            estimate = torch.tensor(float(estimate))
        return -estimate, None

    def compute_marginals(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Not available for TMC (its estimate is not an exact marginalisation)."""
        raise NotImplementedError("TraceTMC_ELBO does not implement compute_marginals")

