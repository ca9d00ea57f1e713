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
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from ..distributions.torch_distribution import TorchDistributionMixin
from ..ops.tensor import scale_and_mask, total
from ..poutine.runtime import CondIndepStackFrame, Message
from ..poutine.trace_struct import Trace
from .elbo import ELBO
from .util import is_sample_site, sum_to_frames, unconstrained_params

__all__ = ["JitTrace_ELBO", "Trace_ELBO"]

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


class JitTrace_ELBO(Trace_ELBO):
    """``Trace_ELBO`` with the estimator compiled by ``torch.jit.trace``; same results.

    The first call for a (model, guide, argument layout) runs eagerly (creating the
    params) and then traces ``differentiable_loss`` as a function of the touched
    params' unconstrained leaves and the tensor arguments; later calls run the
    traced graph. Sampling ops are recorded as ops, so every call draws fresh
    values (from the same global generator, so a seeded run matches ``Trace_ELBO``
    draw for draw). Non-tensor arguments (``None``, ints, strings) are constants of
    the compiled graph: a new value compiles a new graph.

    Python control flow on sampled values, or param sets that change between calls,
    are frozen at trace time, as with Pyro's ``JitTrace_ELBO``. When tracing fails
    the estimator falls back to eager mode with a warning. The compiled path does
    not keep traces, so a non-finite loss is reported without site names.

    Args: as :class:`Trace_ELBO`; ``ignore_jit_warnings=True`` silences torch's
    tracer warnings, ``jit_options`` is passed to ``torch.jit.trace``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiled: dict[Any, _Compiled | None] = {}

    def _evaluate(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, list[tuple[Trace, Trace]], dict[str, None]]:
        key = _layout_key(model, guide, args, kwargs)
        if key is None:
            return super()._evaluate(model, guide, args, kwargs)
        if key not in self._compiled:
            loss, traces, names = super()._evaluate(model, guide, args, kwargs)
            self._compiled[key] = self._compile(model, guide, args, kwargs, names)
            return loss, traces, names
        compiled = self._compiled[key]
        if compiled is None:  # tracing failed once: stay eager
            return super()._evaluate(model, guide, args, kwargs)
        leaves = unconstrained_params(compiled.names)
        if len(leaves) != len(compiled.names):
            del self._compiled[key]  # a param was deleted: recompile next time
            return super()._evaluate(model, guide, args, kwargs)
        loss = compiled.fn(*leaves.values(), *_tensor_inputs(args, kwargs))
        return loss, [], dict.fromkeys(compiled.names)

    def _compile(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        names: dict[str, None],
    ) -> _Compiled | None:
        leaves = unconstrained_params(names)
        n_leaves = len(leaves)
        eager = Trace_ELBO._evaluate

        def loss_fn(*flat: torch.Tensor) -> torch.Tensor:
            new_args, new_kwargs = _with_tensor_inputs(args, kwargs, flat[n_leaves:])
            return eager(self, model, guide, new_args, new_kwargs)[0]

        inputs = (*leaves.values(), *_tensor_inputs(args, kwargs))
        try:
            with warnings.catch_warnings():
                if self.ignore_jit_warnings:
                    warnings.simplefilter("ignore")
                traced = torch.jit.trace(
                    loss_fn, inputs, check_trace=False, **(self.jit_options or {})
                )
        except Exception as e:  # noqa: BLE001  (any tracer failure means: run eagerly)
            warnings.warn(
                f"JitTrace_ELBO could not trace the model and guide ({type(e).__name__}: {e}); "
                "falling back to eager Trace_ELBO",
                RuntimeWarning,
                stacklevel=4,
            )
            return None
        return _Compiled(tuple(leaves), traced)


class _Compiled(NamedTuple):
    names: tuple[str, ...]
    fn: Callable[..., torch.Tensor]


def _layout_key(model: Any, guide: Any, args: tuple, kwargs: dict) -> tuple | None:
    """A hashable key of what a compiled graph depends on, or None if not compilable."""
    parts: list[Any] = [id(model), id(guide)]
    for value in (*args, *(kwargs[k] for k in sorted(kwargs))):
        if isinstance(value, torch.Tensor):
            parts.append(("T", tuple(value.shape), value.dtype, value.device))
        else:
            try:
                hash(value)
            except TypeError:
                return None
            parts.append(("C", type(value), value))
    parts.append(tuple(sorted(kwargs)))
    return tuple(parts)


def _tensor_inputs(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    values = (*args, *(kwargs[k] for k in sorted(kwargs)))
    return [v for v in values if isinstance(v, torch.Tensor)]


def _with_tensor_inputs(args: tuple, kwargs: dict, tensors: tuple) -> tuple[tuple, dict]:
    it = iter(tensors)
    new_args = tuple(next(it) if isinstance(a, torch.Tensor) else a for a in args)
    new_kwargs = {}
    for k in sorted(kwargs):
        v = kwargs[k]
        new_kwargs[k] = next(it) if isinstance(v, torch.Tensor) else v
    return new_args, new_kwargs
