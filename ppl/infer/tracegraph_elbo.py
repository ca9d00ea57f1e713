"""``TraceGraph_ELBO``: score-function gradients with Rao-Blackwellization and baselines.

Why: a non-reparameterized guide site's REINFORCE term ``log q(z) * cost`` is noisy.
Two things cut the noise without adding bias: keeping in ``cost`` only the terms that
can depend on ``z``, and subtracting a *baseline* ``b`` that does not depend on ``z``:
``log q(z) * (cost - b)``.

Design notes
------------
**Dependency structure.** While the model and guide run, every non-reparameterized
latent draw is tagged with its site name (:class:`TrackNonReparam`, tags from
:mod:`ppl.ops.provenance`); tags flow through every torch operation, so each
log-density term ``log p`` / ``-log q`` knows which such draws it was computed from.
The cost of site ``z`` is the sum of the terms tagged ``z`` (its own ``log p(z) -
log q(z)`` and every term computed downstream of it), summed down to ``z``'s plates:
a term in the same vectorized plate as ``z`` is kept element-wise along it, a term in
another iteration of a sequential plate is dropped. Terms that do not depend on ``z``
(sites sampled before it, or after it from other values) are left out. Tags follow
data flow, not Python control flow, as in Pyro. Inside ``torch.jit.trace`` or
``torch.compile`` (``JitTraceGraph_ELBO``) tensors are not tagged and every term
counts (plate rules still apply): the same expectation, more variance.

**Baselines** are chosen per guide site with ``infer={"baseline": {...}}``:

* ``use_decaying_avg_baseline=True`` (``baseline_beta``, default 0.90): ``b`` is an
  exponential moving average of the site's past downstream costs, kept in the
  ParamStore as ``"__baseline_avg_downstream_cost_" + site``; the average from
  before the current draw is used (so ``b`` does not depend on ``z``), then updated;
* ``nn_baseline=module`` with ``nn_baseline_input=x``: ``b = module(x.detach())``;
* ``baseline_value=tensor``: ``b`` is that tensor (e.g. a param).

A learned baseline (the last two) is fitted in the same step: ``sum (cost - b)^2`` is
added to the surrogate loss, whose gradient reaches only the baseline's parameters
(the cost is detached); register a module with ``ppl.module`` in the guide so its
parameters are in the ParamStore and the optimizer steps them.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.clear_param_store()
    >>> def model():
    ...     ppl.sample("z", dist.Bernoulli(0.3))
    >>> def guide():
    ...     p = ppl.param("p", torch.tensor(0.3))
    ...     ppl.sample("z", dist.Bernoulli(p),
    ...                infer={"baseline": {"use_decaying_avg_baseline": True}})
    >>> abs(TraceGraph_ELBO().loss(model, guide)) < 1e-6  # guide equals the prior
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..ops.provenance import ProvenanceTensor, detach_provenance, get_provenance
from ..ops.tensor import total
from ..poutine.messenger import Messenger
from ..poutine.runtime import CondIndepStackFrame, Message
from ..poutine.trace_struct import Trace
from ..poutine.util import site_is_subsample
from ..primitives import param
from .trace_elbo import Trace_ELBO, downstream_cost, site_score_terms
from .util import is_sample_site

__all__ = ["TraceGraph_ELBO", "TrackNonReparam"]

_BASELINE_KEYS = frozenset(
    {
        "use_decaying_avg_baseline",
        "baseline_beta",
        "nn_baseline",
        "nn_baseline_input",
        "baseline_value",
    }
)
AVG_PREFIX = "__baseline_avg_downstream_cost_"

CostTerm = tuple[tuple[CondIndepStackFrame, ...], torch.Tensor, frozenset[str]]


class TrackNonReparam(Messenger):
    """Tag each non-reparameterized latent draw with its site name (provenance).

    Values computed from a tagged draw carry the tag, so a log-density names the
    draws it depends on.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> with TrackNonReparam():
        ...     a = ppl.sample("a", dist.Bernoulli(0.5))
        ...     b = ppl.sample("b", dist.Normal(a, 1.0))
        >>> sorted(get_provenance(dist.Normal(b, 1.0).log_prob(b)))
        ['a']
    """

    def postprocess_message(self, msg: Message) -> None:
        if (
            msg.type == "sample"
            and not msg.is_observed
            and isinstance(msg.value, torch.Tensor)
            and not getattr(msg.fn, "has_rsample", False)
            and not site_is_subsample(msg)
            and msg.name is not None
        ):
            msg.value = ProvenanceTensor(msg.value, frozenset({msg.name}))


def _broadcasts_to(x: Any, shape: torch.Size) -> bool:
    """True when tensor ``x`` broadcasts to exactly ``shape``."""
    if not isinstance(x, torch.Tensor):
        return False
    try:
        return torch.broadcast_shapes(x.shape, shape) == shape
    except RuntimeError:
        return False


def _can_track() -> bool:
    """Tensor subclasses are left out of ``torch.jit.trace`` and ``torch.compile`` graphs."""
    return not (torch._C._get_tracing_state() or torch.compiler.is_compiling())


def site_baseline(site: Message, cost: torch.Tensor | float) -> tuple[Any, Any]:
    """``(baseline, baseline_loss)`` of a guide site from its ``infer["baseline"]`` options.

    Args:
        site: a non-reparameterized guide site.
        cost: its detached downstream cost.

    Returns:
        ``baseline`` (detached, broadcastable to ``cost``, or 0) and the squared-error loss
        that trains a learned baseline (or 0).

    Raises:
        ValueError: naming the site, on an unknown option, two learned baselines at
            once, ``nn_baseline`` without ``nn_baseline_input``, a ``baseline_beta``
            outside ``[0, 1)``, or a baseline that does not broadcast to the cost's shape.
        TypeError: naming the site, when ``nn_baseline`` is not callable.
    """
    options = site.infer.get("baseline", {}) or {}
    unknown = set(options) - _BASELINE_KEYS
    if unknown:
        raise ValueError(
            f"at site {site.name!r}: unknown baseline option(s) {sorted(unknown)}; "
            f"expected some of {sorted(_BASELINE_KEYS)}"
        )
    nn = options.get("nn_baseline")
    value = options.get("baseline_value")
    use_avg = bool(options.get("use_decaying_avg_baseline", False))
    if nn is not None and value is not None:
        raise ValueError(f"at site {site.name!r}: give nn_baseline or baseline_value, not both")
    cost_t = torch.as_tensor(cost)
    baseline: Any = 0.0
    if use_avg:
        beta = float(options.get("baseline_beta", 0.90))
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"at site {site.name!r}: baseline_beta must be in [0, 1), got {beta}")
        avg = param(f"{AVG_PREFIX}{site.name}", lambda: torch.zeros_like(cost_t)).detach()
        if avg.shape != cost_t.shape:
            raise ValueError(
                f"at site {site.name!r}: the decaying-average baseline has shape "
                f"{tuple(avg.shape)} but the downstream cost has shape {tuple(cost_t.shape)}"
            )
        baseline = avg.clone()  # the average *before* this cost: independent of z
        with torch.no_grad():
            avg.copy_(beta * avg + (1.0 - beta) * cost_t)
    learned = None
    if nn is not None:
        if "nn_baseline_input" not in options:
            raise ValueError(f"at site {site.name!r}: nn_baseline needs nn_baseline_input")
        if not callable(nn):
            raise TypeError(
                f"at site {site.name!r}: nn_baseline must be a callable module, got "
                f"{type(nn).__name__}"
            )
        x = options["nn_baseline_input"]
        learned = nn(x.detach() if isinstance(x, torch.Tensor) else x)
    elif value is not None:
        learned = torch.as_tensor(value)
    if learned is None:
        return baseline, 0.0
    if not _broadcasts_to(learned, cost_t.shape):
        shape = tuple(learned.shape) if isinstance(learned, torch.Tensor) else type(learned)
        raise ValueError(
            f"at site {site.name!r}: expected the baseline to have the downstream cost's shape "
            f"{tuple(cost_t.shape)} (the site's batch shape; size-1 dims broadcast), got {shape}"
        )
    full = baseline + learned
    return full.detach(), total((cost_t - full) ** 2)


class TraceGraph_ELBO(Trace_ELBO):
    """ELBO with Rao-Blackwellized score-function gradients and baselines (Pyro's name).

    Args: see :class:`~ppl.infer.elbo.ELBO`.

    Example:
        >>> TraceGraph_ELBO(num_particles=4).num_particles
        4
    """

    def _get_trace(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[Trace, Trace]:
        if not _can_track():
            return super()._get_trace(model, guide, args, kwargs)
        with TrackNonReparam():
            return super()._get_trace(model, guide, args, kwargs)

    def _particle_loss(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        elbo: Any = model_trace.log_prob_sum()
        guide_trace.compute_log_prob()
        surrogate: Any = elbo
        score_sites = []
        for site in guide_trace.nodes.values():
            if not is_sample_site(site):
                continue
            elbo = elbo - total(site["log_prob"])
            score, entropy = site_score_terms(site)
            if isinstance(entropy, torch.Tensor):
                surrogate = surrogate - entropy.sum()
            if isinstance(score, torch.Tensor):
                score_sites.append((site, score))
        if not isinstance(elbo, torch.Tensor):
            elbo = torch.tensor(float(elbo))
        if not score_sites:
            return detach_provenance(-elbo), None
        terms = _cost_terms(model_trace, guide_trace)
        tracked = any(provenance for _, _, provenance in terms)
        for site, score in score_sites:
            name = site.name
            mine = [(f, t) for f, t, prov in terms if not tracked or name in prov]
            cost = _sum_to_shape(downstream_cost(site, mine), score.shape)
            baseline, baseline_loss = site_baseline(site, cost)
            surrogate = surrogate + (score * (cost - baseline)).sum() - baseline_loss
        return detach_provenance(-elbo), detach_provenance(-surrogate)


def _sum_to_shape(cost: Any, shape: torch.Size) -> Any:
    """``cost`` summed down to the site's ``log_prob`` shape (plates it is not in go)."""
    if not isinstance(cost, torch.Tensor):
        return torch.as_tensor(cost).expand(shape) if shape else cost
    while cost.dim() > len(shape):
        cost = cost.sum(0)
    dims = [i for i in range(-cost.dim(), 0) if shape[i] == 1 and cost.shape[i] != 1]
    if dims:
        cost = cost.sum(dims, keepdim=True)
    return cost.expand(shape) if cost.shape != shape else cost


def _cost_terms(model_trace: Trace, guide_trace: Trace) -> list[CostTerm]:
    """``(plates, detached untagged term, provenance)`` of every ``log p`` and ``-log q``."""
    terms = []
    for sign, tr in ((1.0, model_trace), (-1.0, guide_trace)):
        for site in tr.nodes.values():
            if is_sample_site(site):
                lp = site["log_prob"]
                term = sign * detach_provenance(lp).detach()
                terms.append((site.cond_indep_stack, term, get_provenance(lp)))
    return terms


def __getattr__(name: str) -> Any:
    # Pyro's module path ``pyro.infer.tracegraph_elbo.JitTraceGraph_ELBO``; the class lives
    # in ``compile.estimators`` (which imports this module, hence the lazy look-up).
    if name == "JitTraceGraph_ELBO":
        from .compile.estimators import JitTraceGraph_ELBO

        return JitTraceGraph_ELBO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
