"""``autoname`` and ``sample``: unique, hierarchical site names generated for you.

Design notes
------------
* **A stack of name scopes.** Each entrance of an ``autoname`` scope (a call of a
  decorated function, a ``with`` block, one iteration of a wrapped loop) pushes a
  :class:`NameScope` on one module-level :class:`ScopeStack`. A scope keeps a count
  of the names allocated directly inside it, so its k-th child scope called ``f1``
  is shown as ``f1__k`` and its k-th site called ``x`` as ``xk`` (``x``, ``x1``, ...).
* **Names are asked for, not rewritten.** :func:`sample` sends a ``"genname"``
  message with the raw name (the given one or the distribution's class name); the
  innermost active :class:`AutonameMessenger` answers with the full path
  ``"f2/f1__1/Bernoulli"`` and stops the message. Plain ``ppl.sample`` sites are
  left alone. Without an active handler a name passes through unchanged.
* **Re-entrant.** One handler object may be entered again while active (a
  recursive decorated function): every entrance pushes a scope, but the handler
  joins the effect stack only at the outermost entrance.

Example:
    >>> import ppl.distributions as dist
    >>> from ppl import poutine
    >>> @autoname
    ... def f1():
    ...     return sample(dist.Bernoulli(0.5))
    >>> @autoname(name="model")
    ... def f2():
    ...     f1()
    ...     f1()
    ...     return sample(dist.Normal(0.0, 1.0))
    >>> list(poutine.trace(f2).get_trace().stochastic_nodes)
    ['model/f1/Bernoulli', 'model/f1__1/Bernoulli', 'model/Normal']
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import singledispatch
from typing import Any

import torch
from torch.distributions import Distribution

from ppl import primitives
from ppl.poutine.messenger import Messenger, make_handler
from ppl.poutine.runtime import Message, am_i_wrapped, apply_stack

__all__ = ["AutonameMessenger", "NameScope", "ScopeStack", "autoname", "genname", "sample"]


class NameScope:
    """One entrance of a scope: its name, its own index among siblings, its children's counts.

    Example:
        >>> s = NameScope("loop")
        >>> [s.allocate("x") for _ in range(3)]
        [0, 1, 2]
        >>> s.counter = 2
        >>> str(s)
        'loop__2'
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.counter = 0
        self._allocated: defaultdict[str, int] = defaultdict(int)

    def __str__(self) -> str:
        return f"{self.name}__{self.counter}" if self.counter else str(self.name)

    def allocate(self, name: str) -> int:
        """How many times ``name`` was allocated here before (and count this one)."""
        count = self._allocated[name]
        self._allocated[name] = count + 1
        return count


class ScopeStack:
    """The active scopes, outermost first; names are their ``/``-joined path.

    Example:
        >>> stack = ScopeStack()
        >>> stack.push_scope(NameScope("model"))
        >>> stack.fresh_name("x"), stack.fresh_name("x")
        ('x', 'x1')
        >>> str(stack)
        'model'
    """

    def __init__(self) -> None:
        self._stack: list[NameScope] = []

    def __str__(self) -> str:
        return "/".join(str(s) for s in self._stack)

    @property
    def current_scope(self) -> NameScope:
        """The innermost scope (a throw-away global scope when none is active)."""
        return self._stack[-1] if self._stack else NameScope()

    def push_scope(self, scope: NameScope) -> None:
        """Enter ``scope`` inside the current one, numbering it among its namesakes."""
        scope.counter = self.current_scope.allocate(str(scope.name))
        self._stack.append(scope)

    def pop_scope(self) -> NameScope:
        """Leave the innermost scope."""
        if not self._stack:
            raise ValueError("autoname: no scope to leave (scope stack is empty)")
        return self._stack.pop()

    def fresh_name(self, name: str) -> str:
        """``name`` the first time in the current scope, then ``name1``, ``name2`` ..."""
        count = self.current_scope.allocate(name)
        return f"{name}{count}" if count else name


_SCOPE_STACK = ScopeStack()


def _raw_name(name: str = "name") -> str:
    return name


def genname(name: str = "name") -> str:
    """A fresh full name for ``name`` from the innermost ``autoname`` handler.

    Outside any handler the name comes back unchanged.

    Example:
        >>> genname("x")
        'x'
        >>> with autoname(name="model"):
        ...     genname("x"), genname("x")
        ('model/x', 'model/x1')
    """
    if not am_i_wrapped():
        return name
    msg = Message(type="genname", name=None, fn=_raw_name, args=(name,))
    apply_stack(msg)
    return msg.value


