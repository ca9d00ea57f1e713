"""Configuring and iterating enumeration of discrete sites (Pyro's ``pyro.infer.enum``).

* :func:`config_enumerate` marks every discrete site of a model or guide
  ``infer={"enumerate": "parallel"}`` (or ``"sequential"``), or every site for local
  Monte Carlo sampling with ``num_samples``.
* :func:`iter_discrete_traces` runs a program once per joint value of its
  ``"sequential"`` sites (depth first), yielding one trace each.
* :func:`get_importance_trace` runs a guide, then the model against it, and
  computes their log-densities (the traces an ELBO consumes).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> @config_enumerate(default="sequential")
    ... def model():
    ...     ppl.sample("a", dist.Bernoulli(0.25))
    >>> [float(tr.nodes["a"]["value"]) for tr in iter_discrete_traces("flat", model)]
    [1.0, 0.0]
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from functools import partial
from queue import LifoQueue
from typing import Any

from .. import settings
from ..poutine.enum_messenger import enumerate_site
from ..poutine.handlers import queue as poutine_queue
from ..poutine.infer_config_messenger import infer_config
from ..poutine.replay_messenger import ReplayMessenger
from ..poutine.runtime import Message
from ..poutine.trace_messenger import TraceMessenger
from ..poutine.trace_struct import Trace, is_subsample_site
from .util import check_site_shape

__all__ = [
    "config_enumerate",
    "enumerate_site",
    "get_importance_trace",
    "iter_discrete_escape",
    "iter_discrete_extend",
    "iter_discrete_traces",
]


def iter_discrete_escape(trace: Trace, msg: Message) -> bool:
    """True at a latent site marked ``"sequential"`` that ``trace`` does not fix yet."""
    return (
        msg.type == "sample"
        and not msg.is_observed
        and msg.infer.get("enumerate") == "sequential"
        and str(msg.name) not in trace
    )


def iter_discrete_extend(trace: Trace, site: Message, **ignored: Any) -> Iterator[Trace]:
    """One copy of ``trace`` per value of ``site``, each fixing the site to that value
    (and recording the number of values as ``infer["_enum_total"]``)."""
    values = enumerate_site(site)
    enum_total = int(values.shape[0])
    for value in values:
        extended = site.copy()
        extended.infer = dict(site.infer)
        extended.infer["_enum_total"] = enum_total
        extended.value = value
        extended.done = False
        extended.stop = False
        new_trace = trace.copy()
        new_trace.add_message(extended)
        yield new_trace


def iter_discrete_traces(graph_type: str, fn: Callable[..., Any], *args: Any, **kwargs: Any):
    """Iterate over every joint value of the ``"sequential"`` sites of ``fn``.

    Continuous sites are sampled as usual; each yielded trace fixes one combination
    of the discrete choices (depth first, the last value of each site first).
    """
    q: LifoQueue = LifoQueue()
    q.put(Trace())
    queued = poutine_queue(fn, q, escape_fn=iter_discrete_escape, extend_fn=iter_discrete_extend)
    while not q.empty():
        tm = TraceMessenger(graph_type=graph_type)
        yield tm(queued).get_trace(*args, **kwargs)


def _without_subsample_sites(trace: Trace) -> Trace:
    for name in [n for n, s in trace.nodes.items() if s.type == "sample" and is_subsample_site(s)]:
        trace.remove_node(name)
    return trace


def get_importance_trace(
    graph_type: str,
    max_plate_nesting: float,
    model: Callable[..., Any],
    guide: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    detach: bool = False,
) -> tuple[Trace, Trace]:
    """The guide's trace and the model's trace replayed against it, with log-densities.

    Subsample sites are dropped; with validation on, model and guide must match
    and every site's ``log_prob`` must fit its plates.
    """
    guide_trace = TraceMessenger(graph_type=graph_type)(guide).get_trace(*args, **kwargs)
    if detach:
        for site in guide_trace.nodes.values():
            if site.type == "sample" and hasattr(site.value, "detach"):
                site.value = site.value.detach()
    model_trace = TraceMessenger(graph_type=graph_type)(
        ReplayMessenger(trace=guide_trace)(model)
    ).get_trace(*args, **kwargs)
    if settings._VALIDATION_ENABLED:
        from ppl.infer.elbo import check_model_guide_match

        check_model_guide_match(model_trace, guide_trace)
    guide_trace = _without_subsample_sites(guide_trace)
    model_trace = _without_subsample_sites(model_trace)
    model_trace.compute_log_prob()
    guide_trace.compute_log_prob()
    if settings._VALIDATION_ENABLED and max_plate_nesting != float("inf"):
        for tr in (model_trace, guide_trace):
            for site in tr.nodes.values():
                if site.type == "sample":
                    check_site_shape(site, int(max_plate_nesting))
    return model_trace, guide_trace


def _config_fn(
    default: str | None, expand: bool, num_samples: int | None, tmc: str, site: Message
) -> dict[str, Any]:
    if site.type != "sample" or site.is_observed or site.infer.get("is_subsample"):
        return {}
    if num_samples is not None:
        return {
            "enumerate": site.infer.get("enumerate", default),
            "num_samples": site.infer.get("num_samples", num_samples),
            "expand": site.infer.get("expand", expand),
            "tmc": site.infer.get("tmc", tmc),
        }
    if getattr(site.fn, "has_enumerate_support", False):
        return {
            "enumerate": site.infer.get("enumerate", default),
            "expand": site.infer.get("expand", expand),
        }
    return {}


def config_enumerate(
    guide: Callable[..., Any] | None = None,
    default: str | None = "parallel",
    expand: bool = False,
    num_samples: int | None = None,
    tmc: str = "diagonal",
) -> Any:
    """Mark the discrete sites of ``guide`` (a model or guide) for enumeration.

    Sites whose distribution has ``has_enumerate_support`` get
    ``infer={"enumerate": default, "expand": expand}``; with ``num_samples`` every
    latent site is instead marked for local parallel sampling of ``num_samples``
    draws. Annotations already on a site win. Works as ``config_enumerate(fn)``,
    ``@config_enumerate`` or ``@config_enumerate(default="sequential")``.

    Args:
        guide: the callable to annotate (None: return a decorator).
        default: ``"parallel"``, ``"sequential"``, ``"flat"`` or None.
        expand: expand enumerated values to the full batch shape.
        num_samples: draws per site for local Monte Carlo sampling (None: enumerate).
        tmc: ``"diagonal"`` or ``"mixture"``, how sampled sites pair upstream draws.

    Raises:
        ValueError: for an unknown ``default``, a non-bool ``expand``, a non-positive
            ``num_samples``, or ``num_samples`` with ``default="sequential"``.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> model = config_enumerate(lambda: ppl.sample("z", dist.Categorical(torch.ones(3))))
        >>> tr = ppl.poutine.trace(model).get_trace()
        >>> tr.nodes["z"]["infer"]["enumerate"]
        'parallel'
    """
    if default not in ("sequential", "parallel", "flat", None):
        raise ValueError(
            "config_enumerate: default must be 'sequential', 'parallel', 'flat' or None, "
            f"got {default!r}"
        )
    if expand not in (True, False):
        raise ValueError(f"config_enumerate: expand must be True or False, got {expand!r}")
    if num_samples is not None:
        if not (isinstance(num_samples, numbers.Number) and num_samples > 0):
            raise ValueError(
                f"config_enumerate: num_samples must be None or a positive int, got {num_samples!r}"
            )
        if default == "sequential":
            raise ValueError(
                "config_enumerate: local sampling (num_samples) cannot be 'sequential'; "
                "use default='parallel'"
            )
    if tmc == "full" and num_samples is not None and num_samples > 1:
        expand = True
    if guide is None:
        return lambda fn: config_enumerate(
            fn, default=default, expand=expand, num_samples=num_samples, tmc=tmc
        )
    return infer_config(guide, config_fn=partial(_config_fn, default, expand, num_samples, tmc))
