"""``escape``: leave a model early at the first site a predicate picks.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> try:
    ...     ppl.poutine.escape(model, escape_fn=lambda msg: msg.name == "x")()
    ... except NonlocalExit as e:
    ...     print(e.site.name)
    x
"""

from __future__ import annotations

from collections.abc import Callable

from .messenger import Messenger, make_handler
from .runtime import Message


class NonlocalExit(Exception):
    """Raised by :class:`EscapeMessenger`; ``.site`` is the message that triggered it."""

    def __init__(self, site: Message) -> None:
        super().__init__(f"escaped at site {site.name!r}")
        self.site = site

    def reset_stack(self) -> None:
        """Reset the active handlers that saw the escaped run, so the model can run again.

        Walks from the innermost handler outwards, stopping at a ``block`` that hides
        the escaped site (the handlers outside it never saw the run). Used by
        ``poutine.queue``.
        """
        from ppl.poutine.block_messenger import BlockMessenger
        from ppl.poutine.runtime import handler_stack

        for handler in reversed(handler_stack()):
            handler._reset()
            if isinstance(handler, BlockMessenger) and handler.hide_fn(self.site):
                break


class EscapeMessenger(Messenger):
    """Raises :class:`NonlocalExit` at the first sample site for which ``escape_fn(msg)`` holds."""

    def __init__(self, escape_fn: Callable[[Message], bool]) -> None:
        super().__init__()
        self.escape_fn = escape_fn

    def process_message(self, msg: Message) -> None:
        if msg.type != "sample" or not self.escape_fn(msg):
            return
        msg.done = True
        msg.stop = True
        # Leave after the handlers inside this one have post-processed the site (so a
        # trace wrapped by escape has recorded it), as Pyro does.
        msg.continuation = _exit_at


def _exit_at(msg: Message) -> None:
    raise NonlocalExit(msg)


escape = make_handler(EscapeMessenger)
