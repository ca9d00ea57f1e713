"""``named``: write models over nested Python data whose addresses are site names.

Instead of ``x = ppl.sample("state.x", ...)`` a model reads like attribute access:
``state.x.sample_(...)``. Three write-once containers, :class:`Object`,
:class:`List` and :class:`Dict`, nest inside each other and each element knows its
address (``state.xs[0].y``, ``state.d['k']``), which is a valid Python expression
evaluating back to the element. A placeholder's ``sample_`` / ``param_`` runs the
statement under that address and stores the value in place of the placeholder.

Design notes
------------
* **Placeholders on demand.** Reading an attribute an :class:`Object` does not have
  creates (and keeps) a child placeholder named ``"<parent>.<attr>"``; a missing key
  of a named :class:`Dict` does the same. A placeholder remembers how to replace
  itself in its parent (``_set_value``), so ``sample_`` can store the tensor there.
* **Write once.** Data may be added but not changed: overwriting a value that is
  not an unused placeholder raises :class:`NamedStructureError` (a ``ValueError``,
  and a ``RuntimeError`` for code written against Pyro).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> state = Object("state")
    >>> state.xs = List()
    >>> str(state.xs.add().y)
    'state.xs[0].y'
    >>> tr = ppl.poutine.trace(lambda: state.z.sample_(dist.Normal(0.0, 1.0))).get_trace()
    >>> list(tr.stochastic_nodes)
    ['state.z']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ppl import primitives

__all__ = ["Dict", "List", "NamedStructureError", "Object"]


class NamedStructureError(ValueError, RuntimeError):
    """Misuse of a write-once named structure (overwrite, rename, unnamed access)."""


def _attach(placeholder: Object, setter: Callable[[Any], None]) -> Object:
    object.__setattr__(placeholder, "_set_value", setter)
    return placeholder


class Object:
    """A write-once record of latent state, or a placeholder named by its address.

    Args:
        name: the address (the root's name, e.g. ``"state"``).

    Example:
        >>> state = Object("state")
        >>> state.x = 0
        >>> str(state.a.b.c)
        'state.a.b.c'
    """

    _name: str
    _is_placeholder: bool

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"named.Object: name must be a str, got {type(name).__name__}")
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_is_placeholder", True)

    def __str__(self) -> str:
        return object.__getattribute__(self, "_name")

    def __repr__(self) -> str:
        return f"named.Object({str(self)!r})"

    def __getattr__(self, key: str) -> Object:
        # called only for missing attributes: create a child placeholder
        if key.startswith("__") and key.endswith("__"):
            raise AttributeError(key)
        child = Object(f"{self}.{key}")
        _attach(child, lambda value: setattr(self, key, value))
        object.__setattr__(self, key, child)
        object.__setattr__(self, "_is_placeholder", False)
        return child

    def __setattr__(self, key: str, value: Any) -> None:
        if key in self.__dict__:
            old = self.__dict__[key]
            if not (isinstance(old, Object) and old._is_placeholder):
                raise NamedStructureError(
                    f"cannot overwrite {self}.{key}: named structures are write-once"
                )
        if isinstance(value, (List, Dict)):
            value._set_name(f"{self}.{key}")
        object.__setattr__(self, key, value)
        object.__setattr__(self, "_is_placeholder", False)

    def _check_placeholder(self, what: str) -> None:
        if not self._is_placeholder or "_set_value" not in self.__dict__:
            raise NamedStructureError(
                f"cannot {what} {self}: only an unused placeholder (a fresh attribute, "
                "list element or dict entry) can become a site"
            )

    def sample_(self, fn: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``ppl.sample(str(self), fn, ...)``, storing the value in place of ``self``."""
        self._check_placeholder(".sample_")
        value = primitives.sample(str(self), fn, *args, **kwargs)
        self._store(value)
        return value

    def param_(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``ppl.param(str(self), ...)``, storing the value in place of ``self``."""
        self._check_placeholder(".param_")
        value = primitives.param(str(self), *args, **kwargs)
        self._store(value)
        return value

    def _store(self, value: Any) -> None:
        self.__dict__["_set_value"](value)
        object.__setattr__(self, "_is_placeholder", False)


class List(list):
    """A write-once list of latent state; :meth:`add` appends a placeholder.

    Give it a name (``List("root")``) or store it in an :class:`Object` before use.

    Example:
        >>> xs = List("xs")
        >>> str(xs.add()), str(xs.add())
        ('xs[0]', 'xs[1]')
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self._name = name

    def __str__(self) -> str:
        return str(self._name)

    def _set_name(self, name: str) -> None:
        if len(self):
            raise NamedStructureError(f"cannot name named.List {name}: it already holds data")
        if self._name is not None:
            raise NamedStructureError(f"cannot rename named.List {self._name} to {name}")
        self._name = name

    def add(self) -> Object:
        """Append a new placeholder :class:`Object` named ``"<list>[<i>]"`` and return it."""
        if self._name is None:
            raise NamedStructureError(
                "cannot .add() to an unnamed named.List: give it a name or store it in a "
                "named.Object first"
            )
        i = len(self)
        child = _attach(Object(f"{self._name}[{i}]"), lambda value: self.__setitem__(i, value))
        self.append(child)
        return child

    def __setitem__(self, pos: Any, value: Any) -> None:
        name = f"{self._name}[{pos}]"
        if isinstance(value, Object):
            raise TypeError(f"cannot store named.Object {value} in named.List {self._name}")
        old = self[pos]
        if not (isinstance(old, Object) and old._is_placeholder):
            raise NamedStructureError(f"cannot overwrite {name}: named structures are write-once")
        if isinstance(value, (List, Dict)):
            value._set_name(name)
        super().__setitem__(pos, value)


class Dict(dict):
    """A write-once dict of latent state; a missing key reads as a placeholder.

    Give it a name (``Dict("root")``) or store it in an :class:`Object` before use.

    Example:
        >>> d = Dict("d")
        >>> str(d["k"]), str(d[3])
        ("d['k']", 'd[3]')
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self._name = name

    def __str__(self) -> str:
        return str(self._name)

    def _set_name(self, name: str) -> None:
        if len(self):
            raise NamedStructureError(f"cannot name named.Dict {name}: it already holds data")
        if self._name is not None:
            raise NamedStructureError(f"cannot rename named.Dict {self._name} to {name}")
        self._name = name

    def __getitem__(self, key: Any) -> Any:
        if key in self:
            return super().__getitem__(key)
        if self._name is None:
            raise NamedStructureError(
                "cannot read from an unnamed named.Dict: give it a name or store it in a "
                "named.Object first"
            )
        child = _attach(
            Object(f"{self._name}[{key!r}]"), lambda value: self.__setitem__(key, value)
        )
        super().__setitem__(key, child)
        return child

    def __setitem__(self, key: Any, value: Any) -> None:
        name = f"{self._name}[{key!r}]"
        if key in self:
            old = super().__getitem__(key)
            if not (isinstance(old, Object) and old._is_placeholder):
                raise NamedStructureError(
                    f"cannot overwrite {name}: named structures are write-once"
                )
        if isinstance(value, Object):
            raise TypeError(f"cannot store named.Object {value} in named.Dict {self._name}")
        if isinstance(value, (List, Dict)):
            value._set_name(name)
        super().__setitem__(key, value)
