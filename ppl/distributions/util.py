"""Helpers of :mod:`ppl.distributions`: shapes, constraint comparison, and Pyro's public
``pyro.distributions.util`` names (``sum_rightmost``, ``scale_and_mask``, ``deep_to``, ...).

They work on any ``torch.distributions.Distribution``, wrapped or raw, so the extra
distributions can hold components built by plain torch code.

Example:
    >>> sum_leftmost(torch.ones(2, 3, 4), -1).shape
    torch.Size([4])
"""

from __future__ import annotations

import copy
import ctypes
import functools
import numbers
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import logsumexp
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from ppl.ops.tensor import broadcast_shape
from ppl.settings import enable_validation, is_validation_enabled, validation_enabled

__all__ = [
    "EMPTY_SHAPE",
    "SizeLike",
    "as_size",
    "expand_to",
    "constraints_equal",
    "checked_broadcast",
    "check_event_shape",
    "broadcast_all",
    "broadcast_shape",
    "copy_docs_from",
    "deep_to",
    "detach",
    "enable_validation",
    "eye_like",
    "gather",
    "ignore_jit_warnings",
    "is_identically_one",
    "is_identically_zero",
    "is_validation_enabled",
    "log_sum_exp",
    "logsumexp",
    "scalar_like",
    "scale_and_mask",
    "sum_leftmost",
    "sum_rightmost",
    "torch_jit_script_if_tracing",
    "validation_enabled",
    "weakmethod",
]

SizeLike = torch.Size | list[int] | tuple[int, ...]
"""Anything torch accepts as a shape."""

EMPTY_SHAPE = torch.Size()
"""The default ``sample_shape`` (a module constant, not a call in a signature)."""


def checked_broadcast(where: str, *shapes: torch.Size | tuple[int, ...]) -> torch.Size:
    """``broadcast_shape`` whose error names ``where`` and the fix.

    Raises:
        ValueError: if the shapes do not broadcast.
    """
    try:
        return broadcast_shape(*shapes)
    except ValueError:
        shown = ", ".join(str(tuple(s)) for s in shapes)
        raise ValueError(
            f"{where}: shapes {shown} do not broadcast; make every dim equal or 1 "
            f"(right-aligned), e.g. with .expand(...) or by reshaping the parameters"
        ) from None


def expand_to(
    d: torch.distributions.Distribution, batch_shape: torch.Size
) -> torch.distributions.Distribution:
    """``d.expand(batch_shape)`` for any distribution, falling back to ``ExpandedDistribution``.

    Returns ``d`` itself when the batch shape already matches.
    """
    if d.batch_shape == batch_shape:
        return d
    try:
        return d.expand(batch_shape)
    except NotImplementedError:
        from ppl.distributions.expanded import ExpandedDistribution

        return ExpandedDistribution(d, batch_shape)


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a_t, b_t = torch.as_tensor(a), torch.as_tensor(b)
        return a_t.shape == b_t.shape and bool(torch.equal(a_t, b_t.to(a_t)))
    if isinstance(a, constraints.Constraint) and isinstance(b, constraints.Constraint):
        return constraints_equal(a, b)
    return bool(a == b)


def constraints_equal(a: constraints.Constraint | None, b: constraints.Constraint | None) -> bool:
    """Structural equality of two constraints (torch constraints define no ``__eq__``).

    Two constraints are equal when they are the same object, or of the same class with
    equal attributes (tensors compared by value).

    Example:
        >>> constraints_equal(constraints.interval(0.0, 1.0), constraints.interval(0.0, 1.0))
        True
    """
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    va, vb = vars(a), vars(b)
    if va.keys() != vb.keys():
        return False
    return all(_values_equal(va[k], vb[k]) for k in va)