class AutonameMessenger(Messenger):
    """Give :func:`sample` sites unique names from the scope path (the ``autoname`` handler).

    Use it as a decorator (the scope is the function's name unless ``name`` is
    given), as a ``with`` block (``name`` required), or around an iterable
    (``autoname(range(3), name="time")`` or a sequential ``ppl.plate``, whose name is
    the default): each iteration is a new scope ``time``, ``time__1``, ...

    Args:
        name: the scope name.

    Raises:
        ValueError: entering a scope that has no name; wrapping an object that is
            neither callable nor iterable.

    Example:
        >>> import ppl.distributions as dist
        >>> from ppl import poutine
        >>> @autoname(name="model")
        ... def model():
        ...     for _ in autoname(range(2), name="t"):
        ...         sample("x", dist.Normal(0.0, 1.0))
        >>> list(poutine.trace(model).get_trace().stochastic_nodes)
        ['model/t/x', 'model/t__1/x']
    """

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"autoname: name must be a str, got {type(name).__name__}")
        super().__init__()
        self.name = name
        self._iterable: Iterable[Any] | None = None
        self._depth = 0

    def __call__(self, fn_or_iter: Any) -> Any:  # type: ignore[override]
        if isinstance(fn_or_iter, Iterable):
            if self.name is None:
                self.name = getattr(fn_or_iter, "name", None)
            self._iterable = fn_or_iter
            return self
        if callable(fn_or_iter):
            if self.name is None:
                self.name = getattr(fn_or_iter, "__name__", None)
            return super().__call__(fn_or_iter)
        raise ValueError(
            f"autoname wraps a callable or an iterable, got {type(fn_or_iter).__name__}"
        )

    def _check_name(self) -> None:
        if self.name is None:
            raise ValueError(
                "autoname: the scope has no name; pass name='...' (a wrapped function "
                "or sequential plate supplies its own)"
            )

    def __enter__(self) -> AutonameMessenger:
        self._check_name()
        _SCOPE_STACK.push_scope(NameScope(self.name))
        if self._depth == 0:
            try:
                super().__enter__()
            except BaseException:
                _SCOPE_STACK.pop_scope()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                super().__exit__(*exc)
        finally:
            _SCOPE_STACK.pop_scope()

    def __iter__(self) -> Iterator[Any]:
        if self._iterable is None:
            raise TypeError("autoname: only a handler wrapping an iterable can be iterated")
        self._check_name()
        for item in self._iterable:
            _SCOPE_STACK.push_scope(NameScope(self.name))
            try:
                yield item
            finally:
                _SCOPE_STACK.pop_scope()

    def process_message(self, msg: Message) -> None:
        if msg.type != "genname":
            return
        fresh = _SCOPE_STACK.fresh_name(msg.fn(*msg.args))
        msg.value = f"{_SCOPE_STACK}/{fresh}"
        msg.stop = True


autoname = make_handler(AutonameMessenger)


@singledispatch
def sample(*args: Any, **kwargs: Any) -> torch.Tensor:
    """``ppl.sample`` with an automatic name: ``sample(dist)`` or ``sample("x", dist)``.

    Without a name the distribution's class name is used (``Normal``, ``Normal1``...);
    a ``name=`` keyword may also be given after the distribution. The full name is
    the path of the active :func:`autoname` scopes.

    Raises:
        TypeError: if the first argument is neither a name nor a distribution.

    Example:
        >>> import ppl.distributions as dist
        >>> from ppl import poutine
        >>> model = autoname(lambda: sample(dist.Normal(0.0, 1.0)), name="m")
        >>> list(poutine.trace(model).get_trace().stochastic_nodes)
        ['m/Normal']
    """
    first = type(args[0]).__name__ if args else "nothing"
    raise TypeError(f"autoname.sample expects a site name or a distribution first, got {first}")


@sample.register(str)
def _sample_named(name: str, fn: Distribution, *args: Any, **kwargs: Any) -> torch.Tensor:
    return primitives.sample(genname(name), fn, *args, **kwargs)


@sample.register(Distribution)
def _sample_unnamed(fn: Distribution, *args: Any, **kwargs: Any) -> torch.Tensor:
    name = kwargs.pop("name", None)
    name = genname(type(fn).__name__ if name is None else name)
    return primitives.sample(name, fn, *args, **kwargs)
