"""``Trace_ELBO``: the Monte Carlo ELBO with pathwise and score-function gradients.

Design notes
------------
For one particle with guide draws ``z ~ q``::

    ELBO = sum_model_sites log p  -  sum_guide_sites log q

(scaled by plates/``scale`` and masked). Its gradient is estimated per guide site:

* a **reparameterized** site (``has_rsample``) contributes pathwise: ``z`` is a
  differentiable function of the params, so autograd on the ELBO above is right;
* a **non-reparameterized** site (``Bernoulli``, ``Categorical``, ...) adds the
  score-function (REINFORCE) term ``log q(z) * stop_grad(cost)``, where ``cost`` is
  the whole ``log p - log q`` of the particle minus the parts that cannot depend on
  ``z``: a cost term in the same vectorized plate as ``z`` is kept element-wise
  along it, everything else is summed (Rao-Blackwellization by plates; terms in
  another iteration of a sequential plate are dropped).

Two deliberate differences from Pyro 1.9, both to keep the estimator unbiased:
the score-function factor ``log q(z)`` is masked but *not* multiplied by the site's
scale (the cost already carries it; Pyro scales both, so a subsampled or annealed
discrete site's gradient is scaled twice), and guide-only (``is_auxiliary``) sites
count in the cost of the sites they feed.

The value of :meth:`~ppl.infer.elbo.ELBO.differentiable_loss` is always the plain
estimate ``-ELBO``; with score-function sites its gradient is that of the
surrogate (``value + (surrogate - surrogate.detach())``, no host round trip).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.clear_param_store()
    >>> def model():
    ...     ppl.sample("z", dist.Normal(0.0, 1.0))
    >>> def guide():
    ...     ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(1.0)), 1.0))
    >>> loss = Trace_ELBO(num_particles=4000, vectorize_particles=True).loss(model, guide)
    >>> round(loss, 1)  # KL(N(1,1) || N(0,1)) = 0.5
    0.5
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from ..distributions.torch_distribution import TorchDistributionMixin
from ..ops.tensor import scale_and_mask, total
from ..poutine.runtime import CondIndepStackFrame, Message
from ..poutine.trace_struct import Trace
from .elbo import ELBO
from .util import is_sample_site, sum_to_frames

__all__ = ["Trace_ELBO"]

_DEFAULT_SCORE_PARTS = TorchDistributionMixin.score_parts


def site_score_terms(site: Message) -> tuple[Any, Any]:
    """``(score_function, entropy_term)`` of a guide site, masked (entropy also scaled).

    The log-density is taken from the trace's cache; only a distribution with its own
    ``score_parts`` (e.g. a partly reparameterized one) is asked again.

    Returns:
        Each term is a tensor shaped like the site's ``log_prob`` or the number 0.
    """
    fn = site.fn
    score_parts = getattr(type(fn), "score_parts", None)
    if score_parts is None or score_parts is _DEFAULT_SCORE_PARTS:
        if getattr(fn, "has_rsample", False):
            return 0, site["log_prob"]
        return scale_and_mask(site["unscaled_log_prob"], 1.0, site.mask), 0
    _, score, entropy = fn.score_parts(site.value)
    if isinstance(score, torch.Tensor):
        score = scale_and_mask(score, 1.0, site.mask)
    if isinstance(entropy, torch.Tensor):
        entropy = scale_and_mask(entropy, site.scale, site.mask)
    return score, entropy


def _independent(target: tuple[CondIndepStackFrame, ...], other: tuple) -> bool:
    """True when ``other`` sits in another iteration of a sequential plate of ``target``."""
    seq = {f.name: f.counter for f in target if f.dim is None}
    if not seq:
        return False
    return any(f.dim is None and seq.get(f.name, f.counter) != f.counter for f in other)


def downstream_cost(
    target: Message, cost_terms: list[tuple[tuple[CondIndepStackFrame, ...], torch.Tensor]]
) -> torch.Tensor | float:
    """The part of the particle's cost ``log p - log q`` that can depend on ``target``.

    Args:
        target: a non-reparameterized guide site.
        cost_terms: ``(plates, detached scaled log-density term)`` of every site.

    Returns:
        A tensor broadcastable to the site's ``log_prob`` shape.
    """
    frames = target.cond_indep_stack
    names = {f.name: f.dim for f in frames if f.dim is not None}
    total: Any = 0.0
    for term_frames, term in cost_terms:
        if _independent(frames, term_frames):
            continue
        keep = frozenset(
            f.dim for f in term_frames if f.dim is not None and names.get(f.name) == f.dim
        )
        total = total + sum_to_frames(term, keep)
    return total


class Trace_ELBO(ELBO):
    """The standard ELBO estimator (Pyro's ``Trace_ELBO``); see the module notes.

    Args: see :class:`~ppl.infer.elbo.ELBO` (``num_particles``, ``max_plate_nesting``,
    ``vectorize_particles``, ...).

    Example:
        >>> elbo = Trace_ELBO(num_particles=32, vectorize_particles=True)
    """

    def _validate(self, model_trace: Trace, guide_trace: Trace) -> None:
        super()._validate(model_trace, guide_trace)
        # sites marked for enumeration are only sampled here: say so, as Pyro does
        marked = [
            n
            for n, s in guide_trace.nodes.items()
            if s.type == "sample" and s.infer.get("enumerate")
        ]
        if marked:
            warnings.warn(
                "Found sample sites configured for enumeration: "
                + ", ".join(marked)
                + "\nIf you want to enumerate sites, you need to use TraceEnum_ELBO instead.",
                stacklevel=5,
            )

    def _particle_loss(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        model_lp = model_trace.log_prob_sum()
        guide_trace.compute_log_prob()
        elbo: Any = model_lp
        surrogate: Any = model_lp
        score_sites: list[tuple[Message, Any]] = []
        for site in guide_trace.nodes.values():
            if not is_sample_site(site):
                continue
            extras = site.extras
            lp_sum = extras.get("log_prob_sum")  # type: ignore[union-attr]
            if lp_sum is None:
                lp_sum = extras["log_prob_sum"] = total(extras["log_prob"])  # type: ignore[index]
            elbo = elbo - lp_sum
            score, entropy = site_score_terms(site)
            if entropy is extras["log_prob"]:  # type: ignore[index]
                surrogate = surrogate - lp_sum
            elif not (isinstance(entropy, (int, float)) and entropy == 0):
                surrogate = surrogate - entropy.sum()
            if not (isinstance(score, (int, float)) and score == 0):
                score_sites.append((site, score))
        if not isinstance(elbo, torch.Tensor):
            elbo = torch.tensor(float(elbo))
        if not score_sites:
            return -elbo, None
        cost_terms = _cost_terms(model_trace, guide_trace)
        for site, score in score_sites:
            cost = downstream_cost(site, cost_terms)
            surrogate = surrogate + (score * cost).sum()
        return -elbo, -surrogate


def _cost_terms(
    model_trace: Trace, guide_trace: Trace
) -> list[tuple[tuple[CondIndepStackFrame, ...], torch.Tensor]]:
    terms = []
    for site in model_trace.nodes.values():
        if is_sample_site(site):
            terms.append((site.cond_indep_stack, site["log_prob"].detach()))
    for site in guide_trace.nodes.values():
        if is_sample_site(site):
            terms.append((site.cond_indep_stack, -site["log_prob"].detach()))
    return terms


def __getattr__(name: str) -> Any:
    # Pyro's module path ``pyro.infer.trace_elbo.JitTrace_ELBO``; the class lives in
    # ``compile.estimators`` (which imports this module, hence the lazy look-up).
    if name == "JitTrace_ELBO":
        from .compile.estimators import JitTrace_ELBO

        return JitTrace_ELBO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
