"""``queue``: run a program once per partial trace in a queue (sequential enumeration).

Each call takes the next partial trace from ``queue``, replays it, and runs the
program until a site picked by ``escape_fn(trace, msg)`` that the partial trace does
not fix yet. There it stops and ``extend_fn(trace, site)`` puts one longer partial
trace per choice back into the queue; the call then tries the next one. The first
run that escapes nowhere returns normally. Calling until the queue is empty thus
visits every combination of the escaping sites' values, depth first.

Example:
    >>> from queue import LifoQueue
    >>> import ppl, ppl.distributions as dist
    >>> from ppl.poutine.trace_struct import Trace
    >>> from ppl.infer.enum import iter_discrete_escape, iter_discrete_extend
    >>> q = LifoQueue(); q.put(Trace())
    >>> f = queue(lambda: ppl.sample("b", dist.Bernoulli(0.5), infer={"enumerate": "sequential"}),
    ...           q, escape_fn=iter_discrete_escape, extend_fn=iter_discrete_extend)
    >>> sorted(float(f()) for _ in range(2))
    [0.0, 1.0]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from .block_messenger import BlockMessenger
from .escape_messenger import EscapeMessenger, NonlocalExit
from .replay_messenger import ReplayMessenger
from .runtime import Message, handler_stack
from .trace_messenger import TraceMessenger
from .trace_struct import Trace


def _reset_outer_traces(site: Message) -> None:
    """Forget what enclosing traces recorded during an abandoned run (up to a block
    that hides the escaping site), so the next run can record the same sites again."""
    for frame in reversed(handler_stack()):
        if isinstance(frame, TraceMessenger):
            old = frame.trace
            frame.trace = Trace(frame.graph_type)
            frame._plate_sizes = {}
            inputs = old.nodes.get("_INPUT")
            if inputs is not None:
                frame.trace.add_message(inputs)
        if isinstance(frame, BlockMessenger) and frame.hide_fn(site):
            break


def queue(
    fn: Callable[..., Any] | None = None,
    queue: Any = None,
    max_tries: int | None = None,
    extend_fn: Callable[..., Iterable[Trace]] | None = None,
    escape_fn: Callable[[Trace, Message], bool] | None = None,
    num_samples: int | None = None,
) -> Any:
    """Pyro's ``poutine.queue`` (see the module notes).

    Args:
        fn: the program.
        queue: a ``queue.Queue`` of partial traces (start it with one empty ``Trace``).
        max_tries: give up after this many escapes in one call (default 10**6).
        extend_fn: ``extend_fn(trace, site, num_samples=...)`` yields the extended traces.
        escape_fn: ``escape_fn(trace, msg)``: stop the run at ``msg``.
        num_samples: passed to ``extend_fn``.

    Raises:
        ValueError: if the queue is empty when called, or ``max_tries`` is exceeded.
    """
    if max_tries is None:
        max_tries = int(1e6)
    if num_samples is None:
        num_samples = -1
    if queue is None or extend_fn is None or escape_fn is None:
        raise ValueError("poutine.queue needs queue=, extend_fn= and escape_fn=")

    def wrapper(wrapped: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(wrapped)
        def _fn(*args: Any, **kwargs: Any) -> Any:
            for _ in range(max_tries):
                if queue.empty():
                    raise ValueError("poutine.queue: the queue of partial traces is empty")
                next_trace = queue.get()
                tm = TraceMessenger()
                escape = EscapeMessenger(functools.partial(escape_fn, next_trace))
                try:
                    with tm, ReplayMessenger(trace=next_trace), escape:
                        return wrapped(*args, **kwargs)
                except NonlocalExit as e:
                    _reset_outer_traces(e.site)
                    partial = tm.trace.copy()
                    for tr in extend_fn(partial, e.site, num_samples=num_samples):
                        queue.put(tr)
            raise ValueError(f"poutine.queue: max tries ({max_tries}) exceeded")

        return _fn

    return wrapper(fn) if fn is not None else wrapper
