"""``Messenger``: the base of every effect handler.

A handler is an object with two hooks, called by :func:`~ppl.poutine.runtime.apply_stack`
for every statement run while the handler is active:

* ``process_message(msg)`` on the way out (innermost handler first): change the
  message before the statement runs (fix the value, add a plate, scale ...);
* ``postprocess_message(msg)`` on the way back, after the value is known.

The same object is a context manager (``with handler: model()``) and a function
wrapper (``handler(model)(data)``). Entering pushes it on the private stack,
leaving pops it; leaving is exception-safe, so a model that raises never leaves a
stale handler behind.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> class CountSamples(Messenger):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.count = 0
    ...     def process_message(self, msg):
    ...         self.count += msg.type == "sample"
    >>> with CountSamples() as counter:
    ...     _ = ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> counter.count
    1
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Generic, TypeVar

from typing_extensions import ParamSpec, Self

from .runtime import Message, pop_handler, push_handler

P = ParamSpec("P")
R = TypeVar("R")


class Messenger:
    """Base effect handler: no-op hooks, stack management, context/decorator use."""

    def __enter__(self) -> Self:
        push_handler(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pop_handler(self)

    def _reset(self) -> None:
        """Forget what this run recorded (``poutine.queue`` re-runs a model). Default: nothing."""

    def process_message(self, msg: Message) -> None:
        """Called innermost-first before the statement runs. Default: nothing."""

    def postprocess_message(self, msg: Message) -> None:
        """Called after the statement ran (value known). Default: nothing."""

    def __call__(self, fn: Callable[P, R]) -> HandledFunction[P, R]:
        """Wrap ``fn`` so that every call runs inside this handler."""
        if not callable(fn):
            raise TypeError(
                f"{type(self).__name__} wraps a callable (a model or guide), "
                f"got {type(fn).__name__}"
            )
        return HandledFunction(self, fn)


class HandledFunction(Generic[P, R]):
    """``fn`` run inside ``msngr`` at every call; keeps ``fn``'s signature and name."""

    def __init__(self, msngr: Messenger, fn: Callable[P, R]) -> None:
        # copy name/doc/signature only: merging fn.__dict__ would overwrite msngr and fn
        # when fn is itself a HandledFunction (stacked handlers)
        functools.update_wrapper(self, fn, updated=())  # type: ignore[arg-type]
        self.msngr = msngr
        self.fn = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.msngr:
            return self.fn(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        # a handler applied to a method (``@poutine.block`` in a class body) binds like
        # a function, so ``obj.method()`` passes ``obj`` on
        if instance is None:
            return self
        return functools.partial(self, instance)

    def __repr__(self) -> str:
        return f"<{type(self.msngr).__name__} handling {getattr(self.fn, '__name__', self.fn)!r}>"


M = TypeVar("M", bound=Messenger)


def make_handler(messenger_cls: Callable[..., M]) -> Callable[..., Any]:
    """Build the lowercase handler function for a ``Messenger`` class.

    ``handler(fn, **kw)`` wraps ``fn``; ``handler(**kw)`` (no fn) returns the
    messenger itself, to use as a context manager or decorator.
    """

    def handler(fn: Callable[..., Any] | None = None, *args: Any, **kwargs: Any) -> Any:
        if fn is not None and not (callable(fn) or isinstance(fn, Iterable)):
            raise ValueError(
                f"{fn!r} is not callable, did you mean to pass it as a keyword arg? "
                f"(the first positional argument of {handler.__name__}() is the function)"
            )
        msngr = messenger_cls(*args, **kwargs)
        return msngr(fn) if fn is not None else msngr

    handler.__name__ = (
        getattr(messenger_cls, "__name__", "handler").replace("Messenger", "").lower()
    )
    handler.__doc__ = messenger_cls.__doc__
    return handler
