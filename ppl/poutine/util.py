"""Trace-site predicates and trace-extension helpers at Pyro's path ``pyro.poutine.util``.

Why: Pyro code classifies sites (``site_is_subsample``, ``site_is_factor``), strips
plate index sites from traces (``prune_subsample_sites``) and runs breadth-first
search over discrete choices with ``poutine.queue``, whose building blocks
(``enum_extend``, ``mc_extend``, ``discrete_escape``, ``all_escape``) live here.
Validation switches are ppl's global ones from :mod:`ppl.settings`.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> def model():
    ...     with ppl.plate("data", 10, subsample_size=3):
    ...         ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> tr = ppl.poutine.trace(model).get_trace()
    >>> [name for name, site in tr.nodes.items() if site_is_subsample(site)]
    ['data']
    >>> "data" in prune_subsample_sites(tr)
    False
"""

from __future__ import annotations

from typing import Any

from ppl.settings import enable_validation, is_validation_enabled

from .runtime import Message
from .trace_struct import Trace, is_subsample_site

__all__ = [
    "all_escape",
    "discrete_escape",
    "enable_validation",
    "enum_extend",
    "is_validation_enabled",
    "mc_extend",
    "prune_subsample_sites",
    "site_is_factor",
    "site_is_subsample",
]


def _get(site: Any, key: str, default: Any = None) -> Any:
    """``site[key]`` for a ppl Message or a plain dict site."""
    return site.get(key, default)


def site_is_subsample(site: Any) -> bool:
    """True for the sample site in which a subsampling ``plate`` records its indices.

    Example:
        >>> site_is_subsample(Message(type="sample", name="x", fn=None))
        False
    """
    if isinstance(site, Message):
        return is_subsample_site(site)
    if _get(site, "type") != "sample":
        return False
    infer = _get(site, "infer") or {}
    return bool(infer.get("is_subsample")) or type(_get(site, "fn")).__name__ in (
        "_Subsample",
        "Subsample",
    )


def site_is_factor(site: Any) -> bool:
    """True for a sample site made by ``ppl.factor`` (its distribution is ``Unit``).

    Example:
        >>> import ppl
        >>> tr = ppl.poutine.trace(lambda: ppl.factor("f", 1.0)).get_trace()
        >>> site_is_factor(tr.nodes["f"])
        True
    """
    return _get(site, "type") == "sample" and type(_get(site, "fn")).__name__ == "Unit"


def prune_subsample_sites(trace: Trace) -> Trace:
    """A copy of ``trace`` without the plates' subsample index sites."""
    trace = trace.copy()
    for name, site in list(trace.nodes.items()):
        if site_is_subsample(site):
            trace.remove_node(name)
    return trace


def _extended(trace: Trace, msg: Message, value: Any) -> Trace:
    site = msg.copy()
    site.value = value
    new = trace.copy()
    new.add_message(site)
    return new


def enum_extend(trace: Trace, msg: Message, num_samples: int | None = None) -> list[Trace]:
    """Copies of ``trace``, each extended by ``msg``'s site fixed to one support value.

    The values come from ``msg.fn.enumerate_support(...)`` in order. With
    ``num_samples = n >= 0`` at most ``n + 1`` traces are returned (Pyro's bound);
    ``None`` or a negative number means the whole support.

    Raises:
        ValueError: if the message has no name.

    Example:
        >>> import ppl.distributions as dist
        >>> msg = Message(type="sample", name="c", fn=dist.Bernoulli(0.5))
        >>> [float(tr.nodes["c"]["value"]) for tr in enum_extend(Trace(), msg)]
        [0.0, 1.0]
    """
    if msg.name is None:
        raise ValueError("enum_extend: the message has no name; only named sites can be added")
    limit = -1 if num_samples is None else num_samples
    out = []
    for i, value in enumerate(msg.fn.enumerate_support(*msg.args, **msg.kwargs)):
        if 0 <= limit < i:
            break
        out.append(_extended(trace, msg, value))
    return out


def mc_extend(trace: Trace, msg: Message, num_samples: int | None = None) -> list[Trace]:
    """``num_samples`` (default 1) copies of ``trace``, each extended by a fresh draw of ``msg``.

    Example:
        >>> import ppl.distributions as dist
        >>> msg = Message(type="sample", name="z", fn=dist.Normal(0.0, 1.0))
        >>> len(mc_extend(Trace(), msg, num_samples=3))
        3
    """
    if msg.name is None:
        raise ValueError("mc_extend: the message has no name; only named sites can be added")
    count = 1 if num_samples is None else num_samples
    return [_extended(trace, msg, msg.fn(*msg.args, **msg.kwargs)) for _ in range(count)]


def all_escape(trace: Trace, msg: Message) -> bool:
    """True for an unobserved, named sample site not yet in ``trace`` (escape at every new one).

    Example:
        >>> import ppl.distributions as dist
        >>> all_escape(Trace(), Message(type="sample", name="z", fn=dist.Normal(0.0, 1.0)))
        True
    """
    return (
        msg["type"] == "sample"
        and not msg["is_observed"]
        and msg["name"] is not None
        and msg["name"] not in trace
    )


def discrete_escape(trace: Trace, msg: Message) -> bool:
    """Like :func:`all_escape`, restricted to distributions with an enumerable support.

    Example:
        >>> import ppl.distributions as dist
        >>> discrete_escape(Trace(), Message(type="sample", name="z", fn=dist.Normal(0.0, 1.0)))
        False
    """
    return all_escape(trace, msg) and bool(getattr(msg["fn"], "has_enumerate_support", False))
