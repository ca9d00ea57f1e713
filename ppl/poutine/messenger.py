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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _bridge_pyro_hooks(cls)

    def _reset(self) -> None:
        """Forget what this run recorded (``poutine.queue`` re-runs a model). Default: nothing."""

    def process_message(self, msg: Message) -> None:
        """Called innermost-first before the statement runs. Default: nothing."""

    def postprocess_message(self, msg: Message) -> None:
        """Called after the statement ran (value known). Default: nothing."""

    # Pyro's hook names, for handlers written against Pyro's Messenger: a subclass that
    # defines ``_process_message`` / ``_postprocess_message`` or per-type methods
    # ``_pyro_<type>`` / ``_pyro_post_<type>`` has them called through the two hooks
    # above (see ``_bridge_pyro_hooks``); message types without such a method keep the
    # behaviour the class inherits from ppl.

    def _process_message(self, msg: Message) -> None:
        """Pyro's pre-hook: ``self._pyro_<type>(msg)`` if defined, else the ppl hook."""
        method = getattr(self, "_pyro_" + msg.type, None)
        if method is not None:
            method(msg)
        else:
            type(self)._ppl_process_message(self, msg)

    def _postprocess_message(self, msg: Message) -> None:
        """Pyro's post-hook: ``self._pyro_post_<type>(msg)`` if defined, else the ppl hook."""
        method = getattr(self, "_pyro_post_" + msg.type, None)
        if method is not None:
            method(msg)
        else:
            type(self)._ppl_postprocess_message(self, msg)

    _ppl_process_message: Callable[[Any, Message], None] = process_message
    _ppl_postprocess_message: Callable[[Any, Message], None] = postprocess_message

    @classmethod
    def register(
        cls,
        fn: Callable[[Message], None] | None = None,
        type: str | None = None,
        post: bool = False,
    ) -> Any:
        """Attach ``fn(msg)`` as this class's hook for messages of ``type`` (Pyro's API).

        ``post=True`` runs it after the statement (``_pyro_post_<type>``). Usable as a
        decorator: ``@MyMessenger.register(type="sample")``.

        Raises:
            ValueError: if ``type`` is missing.
        """
        if fn is None:
            return lambda f: cls.register(f, type=type, post=post)
        if type is None:
            raise ValueError(f"{cls.__name__}.register({fn!r}): expected type='sample' or similar")
        setattr(cls, "_pyro_" + ("post_" if post else "") + type, staticmethod(fn))
        _bridge_pyro_hooks(cls, force=True)
        return fn

    @classmethod
    def unregister(cls, fn: Any = None, type: str | None = None) -> Any:
        """Remove the hooks :meth:`register` attached for ``type`` (pre and post)."""
        for prefix in ("_pyro_", "_pyro_post_"):
            if type is not None and (prefix + type) in cls.__dict__:
                delattr(cls, prefix + type)
        return fn

    def __call__(self, fn: Callable[P, R]) -> HandledFunction[P, R]:
        """Wrap ``fn`` so that every call runs inside this handler."""
        if not callable(fn):
            raise TypeError(
                f"{type(self).__name__} wraps a callable (a model or guide), "
                f"got {type(fn).__name__}"
            )
        return HandledFunction(self, fn)


def _bridge_pyro_hooks(cls: type[Messenger], force: bool = False) -> None:
    """Route ppl's two hooks to Pyro-style hooks that ``cls`` itself defines.

    Pyro's ``apply_stack`` calls ``_process_message`` / ``_postprocess_message``, whose
    default looks up ``_pyro_<type>`` methods. Classes written that way (a user's
    handler from a Pyro tutorial) get ``process_message`` / ``postprocess_message``
    that call them; the hook the class would otherwise inherit stays reachable as
    ``_ppl_process_message`` for types without a Pyro-style method. A class that
    defines ``process_message`` itself keeps it. The lookup happens once per class.
    """
    own = cls.__dict__
    pyro_style = force or any(
        key.startswith("_pyro_") and callable(value) or key in _PYRO_HOOKS
        for key, value in own.items()
    )
    if not pyro_style:
        return
    for ppl_hook, pyro_hook in (
        ("process_message", "_process_message"),
        ("postprocess_message", "_postprocess_message"),
    ):
        if ppl_hook in own and not getattr(own[ppl_hook], "_pyro_bridge", False):
            continue  # the class speaks ppl's hook itself
        inherited = getattr(cls, ppl_hook)
        if not getattr(inherited, "_pyro_bridge", False):
            setattr(cls, "_ppl_" + ppl_hook, inherited)
        setattr(cls, ppl_hook, _make_bridge(pyro_hook))


_PYRO_HOOKS = ("_process_message", "_postprocess_message")


def _make_bridge(pyro_hook: str) -> Callable[[Any, Message], None]:
    def bridge(self: Any, msg: Message) -> None:
        getattr(self, pyro_hook)(msg)

    bridge._pyro_bridge = True  # type: ignore[attr-defined]
    return bridge


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
