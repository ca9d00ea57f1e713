"""The call context a tree of ``PyroModule`` s shares, and ``pyro_method``.

Design notes
------------
* **One context per tree.** A root ``PyroModule`` creates a :class:`ModuleContext`;
  attaching a sub-``PyroModule`` hands it the root's context, so the whole tree sees
  one ``active`` counter and one sample cache.
* **What "active" means.** Entering the context (``PyroModule.__call__`` or a method
  decorated with :func:`pyro_method`) increments ``active``; only while it is
  positive do attribute reads become ``ppl.param``/``ppl.sample`` statements, because
  only then is the module's full dotted name settled and the read part of one model
  run.
* **Sample cache.** A ``PyroSample`` attribute is drawn at most once per outermost
  call: the value is cached under its full name and the cache is emptied when the
  outermost call returns, so the next call draws afresh.
* **Pickling.** A context pickles as its ``used`` flag only; an unpickled context is
  inactive with an empty cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import torch

__all__ = ["ModuleContext", "pyro_method"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_M = TypeVar("_M", bound=torch.nn.Module)


class ModuleContext:
    """Re-entrant call context shared by every ``PyroModule`` of one tree.

    Attributes:
        active: nesting depth of calls currently running (0 outside any call).
        used: whether the tree has ever been called (then its names are fixed).
        cache: full site name -> value of ``PyroSample`` draws in the current call.

    Example:
        >>> ctx = ModuleContext()
        >>> with ctx:
        ...     ctx.cache["w"] = 1
        ...     with ctx:
        ...         ctx.active
        2
        >>> ctx.active, ctx.cache
        (0, {})
    """

    __slots__ = ("active", "used", "cache")

    def __init__(self) -> None:
        self.active = 0
        self.used = False
        self.cache: dict[str, torch.Tensor] = {}

    def __enter__(self) -> ModuleContext:
        self.active += 1
        self.used = True
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.active -= 1
        if self.active == 0:
            self.cache.clear()

    def __getstate__(self) -> dict[str, bool]:
        return {"used": self.used}

    def __setstate__(self, state: dict[str, bool]) -> None:
        self.active = 0
        self.used = bool(state.get("used", False))
        self.cache = {}

    def __repr__(self) -> str:
        return f"ModuleContext(active={self.active}, used={self.used})"


def pyro_method(fn: Callable[Concatenate[_M, _P], _R]) -> Callable[Concatenate[_M, _P], _R]:
    """Run a ``PyroModule`` method inside the module's call context.

    ``forward`` runs in the context already (through ``__call__``); decorate other
    public methods that read ``PyroParam``/``PyroSample`` attributes, so that those
    reads become named ``param``/``sample`` statements and samples are cached for the
    duration of the call.

    Args:
        fn: a method whose first argument is a ``PyroModule``.

    Returns:
        The wrapped method (same signature).

    Raises:
        TypeError: (when called) the method is bound to something that is not a
            ``PyroModule``.

    Example:
        >>> import ppl.distributions as dist
        >>> from ppl.nn import PyroModule, PyroSample
        >>> class Coin(PyroModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.p = PyroSample(dist.Beta(2.0, 2.0))
        ...     @pyro_method
        ...     def twice(self):
        ...         return self.p is self.p   # one draw per call
        >>> Coin().twice()
        True
    """

    @functools.wraps(fn)
    def in_context(self: _M, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        context = self.__dict__.get("_pyro_context")
        if not isinstance(context, ModuleContext):
            raise TypeError(
                f"pyro_method {fn.__qualname__!r}: expected a PyroModule as 'self', got "
                f"{type(self).__name__}; derive the class from ppl.nn.PyroModule"
            )
        with context:
            return fn(self, *args, **kwargs)

    return in_context
