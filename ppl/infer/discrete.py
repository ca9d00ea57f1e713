"""``infer_discrete``: posterior samples (or the MAP) of a model's enumerated sites.

The model runs once under ``enum(first_available_dim)``, so its parallel-enumerated
sites hold their whole support and every log-density is a factor over them. The
sites are then decided one at a time, global ones (fewest plates) first: for each,
the factor graph (with earlier decisions plugged in) is contracted with an extra
zero factor over the site's values, and the gradient of the total with respect to
that factor gives, per plate element,

* at ``temperature=1`` the posterior marginal of the site given the data and the
  earlier decisions (``logsumexp`` contraction): a value is drawn from it;
* at ``temperature=0`` the indicator of the maximising value (``max`` contraction,
  Viterbi-like): that value is taken.

Drawing each site from its conditional given the earlier ones is exact ancestral
sampling of the joint posterior; elements of one plate are independent given the
sites outside it. Finally the model is run again with the enumerated sites fixed
to the decided values (other sites behave as usual), and its return value returned.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> @infer_discrete(first_available_dim=-1, temperature=0)
    ... def decoder(data):
    ...     z = ppl.sample("z", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})
    ...     ppl.sample("x", dist.Normal(3.0 * z, 1.0), obs=data)
    ...     return z
    >>> float(decoder(torch.tensor(2.9)))
    1.0
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import torch

from ..ops.contract import Packed, gather, unpack
from ..poutine.block_messenger import BlockMessenger
from ..poutine.enum_messenger import EnumMessenger
from ..poutine.messenger import Messenger
from ..poutine.replay_messenger import ReplayMessenger
from ..poutine.runtime import Message, quiet_tracer
from ..poutine.trace_messenger import TraceMessenger
from ..poutine.trace_struct import Trace, is_subsample_site
from .traceenum_elbo import (
    TraceEnum_ELBO,
    enum_symbol,
    ordinal,
    pack_site,
    query_marginal,
    site_name_to_dim,
)

__all__ = ["TraceEnumSample_ELBO", "infer_discrete", "run_with_posterior_sample"]


class _FixEnumerated(Messenger):
    """Give each site marked ``enumerate="parallel"`` its decided value."""

    def __init__(self, values: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.values = values

    def process_message(self, msg: Message) -> None:
        if msg.type != "sample" or msg.infer.get("enumerate") != "parallel":
            return
        value = self.values.get(str(msg.name))
        if value is not None:
            msg.value = value
            msg.done = True


def _gather_value(value: torch.Tensor, enum_dim: int, event_dim: int, index: torch.Tensor) -> Any:
    """Pick ``value`` (enumerated along ``enum_dim``) at the dense ``index`` per element."""
    rank = max(value.dim() - event_dim, index.dim(), -enum_dim)
    value = value.reshape((1,) * (rank - (value.dim() - event_dim)) + tuple(value.shape))
    index = index.reshape((1,) * (rank - index.dim()) + tuple(index.shape))
    pos = rank + enum_dim
    batch = list(value.shape[:rank])
    num_values = batch[pos]
    batch[pos] = 1
    shape = list(torch.broadcast_shapes(torch.Size(batch), index.shape))
    event = tuple(value.shape[rank:])
    full = shape.copy()
    full[pos] = num_values
    source = value.expand(tuple(full) + event)
    idx = index.reshape(tuple(index.shape) + (1,) * event_dim).expand(tuple(shape) + event)
    out = torch.gather(source, pos, idx.long()).squeeze(pos)
    while out.dim() > event_dim and out.shape[0] == 1:
        out = out.squeeze(0)
    return out


def _decide(enum_trace: Trace, temperature: int, strict_enumeration_warning: bool) -> dict:
    """The decided value of every enumerated site of ``enum_trace``."""
    tree: dict[frozenset, list[Packed]] = {}
    sum_dims: set[str] = set()
    enum_sites: list[Message] = []
    for site in enum_trace.nodes.values():
        if site.type != "sample" or is_subsample_site(site):
            continue
        t = ordinal(site, min_size=1)
        lp = pack_site(site, "masked_log_prob")
        sum_dims.update(set(lp.dims) - t)
        if sum_dims.isdisjoint(lp.dims):
            continue
        tree.setdefault(t, []).append(lp)
        if site.infer.get("_enumerate_dim") is not None:
            enum_sites.append(site)
    if strict_enumeration_warning and not enum_sites:
        warnings.warn(
            "infer_discrete found no sample sites configured for enumeration; mark sites "
            "with @config_enumerate or infer={'enumerate': 'parallel'}",
            stacklevel=4,
        )
    semiring = "max" if temperature == 0 else "log"
    enum_sites.sort(key=lambda s: len(ordinal(s, min_size=1)))  # stable: trace order
    values: dict[str, torch.Tensor] = {}
    for site in enum_sites:
        sym = enum_symbol(site)
        assert sym is not None
        t = ordinal(site, min_size=1)
        lp = pack_site(site, "masked_log_prob")
        sizes = lp.sizes()
        qdims = (sym,) + tuple(d for d in lp.dims if d in t)
        weights = query_marginal(tree, sum_dims, qdims, [sizes[d] for d in qdims], t, semiring)
        if temperature == 0:
            index = weights.argmax(0)
        else:
            probs = weights.movedim(0, -1).clamp(min=0)
            index = torch.distributions.Categorical(probs=probs).sample()
        index_packed = Packed(index, qdims[1:])
        tree = {
            o: [gather(f, index_packed, sym) if sym in f.dims else f for f in fs]
            for o, fs in tree.items()
        }
        sum_dims.discard(sym)
        dense_index = unpack(index_packed, site_name_to_dim(site))
        event_dim = len(site.fn.event_shape)
        values[str(site.name)] = _gather_value(
            site.value, site.infer["_enumerate_dim"], event_dim, dense_index
        )
    return values


def _sample_posterior(
    model: Callable[..., Any],
    first_available_dim: int,
    temperature: int,
    strict_enumeration_warning: bool,
    *args: Any,
    **kwargs: Any,
) -> Any:
    if temperature not in (0, 1):
        raise ValueError(
            f"infer_discrete: temperature must be 0 (MAP) or 1 (sample), got {temperature!r}"
        )
    tm = TraceMessenger()
    with BlockMessenger(), EnumMessenger(first_available_dim), tm:
        model(*args, **kwargs)
    enum_trace = tm.trace
    with quiet_tracer():
        enum_trace.compute_log_prob()
        values = _decide(enum_trace, temperature, strict_enumeration_warning)
    with _FixEnumerated(values):
        return model(*args, **kwargs)


def infer_discrete(
    fn: Callable[..., Any] | None = None,
    first_available_dim: int | None = None,
    temperature: int = 1,
    *,
    strict_enumeration_warning: bool = True,
) -> Any:
    """Sample (``temperature=1``) or maximise (``temperature=0``) the enumerated sites of
    ``fn`` under their posterior given its observations; see the module notes.

    Args:
        fn: the model; its discrete sites must be marked
            ``infer={"enumerate": "parallel"}`` (e.g. with ``config_enumerate``).
        first_available_dim: the rightmost dim enumeration may use, left of all plate
            dims: ``-1 - max_plate_nesting``.
        temperature: 1 (posterior sample) or 0 (MAP).
        strict_enumeration_warning: warn if no site is enumerated.

    Returns:
        A function with ``fn``'s signature returning ``fn``'s return value computed with
        the inferred values (or a decorator when ``fn`` is None).

    Raises:
        ValueError: if ``first_available_dim`` is not a negative int, or ``temperature``
            is neither 0 nor 1.
    """
    if not isinstance(first_available_dim, int) or first_available_dim >= 0:
        raise ValueError(
            "infer_discrete: first_available_dim must be a negative int (-1 - "
            f"max_plate_nesting), got {first_available_dim!r}"
        )
    if fn is None:
        return functools.partial(
            infer_discrete,
            first_available_dim=first_available_dim,
            temperature=temperature,
            strict_enumeration_warning=strict_enumeration_warning,
        )
    return functools.partial(
        _sample_posterior, fn, first_available_dim, temperature, strict_enumeration_warning
    )


class TraceEnumSample_ELBO(TraceEnum_ELBO):
    """``TraceEnum_ELBO`` that keeps its last traces so the model's enumerated sites can
    then be sampled from their posterior without running the model again
    (:meth:`sample_saved`), as ``infer_discrete(replay(model, guide_trace))`` would.

    Example:
        >>> elbo = TraceEnumSample_ELBO(max_plate_nesting=1)
    """

    def _get_enum_trace(self, model: Any, guide: Any, args: tuple, kwargs: dict, *rest: Any):  # type: ignore[override]
        model_trace, guide_trace = super()._get_enum_trace(model, guide, args, kwargs, *rest)
        self._saved_state = model, model_trace, guide_trace, args, kwargs
        return model_trace, guide_trace

    def sample_saved(self) -> Any:
        """The model's return value with its enumerated sites drawn from the posterior
        given the last evaluated guide trace (call ``loss``/``SVI.step`` first).

        Raises:
            RuntimeError: if no loss was evaluated yet.
        """
        state = getattr(self, "_saved_state", None)
        if state is None:
            raise RuntimeError("TraceEnumSample_ELBO.sample_saved: evaluate the loss first")
        model, model_trace, guide_trace, args, kwargs = state
        return run_with_posterior_sample(
            model, model_trace, guide_trace, args, kwargs, self.strict_enumeration_warning
        )


def run_with_posterior_sample(
    model: Callable[..., Any],
    model_trace: Trace,
    guide_trace: Trace,
    args: tuple,
    kwargs: dict,
    strict_enumeration_warning: bool = True,
) -> Any:
    """Run ``model`` against ``guide_trace`` with its enumerated sites drawn jointly from
    their posterior, computed from ``model_trace`` (an enumerated run of the model
    against the same guide trace, log-densities computed); returns the model's value.

    This is the engine of :meth:`TraceEnumSample_ELBO.sample_saved` and of
    :meth:`~ppl.infer.traceenum_elbo.TraceEnum_ELBO.sample_posterior`.
    """
    values = _decide(model_trace, 1, strict_enumeration_warning)
    with _FixEnumerated(values), ReplayMessenger(trace=guide_trace):
        return model(*args, **kwargs)
