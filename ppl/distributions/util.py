"""Small helpers private to :mod:`ppl.distributions` (shapes, constraint comparison).

They work on any ``torch.distributions.Distribution``, wrapped or raw, so the extra
distributions can hold components built by plain torch code.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from ppl.ops.tensor import broadcast_shape

__all__ = [
    "EMPTY_SHAPE",
    "SizeLike",
    "as_size",
    "expand_to",
    "constraints_equal",
    "checked_broadcast",
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
