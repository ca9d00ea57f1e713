"""The function form of every effect handler, at Pyro's path ``pyro.poutine.handlers``.

Each handler ``h`` is called either as ``h(fn, **options)`` (a wrapped callable) or as
``h(**options)`` (a messenger to use as a context manager or decorator). The
messenger classes live one per module (``block_messenger.py`` ...); this module
gathers their handler functions in one place, and defines :func:`queue`, the one
handler built from others rather than from a messenger class.

Handlers that other modules of ppl add later (``enum``, ``reparam``, ``collapse``)
are looked up on first use, so this module lists them as soon as their messenger
module exists.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> def model():
    ...     return ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> float(condition(model, data={"x": torch.tensor(2.0)})())
    2.0
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable
from typing import Any

import torch  # noqa: F401  (used by the doctest above)

from .block_messenger import block
from .condition_messenger import condition
from .do_messenger import do
from .equalize_messenger import equalize
from .escape_messenger import NonlocalExit, escape
from .infer_config_messenger import infer_config
from .lift_messenger import lift
from .markov_messenger import markov
from .mask_messenger import mask
from .messenger import make_handler
from .plate_messenger import broadcast
from .replay_messenger import replay
from .runtime import Message
from .scale_messenger import scale
from .seed_messenger import seed
from .substitute_messenger import substitute
from .trace_messenger import trace
from .trace_struct import Trace
from .uncondition_messenger import uncondition
from .util import discrete_escape, enum_extend

__all__ = [
    "block",
    "broadcast",
    "condition",
    "do",
    "equalize",
    "escape",
    "infer_config",
    "lift",
    "markov",
    "mask",
    "queue",
    "replay",
    "scale",
    "seed",
    "substitute",
    "trace",
    "uncondition",
]

# handler name -> messenger module that defines it (added by other parts of ppl)
_LATER_HANDLERS = {
    "enum": "ppl.poutine.enum_messenger",
    "reparam": "ppl.poutine.reparam_messenger",
    "collapse": "ppl.poutine.collapse_messenger",
}


def _make_handler(
    msngr_cls: Callable[..., Any], module: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator turning a stub function into the handler function of ``msngr_cls``.

    Pyro's way of declaring a handler next to its messenger class: the stub gives
    the name (and ``module`` the ``__module__``); the body is never run.

    Example:
        >>> from ppl.poutine.scale_messenger import ScaleMessenger
        >>> @_make_handler(ScaleMessenger)
        ... def my_scale(fn=None, scale=1.0): ...
        >>> my_scale.__name__, type(my_scale(scale=2.0)).__name__
        ('my_scale', 'ScaleMessenger')
    """

    def decorate(stub: Callable[..., Any]) -> Callable[..., Any]:
        handler = make_handler(msngr_cls)
        handler.__name__ = handler.__qualname__ = stub.__name__
        handler.__doc__ = stub.__doc__ or handler.__doc__
        handler.__module__ = module if module is not None else stub.__module__
        return handler

    return decorate


def __getattr__(name: str) -> Any:
    module = _LATER_HANDLERS.get(name)
    if module is not None:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def queue(
    fn: Callable[..., Any] | None = None,
    queue: Any = None,
    max_tries: int | None = None,
    extend_fn: Callable[..., Iterable[Trace]] | None = None,
    escape_fn: Callable[[Trace, Message], bool] | None = None,
    num_samples: int | None = None,
) -> Any:
    """Run ``fn`` once per partial trace taken from ``queue``, growing the queue on escape.

    Each try pops a partial trace, replays ``fn`` against it and escapes at the
    first site for which ``escape_fn(partial_trace, msg)`` holds (default
    :func:`~ppl.poutine.util.discrete_escape`: a new discrete sample site). The
    partial trace is then extended by ``extend_fn(trace, site, num_samples=...)``
    (default :func:`~ppl.poutine.util.enum_extend`: one trace per support value) and
    the extensions are pushed back. The first run that escapes nowhere returns
    ``fn``'s value; this is a breadth-/depth-first search over discrete choices,
    depending on the queue type.

    Args:
        fn: the model; without it a decorator is returned.
        queue: a ``queue.Queue``-like object (``get``, ``put``, ``empty``) holding
            partial traces; start it with one empty :class:`Trace`.
        max_tries: the most runs before giving up (default ``10**6``).
        extend_fn: ``(trace, site, num_samples=None) -> list of traces``.
        escape_fn: ``(trace, msg) -> bool``.
        num_samples: passed to ``extend_fn`` (default ``-1``: the whole support).

    Raises:
        ValueError: if ``queue`` is not given, or ``max_tries`` runs all escaped.

    Example:
        >>> import queue as q, ppl, ppl.distributions as dist
        >>> def model():
        ...     return int(ppl.sample("c", dist.Bernoulli(0.5)))
        >>> todo = q.Queue()
        >>> todo.put(Trace())
        >>> wrapped = ppl.poutine.queue(model, queue=todo)
        >>> wrapped(), wrapped(), todo.empty()
        (0, 1, True)
    """
    if queue is None:
        raise ValueError("poutine.queue: the `queue` argument (a Queue of traces) is required")
    tries = int(1e6) if max_tries is None else max_tries
    extend = enum_extend if extend_fn is None else extend_fn
    should_escape = discrete_escape if escape_fn is None else escape_fn
    count = -1 if num_samples is None else num_samples

    def decorate(model: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(model)
        def run(*args: Any, **kwargs: Any) -> Any:
            for _ in range(tries):
                if queue.empty():
                    raise ValueError("poutine.queue: the queue of partial traces is empty")
                partial = queue.get()
                traced = trace(
                    escape(replay(model, trace=partial), functools.partial(should_escape, partial))
                )
                try:
                    return traced(*args, **kwargs)
                except NonlocalExit as exit:
                    exit.reset_stack()
                    for extended in extend(traced.trace.copy(), exit.site, num_samples=count):
                        queue.put(extended)
            raise ValueError(
                f"poutine.queue: gave up after max_tries={tries} runs, each of which escaped "
                "at a site its partial trace did not fix yet; raise max_tries, or check that "
                "extend_fn returns traces that fix the escaping site"
            )

        return run

    return decorate(fn) if fn is not None else decorate