def check_event_shape(d: Any, value: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``value`` ends in ``d.event_shape``.

    A cheap shape-only check that multivariate ``log_prob`` methods run even with
    validation off: a value with the wrong event dims would otherwise broadcast silently.
    """
    k = len(d.event_shape)
    if k and tuple(value.shape[value.dim() - k:]) != tuple(d.event_shape):
        raise ValueError(
            f"{type(d).__name__}.log_prob: expected a value ending in event_shape "
            f"{tuple(d.event_shape)}, got shape {tuple(value.shape)}"
        )


def as_size(shape: Any, where: str) -> torch.Size:
    """Convert a tuple/list/Size of ints to ``torch.Size``, raising a clear ``TypeError``."""
    if isinstance(shape, int):
        shape = (shape,)
    try:
        size = torch.Size(shape)
    except TypeError as e:
        raise TypeError(
            f"{where}: expected a shape (tuple of ints or torch.Size) but got "
            f"{type(shape).__name__} {shape!r}; pass e.g. (3, 2)"
        ) from e
    return size


# ---------------------------------------------------------------------------
# Pyro's public helpers (``pyro.distributions.util``), written for ppl.
# ---------------------------------------------------------------------------

log_sum_exp = logsumexp
"""Old alias of :func:`torch.logsumexp`, kept because Pyro still exports it."""

torch_jit_script_if_tracing = getattr(torch.jit, "script_if_tracing", torch.jit.script)
"""``torch.jit.script_if_tracing`` (compile lazily only when tracing)."""

_T = TypeVar("_T")


@contextmanager
def ignore_jit_warnings(filter: list | None = None) -> Iterator[None]:
    """Silence ``torch.jit.TracerWarning`` (or the given filters) inside a block.

    ``filter`` is a list whose items are a message regex (of a ``TracerWarning``), a
    ``(message_regex, category)`` pair (Pyro's form) or a warning category.
    Defined here, at the distributions layer, so distributions can use it;
    ``ppl.util`` offers the same context manager for higher layers.

    Example:
        >>> with ignore_jit_warnings():
        ...     warnings.warn("x", torch.jit.TracerWarning)
        >>> with ignore_jit_warnings([("Iterating over", RuntimeWarning)]):
        ...     warnings.warn("Iterating over a tensor", RuntimeWarning)
    """
    with warnings.catch_warnings():
        if filter is None:
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        else:
            for item in filter:
                if isinstance(item, tuple):  # (message regex, category), Pyro's order
                    message, category = item
                    warnings.filterwarnings("ignore", category=category, message=message)
                elif isinstance(item, str):
                    warnings.filterwarnings(
                        "ignore", category=torch.jit.TracerWarning, message=item
                    )
                else:
                    warnings.filterwarnings("ignore", category=item)
        yield


def copy_docs_from(source_class: type, full_text: bool = False) -> Callable[[_T], _T]:
    """Class decorator: give undocumented public members the docs of ``source_class``'s.

    By default a missing docstring becomes a pointer ``"See :meth:`mod.Class.name`"``;
    with ``full_text=True`` (or when the source doc itself is a pointer) the source
    text is used as is.

    Example:
        >>> class Base:
        ...     def area(self):
        ...         "The area."
        >>> @copy_docs_from(Base)
        ... class Square(Base):
        ...     def area(self):
        ...         return 1.0
        >>> Square.area.__doc__.startswith("See :meth:")
        True
    """

    def decorate(cls: Any) -> Any:
        for name in dir(cls):
            if name.startswith("_"):
                continue
            attr = getattr(cls, name)
            target = getattr(attr, "__func__", attr)
            doc = getattr(getattr(source_class, name, None), "__doc__", None)
            if not doc or getattr(target, "__doc__", None):
                continue
            if not (full_text or doc.startswith("See ")):
                doc = f"See :meth:`{source_class.__module__}.{source_class.__name__}.{name}`"
            if isinstance(target, property):
                setattr(cls, name, property(target.fget, target.fset, target.fdel, doc))
            else:
                try:
                    target.__doc__ = doc
                except (AttributeError, TypeError):
                    pass
        return cls

    return decorate


def weakmethod(fn: Callable[..., Any]) -> Any:
    """Decorator binding a method through a weak reference to ``self``.

    ``obj.method`` then returns a ``functools.partial`` holding only a weakref, so
    storing it on ``obj`` (e.g. as a callback) creates no reference cycle. Calling it
    after ``obj`` was collected raises ``AttributeError``.

    Example:
        >>> class A:
        ...     @weakmethod
        ...     def f(self, x):
        ...         return x + 1
        >>> a = A()
        >>> a.f(1)
        2
    """

    def call(ref: Any, *args: Any, **kwargs: Any) -> Any:
        obj = ref()
        if obj is None:
            raise AttributeError(f"self was garbage collected when calling self.{fn.__name__}")
        return fn(obj, *args, **kwargs)

    def getter(self: Any) -> Any:
        return functools.partial(call, weakref.ref(self))

    def setter(self: Any, new: Any) -> None:
        ok = (
            isinstance(new, functools.partial)
            and new.func is call
            and len(new.args) == 1
            and new.args[0] is weakref.ref(self)
        )
        if not ok:
            raise AttributeError(f"cannot overwrite weakmethod {fn.__name__}")

    return property(getter, setter, doc=fn.__doc__)


class _TensorMapMemo(dict):
    """A ``copy.deepcopy`` memo that maps each tensor met through ``fn`` instead of copying."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor],
                 module_fn: Callable[[torch.nn.Module], Any] | None = None) -> None:
        super().__init__()
        self._fn = fn
        self._module_fn = module_fn

    def get(self, key: Any, default: Any = None) -> Any:
        found = super().get(key, default)
        if found is not default:
            return found
        # deepcopy asks the memo with id(obj); recover obj to decide what to do with it.
        obj = ctypes.cast(key, ctypes.py_object).value
        if isinstance(obj, torch.Tensor):
            found = self[key] = self._fn(obj)
        elif self._module_fn is not None and isinstance(obj, torch.nn.Module):
            self._module_fn(obj)
        return found


def detach(obj: _T) -> _T:
    """A deep copy of ``obj`` whose tensors are ``detach()``-ed views (no data copied).

    Example:
        >>> x = torch.ones(2, requires_grad=True)
        >>> detach({"x": x})["x"].requires_grad
        False
    """
    return copy.deepcopy(obj, _TensorMapMemo(lambda t: t.detach()))


def deep_to(obj: _T, *args: Any, **kwargs: Any) -> _T:
    """A deep copy of ``obj`` with ``.to(*args, **kwargs)`` applied to every tensor.

    ``nn.Module`` objects are first moved in place (torch's ``Module.to``), then copied.

    Example:
        >>> deep_to([torch.ones(1)], torch.float64)[0].dtype
        torch.float64
    """
    memo = _TensorMapMemo(lambda t: t.to(*args, **kwargs), lambda m: m.to(*args, **kwargs))
    return copy.deepcopy(obj, memo)


def _is_int_scalar(x: Any, value: int) -> bool:
    if isinstance(x, numbers.Number):
        return x == value
    if isinstance(x, torch.Tensor) and not torch._C._get_tracing_state():
        return x.dtype == torch.int64 and x.dim() == 0 and x.item() == value
    return False


def is_identically_zero(x: Any) -> bool:
    """True for the number 0 (or a 0-dim int64 tensor holding 0); False for other tensors.

    Example:
        >>> is_identically_zero(0), is_identically_zero(torch.tensor(0.0))
        (True, False)
    """
    return _is_int_scalar(x, 0)


def is_identically_one(x: Any) -> bool:
    """True for the number 1 (or a 0-dim int64 tensor holding 1); False for other tensors.

    Example:
        >>> is_identically_one(1.0), is_identically_one(torch.ones(()))
        (True, False)
    """
    return _is_int_scalar(x, 1)


def gather(value: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
    """Gather ``value`` at ``index`` along ``dim`` after broadcasting the two.

    The result has size 1 along ``dim``.

    Example:
        >>> gather(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1], [0]]), -1)
        tensor([[2.],
                [3.]])
    """
    value, index = broadcast_all(value, index)
    zero = torch.zeros(1, dtype=torch.long, device=index.device)
    return value.gather(dim, index.index_select(dim, zero))


def _sum_dims(value: Any, dim: Any, leftmost: bool) -> Any:
    if isinstance(value, numbers.Number):
        return value
    if dim < 0:
        dim += value.dim()
    if dim == 0:
        return value
    if dim >= value.dim():
        return value.sum()
    dim = int(dim)
    if leftmost:
        return value.reshape((-1,) + value.shape[dim:]).sum(0)
    return value.reshape(value.shape[:-dim] + (-1,)).sum(-1)


def sum_rightmost(value: Any, dim: Any) -> Any:
    """Sum out the ``dim`` rightmost dims (``dim < 0`` keeps ``-dim`` leftmost dims).

    ``dim=0`` is the identity and ``dim=float("inf")`` sums everything; numbers pass
    through unchanged.

    Example:
        >>> sum_rightmost(torch.ones(2, 3, 4), -1).shape
        torch.Size([2])
    """
    return _sum_dims(value, dim, leftmost=False)


def sum_leftmost(value: Any, dim: Any) -> Any:
    """Sum out the ``dim`` leftmost dims (``dim < 0`` keeps ``-dim`` rightmost dims).

    Example:
        >>> sum_leftmost(torch.ones(2, 3, 4), 1).shape
        torch.Size([3, 4])
    """
    return _sum_dims(value, dim, leftmost=True)


def scale_and_mask(tensor: Any, scale: Any = 1.0, mask: Any = None) -> Any:
    """``tensor * scale``, zeroed where ``mask`` is False; skips the ops that are no-ops.

    ``tensor`` may be the number 0 (returned unchanged); ``mask`` may be ``None``,
    a bool or a bool tensor.

    Example:
        >>> scale_and_mask(torch.ones(2), 3.0, torch.tensor([True, False]))
        tensor([3., 0.])
    """
    if is_identically_zero(tensor) or (mask is None and is_identically_one(scale)):
        return tensor
    if mask is None or mask is True:
        return tensor * scale
    if mask is False:
        return torch.zeros_like(tensor)
    return torch.where(mask, tensor * scale, tensor.new_zeros(()))


def scalar_like(prototype: torch.Tensor, fill_value: Any) -> torch.Tensor:
    """A 0-dim tensor holding ``fill_value`` with ``prototype``'s dtype and device.

    Example:
        >>> scalar_like(torch.zeros(3, dtype=torch.float64), 2)
        tensor(2., dtype=torch.float64)
    """
    return torch.tensor(fill_value, dtype=prototype.dtype, device=prototype.device)


def eye_like(value: torch.Tensor, m: int, n: int | None = None) -> torch.Tensor:
    """An ``m x n`` identity matrix (``n`` defaults to ``m``) on ``value``'s dtype/device.

    Example:
        >>> eye_like(torch.zeros(()), 2, 3)
        tensor([[1., 0., 0.],
                [0., 1., 0.]])
    """
    return torch.eye(m, m if n is None else n, dtype=value.dtype, device=value.device)
