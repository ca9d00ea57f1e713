"""``PyroParam`` and ``PyroSample``: declarations a ``PyroModule`` turns into sites.

Design notes
------------
* Both are small named tuples (as in Pyro): assigning one to an attribute of a
  ``PyroModule`` *declares* the attribute; the module then answers reads of it with
  ``ppl.param`` (a learnable, possibly constrained tensor) or ``ppl.sample`` (a
  random variable) under the attribute's dotted path.
* Arguments are checked when the declaration is made, so a bad constraint or prior
  fails at the assignment, naming it, rather than deep inside a model run.
* Both also work as decorators on a method of a ``PyroModule`` subclass: the method
  computes the init value (``PyroParam``) or the prior (``PyroSample``) from
  ``self``. The decorated name becomes a class-level descriptor that registers the
  attribute on the instance at its first read. The attribute name comes from
  ``__set_name__``.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch.distributions import Distribution, constraints
from torch.distributions.constraints import Constraint

__all__ = ["PyroParam", "PyroSample"]

InitValue = torch.Tensor | float | Callable[..., torch.Tensor]


class _PyroParamFields(NamedTuple):
    init_value: Any
    constraint: Constraint
    event_dim: int | None


class PyroParam(_PyroParamFields):
    """Declare a learnable attribute of a ``PyroModule`` (``ppl.param`` with a name for free).

    Inside a call of the module, reading the attribute is
    ``ppl.param("<dotted path>", ..., constraint=constraint, event_dim=event_dim)``;
    the unconstrained tensor is an ``nn.Parameter`` named ``<attr>_unconstrained``
    that the module and the global ParamStore share. Outside a call, reading gives the
    constrained value without touching the store.

    Args:
        init_value: the initial *constrained* value: a tensor, a number, or a
            zero-argument callable (evaluated only when the value is needed, i.e. not
            when the store already holds the parameter). ``None`` only for use as a
            decorator with arguments: ``@PyroParam(constraint=positive)``.
        constraint: support of the parameter (default ``constraints.real``).
        event_dim: rightmost dims that form one event (used by subsampling plates).

    Raises:
        TypeError: ``constraint`` is not a torch ``Constraint``, ``event_dim`` is not an
            int or None, or ``init_value`` is not a tensor, number, callable or None.
        ValueError: ``event_dim`` is negative.

    Example:
        >>> import torch
        >>> from ppl.distributions import constraints
        >>> from ppl.nn import PyroModule, PyroParam
        >>> m = PyroModule()
        >>> m.scale = PyroParam(torch.tensor(2.0), constraint=constraints.positive)
        >>> round(m.scale.item(), 4), round(m.scale_unconstrained.item(), 4)   # log(2)
        (2.0, 0.6931)
    """

    def __new__(
        cls,
        init_value: InitValue | None = None,
        constraint: Constraint = constraints.real,
        event_dim: int | None = None,
    ) -> PyroParam:
        if not isinstance(constraint, Constraint):
            raise TypeError(
                f"PyroParam: constraint must be a torch Constraint instance, got {constraint!r}; "
                "e.g. constraints.positive or constraints.interval(0., 1.)"
            )
        if event_dim is not None and (
            isinstance(event_dim, bool) or not isinstance(event_dim, numbers.Integral)
        ):
            raise TypeError(f"PyroParam: event_dim must be an int or None, got {event_dim!r}")
        if event_dim is not None and event_dim < 0:
            raise ValueError(f"PyroParam: event_dim must be >= 0, got {event_dim}")
        ok = (
            init_value is None
            or isinstance(init_value, torch.Tensor)
            or (isinstance(init_value, numbers.Real) and not isinstance(init_value, bool))
            or callable(init_value)
        )
        if not ok:
            raise TypeError(
                "PyroParam: init_value must be a tensor, a number, a zero-argument callable or "
                f"None, got {type(init_value).__name__}"
            )
        return super().__new__(cls, init_value, constraint, event_dim)

    # --- decorator support ------------------------------------------------------------
    def __call__(self, init_value: Callable[[Any], torch.Tensor]) -> PyroParam:
        """``@PyroParam(constraint=..., event_dim=...)``: decorate the init method."""
        if self.init_value is not None:
            raise TypeError(
                "PyroParam: only a PyroParam made without an init_value can decorate a "
                "method; write @PyroParam(constraint=...) above the method"
            )
        return PyroParam(init_value, self.constraint, self.event_dim)

    def __set_name__(self, owner: type, name: str) -> None:
        self.__dict__["name"] = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        name = self.__dict__.get("name") or getattr(self.init_value, "__name__", None)
        registry = obj.__dict__.get("_pyro_params")
        if registry is None or not callable(self.init_value) or not isinstance(name, str):
            raise TypeError(
                f"PyroParam {name!r}: a decorated PyroParam works only on a method of a "
                f"PyroModule subclass, not on {type(obj).__name__}"
            )
        if name not in registry:
            init = functools.partial(self.init_value, obj)
            setattr(obj, name, PyroParam(init, self.constraint, self.event_dim))
        return obj.__getattr__(name)


class _PyroSampleFields(NamedTuple):
    prior: Any


class PyroSample(_PyroSampleFields):
    """Declare a random attribute of a ``PyroModule`` (``ppl.sample`` with a name for free).

    Inside a call of the module, the first read of the attribute is
    ``ppl.sample("<dotted path>", prior)``; later reads in the same (outermost) call
    return the same value, and the next call draws again. Outside a call, a read
    draws from the prior without any ``sample`` statement.

    Args:
        prior: a distribution, or a callable ``prior(self) -> distribution`` taking
            the module (so priors can depend on other attributes, e.g. hierarchical
            models).

    Raises:
        TypeError: ``prior`` is neither a distribution nor a callable of exactly one
            required argument.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> from ppl.nn import PyroModule, PyroSample
        >>> m = PyroModule()
        >>> m.loc = PyroSample(dist.Normal(0.0, 1.0))
        >>> m.x = PyroSample(lambda self: dist.Normal(self.loc, 0.1))
        >>> m.forward = lambda: (m.loc, m.x)
        >>> tr = ppl.poutine.trace(m).get_trace()
        >>> [n for n in tr.nodes if tr.nodes[n]["type"] == "sample"]
        ['loc', 'x']
    """

    def __new__(cls, prior: Distribution | Callable[[Any], Distribution]) -> PyroSample:
        if not isinstance(prior, Distribution):
            if not callable(prior):
                raise TypeError(
                    "PyroSample: prior must be a distribution or a callable taking the module, "
                    f"got {type(prior).__name__}; e.g. PyroSample(dist.Normal(0., 1.))"
                )
            required = _required_positional_count(prior)
            if required is not None and required != 1:
                raise TypeError(
                    f"PyroSample: a callable prior must take exactly one argument (the module, "
                    f"'self'), but {getattr(prior, '__name__', prior)!r} requires {required}; "
                    "write e.g. PyroSample(lambda self: dist.Normal(self.loc, 1.))"
                )
        return super().__new__(cls, prior)

    def __set_name__(self, owner: type, name: str) -> None:
        self.__dict__["name"] = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        name = self.__dict__.get("name") or getattr(self.prior, "__name__", None)
        registry = obj.__dict__.get("_pyro_samples")
        if registry is None:
            raise TypeError(
                f"PyroSample {name!r}: a decorated PyroSample works only on a method of a "
                f"PyroModule subclass, not on {type(obj).__name__}"
            )
        if name not in registry:
            registry[name] = self.prior
        return obj.__getattr__(name)


def _required_positional_count(fn: Callable[..., Any]) -> int | None:
    """Number of required positional parameters of ``fn`` (None if it has no signature)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(
        1
        for p in signature.parameters.values()
        if p.kind in kinds and p.default is inspect.Parameter.empty
    )
