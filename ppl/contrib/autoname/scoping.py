"""``scope`` and ``name_count``: prefixes and duplicate counters for site names.

Design notes
------------
* **Two handlers, one protocol.** :class:`ScopeMessenger` rewrites every ``sample``
  name to ``"<prefix>/<name>"``; :class:`NameCountMessenger` gives a repeated name a
  ``"__<k>"`` suffix. Nested scopes compose because each one rewrites the name on
  the way out (innermost first), so the outermost prefix ends up first.
* **Counting scopes, not only sites.** Entering a scope (unless ``inner=True``)
  sends a ``"scope"`` message whose argument is the prefix. Enclosing scopes prefix
  it like a site name and an enclosing ``name_count`` makes it unique, so the second
  entrance of scope ``a`` becomes ``a__1`` and its sites ``a__1/x``. With
  ``inner=True`` no message is sent: the scope keeps its plain prefix and the
  counter lands on the site name instead (``a/x__1``).
* **Recursion.** ``@scope`` makes a fresh handler per call, so a recursive function
  (whose calls are nested scopes with the same prefix) never enters one handler twice.
* Only ``sample`` sites are renamed; ``param`` names are left alone, as in Pyro.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> @name_count
    ... def model():
    ...     for _ in range(2):
    ...         with scope(prefix="a"):
    ...             ppl.sample("x", dist.Bernoulli(0.5))
    >>> [n for n in ppl.poutine.trace(model).get_trace().stochastic_nodes]
    ['a/x', 'a__1/x']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from ppl.poutine.messenger import Messenger
from ppl.poutine.runtime import Message, apply_stack

__all__ = ["NameCountMessenger", "ScopeMessenger", "name_count", "scope"]

_COUNTED = re.compile(r"^(.*)__(\d+)$")
_SCOPE = "scope"


def _next_free(name: str, taken: set[tuple[str, str]], kind: str) -> str:
    """``name`` itself if unused, else the first ``base__k`` (k = 1, 2, ...) that is free."""
    while (name, kind) in taken:
        match = _COUNTED.match(name)
        if match is not None:
            name = f"{match.group(1)}__{int(match.group(2)) + 1}"
        else:
            name = f"{name}__1"
    return name


def _last_component(prefixed: str) -> str:
    return prefixed.rsplit("/", 1)[-1]


class NameCountMessenger(Messenger):
    """Append ``"__<k>"`` to the k-th repeat of a sample name or scope (``name_count``).

    The first occurrence keeps its name. The record of used names starts empty at
    every entrance (every run of a wrapped model).

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def model():
        ...     for _ in range(3):
        ...         ppl.sample("x", dist.Bernoulli(0.5))
        >>> list(ppl.poutine.trace(name_count(model)).get_trace().stochastic_nodes)
        ['x', 'x__1', 'x__2']
    """

    def __init__(self) -> None:
        super().__init__()
        self._taken: set[tuple[str, str]] = set()

    def __enter__(self) -> NameCountMessenger:
        self._taken = set()
        super().__enter__()
        return self

    def process_message(self, msg: Message) -> None:
        if msg.type == "sample" and msg.name is not None:
            msg.name = _next_free(msg.name, self._taken, "sample")
        elif msg.type == _SCOPE:
            msg.args = (_next_free(msg.args[0], self._taken, _SCOPE),)

    def postprocess_message(self, msg: Message) -> None:
        if msg.type == "sample" and msg.name is not None:
            self._taken.add((msg.name, "sample"))
        elif msg.type == _SCOPE:
            self._taken.add((msg.args[0], _SCOPE))


class ScopeMessenger(Messenger):
    """Prefix every sample name with ``"<prefix>/"`` (the handler behind :func:`scope`).

    Args:
        prefix: the prefix; when the handler decorates a function and ``prefix`` is
            None, the function's name is used.
        inner: if True, duplicate counters go on site names (``a/x__1``) rather than
            on the scope (``a__1/x``); see the module notes.

    Raises:
        ValueError: entering the handler with no prefix (``with scope():``).
    """

    def __init__(self, prefix: str | None = None, inner: bool | None = None) -> None:
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"scope: prefix must be a str, got {type(prefix).__name__}")
        super().__init__()
        self.prefix = prefix
        self.inner = inner
        self._active: str | None = None

    def __enter__(self) -> ScopeMessenger:
        if self.prefix is None:
            raise ValueError(
                "scope: no prefix was provided; use scope(prefix='name') as a context "
                "manager, or decorate a function (its name becomes the prefix)"
            )
        if self.inner:
            self._active = self.prefix
        else:
            # Ask the enclosing handlers for the scope's final name: outer scopes
            # prefix it, name_count makes it unique; keep its last component.
            msg = Message(type=_SCOPE, name=None, fn=_last_component, args=(self.prefix,))
            apply_stack(msg)
            self._active = msg.value
        super().__enter__()
        return self

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:  # type: ignore[override]
        if not callable(fn):
            raise TypeError(f"scope wraps a callable, got {type(fn).__name__}")
        prefix = self.prefix if self.prefix is not None else fn.__code__.co_name
        inner = self.inner

        @functools.wraps(fn)
        def scoped(*args: Any, **kwargs: Any) -> Any:
            with ScopeMessenger(prefix=prefix, inner=inner):
                return fn(*args, **kwargs)

        return scoped

    def process_message(self, msg: Message) -> None:
        if msg.type == "sample" and msg.name is not None:
            msg.name = f"{self._active}/{msg.name}"
        elif msg.type == _SCOPE:
            msg.args = (f"{self._active}/{msg.args[0]}",)


def scope(
    fn: Callable[..., Any] | None = None,
    prefix: str | None = None,
    inner: bool | None = None,
) -> Any:
    """Prefix sample names with ``"<prefix>/"``: a context manager, decorator or wrapper.

    Like TensorFlow's ``name_scope``: scopes nest (outer prefixes first), which helps to
    line up the sites of compositional models with their guides or data. Without an
    explicit prefix a decorated function's name is the prefix. Combine with
    :func:`name_count` to number repeated scopes.

    Args:
        fn: a model to wrap (optional).
        prefix: the prefix (optional when ``fn`` is given).
        inner: where duplicate counters appear (see :class:`ScopeMessenger`).

    Returns:
        ``fn`` wrapped in the scope, or the :class:`ScopeMessenger` when ``fn`` is None.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> @scope
        ... def model():
        ...     with scope(prefix="a"):
        ...         return ppl.sample("x", dist.Bernoulli(0.5))
        >>> "model/a/x" in ppl.poutine.trace(model).get_trace()
        True
    """
    msngr = ScopeMessenger(prefix=prefix, inner=inner)
    return msngr(fn) if fn is not None else msngr


def name_count(fn: Callable[..., Any] | None = None) -> Any:
    """Number repeated sample names and scope entrances: ``x``, ``x__1``, ``x__2``, ...

    Args:
        fn: a model to wrap (optional).

    Returns:
        ``fn`` wrapped in a :class:`NameCountMessenger`, or the messenger itself.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> @name_count
        ... def model():
        ...     with scope(prefix="a"):
        ...         for _ in range(2):
        ...             ppl.sample("x", dist.Bernoulli(0.5))
        >>> list(ppl.poutine.trace(model).get_trace().stochastic_nodes)
        ['a/x', 'a/x__1']
    """
    msngr = NameCountMessenger()
    return msngr(fn) if fn is not None else msngr
