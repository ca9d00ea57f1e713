"""``TraceGraph_ELBO``: score-function gradients with Rao-Blackwellization and baselines.

Why: a non-reparameterized guide site's REINFORCE term ``log q(z) * cost`` is noisy.
Two things cut the noise without adding bias: keeping in ``cost`` only the terms that
can depend on ``z`` (read off the plates, as ``Trace_ELBO`` does), and subtracting a
*baseline* ``b`` that does not depend on ``z``: ``log q(z) * (cost - b)``.

Baselines are chosen per guide site with ``infer={"baseline": {...}}``:

* ``use_decaying_avg_baseline=True`` (``baseline_beta``, default 0.90): ``b`` is an
  exponential moving average of the site's past downstream costs, kept in the
  ParamStore as ``"__baseline_avg_downstream_cost_" + site``; the average from
  before the current draw is used (Pyro folds the current cost in first, which
  correlates ``b`` with ``z`` and biases the gradient);
* ``nn_baseline=module`` with ``nn_baseline_input=x``: ``b = module(x)``, trained by
  adding ``(cost - b)^2`` to the surrogate (its gradient reaches only the module);
* ``baseline_value=tensor``: ``b`` is that tensor (``(cost - b)^2`` is added too, so a
  param-valued baseline is trained).

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

from typing import Any

import torch

from ..ops.tensor import total
from ..poutine.runtime import CondIndepStackFrame, Message
from ..poutine.trace_struct import Trace
from ..primitives import param
from .trace_elbo import Trace_ELBO, downstream_cost, site_score_terms
from .util import is_sample_site

__all__ = ["TraceGraph_ELBO"]

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


def site_baseline(site: Message, cost: torch.Tensor | float) -> tuple[Any, Any]:
    """``(baseline, baseline_loss)`` of a guide site from its ``infer["baseline"]`` options.

    Args:
        site: a non-reparameterized guide site.
        cost: its detached downstream cost.

    Returns:
        ``baseline`` (detached, broadcastable to ``cost``, or 0) and the squared-error
        loss that trains a learned baseline (or 0).

    Raises:
        ValueError: on an unknown option, two baselines at once, or a baseline whose
            shape does not broadcast to the cost's.
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
    if (nn is not None) + (value is not None) > 1:
        raise ValueError(f"at site {site.name!r}: give nn_baseline or baseline_value, not both")
    cost_t = torch.as_tensor(cost)
    baseline: Any = 0.0
    if use_avg:
        beta = float(options.get("baseline_beta", 0.90))
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"at site {site.name!r}: baseline_beta must be in [0, 1), got {beta}")
        avg = param(f"{AVG_PREFIX}{site.name}", lambda: torch.zeros_like(cost_t)).detach()
        baseline = avg.clone()  # the average *before* this cost: unbiased
        with torch.no_grad():
            avg.copy_(beta * avg + (1.0 - beta) * cost_t)
    learned = None
    if nn is not None:
        if "nn_baseline_input" not in options:
            raise ValueError(f"at site {site.name!r}: nn_baseline needs nn_baseline_input")
        learned = nn(options["nn_baseline_input"])
    elif value is not None:
        learned = torch.as_tensor(value)
    if learned is None:
        return baseline, 0.0
    try:
        shape = torch.broadcast_shapes(learned.shape, cost_t.shape)
    except RuntimeError:
        shape = None
    if shape is None or shape != cost_t.shape:
        raise ValueError(
            f"at site {site.name!r}: baseline shape {tuple(learned.shape)} does not fit the "
            f"downstream cost shape {tuple(cost_t.shape)}"
        )
    baseline = baseline + learned.detach()
    return baseline, total((cost_t - learned) ** 2)


class TraceGraph_ELBO(Trace_ELBO):
    """ELBO with Rao-Blackwellized score-function gradients and baselines (Pyro's name).

    Args: see :class:`~ppl.infer.elbo.ELBO`.
    """

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
            return -elbo, None
        terms = _detached_cost_terms(model_trace, guide_trace)
        for site, score in score_sites:
            cost = downstream_cost(site, terms)
            baseline, baseline_loss = site_baseline(site, cost)
            surrogate = surrogate + (score * (cost - baseline)).sum() - baseline_loss
        return -elbo, -surrogate


def _detached_cost_terms(
    model_trace: Trace, guide_trace: Trace
) -> list[tuple[tuple[CondIndepStackFrame, ...], torch.Tensor]]:
    terms = []
    for sign, tr in ((1.0, model_trace), (-1.0, guide_trace)):
        for site in tr.nodes.values():
            if is_sample_site(site):
                terms.append((site.cond_indep_stack, sign * site["log_prob"].detach()))
    return terms


def __getattr__(name: str) -> Any:
    # Pyro's module path ``pyro.infer.tracegraph_elbo.JitTraceGraph_ELBO``; the class lives
    # in ``compile.estimators`` (which imports this module, hence the lazy look-up).
    if name == "JitTraceGraph_ELBO":
        from .compile.estimators import JitTraceGraph_ELBO

        return JitTraceGraph_ELBO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
