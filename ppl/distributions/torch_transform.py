"""Transforms that are also ``nn.Module`` s, so their parameters can be learned.

A normalizing flow is a :class:`torch.distributions.Transform` with trainable weights.
Mixing in :class:`torch.nn.Module` lets ``ppl.module(name, flow)`` (or a ``PyroModule``
attribute) put those weights in the ParamStore and lets ``.to(device)``,
``state_dict()`` and friends work as for any network.

Both classes hash by identity: torch's ``Transform`` defines ``__eq__`` (which drops the
inherited ``__hash__``), while ``nn.Module`` machinery (e.g. ``named_modules``) keeps
modules in sets.

Example:
    >>> import torch
    >>> class Shift(TransformModule):
    ...     domain = codomain = torch.distributions.constraints.real
    ...     bijective = True
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.b = torch.nn.Parameter(torch.ones(()))
    ...     def _call(self, x):
    ...         return x + self.b
    ...     def _inverse(self, y):
    ...         return y - self.b
    ...     def log_abs_det_jacobian(self, x, y):
    ...         return torch.zeros_like(x)
    >>> [n for n, _ in Shift().named_parameters()]
    ['b']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.distributions import TransformedDistribution
from torch.distributions.transforms import ComposeTransform, Transform

__all__ = ["ComposeTransformModule", "TransformModule"]


def _transform_clear_cache(self: Transform) -> None:
    """Forget the cached ``(x, y)`` pair (Pyro's ``Transform.clear_cache``)."""
    if self._cache_size == 1:
        self._cached_x_y = None, None


def _transformed_distribution_clear_cache(self: TransformedDistribution) -> None:
    """Forget the cached pairs of every transform (Pyro's ``clear_cache``)."""
    for t in self.transforms:
        t.clear_cache()  # type: ignore[attr-defined]


# A flow caches its last (x, y) so that scoring its own sample is cheap; when the same
# data tensor is scored again after an optimizer step the cache must be cleared. Pyro
# adds these two methods to torch's classes; so does ppl (only where torch lacks them).
if not hasattr(Transform, "clear_cache"):
    Transform.clear_cache = _transform_clear_cache  # type: ignore[attr-defined]
if not hasattr(TransformedDistribution, "clear_cache"):
    TransformedDistribution.clear_cache = _transformed_distribution_clear_cache  # type: ignore[attr-defined]


class TransformModule(Transform, torch.nn.Module):
    """Base class of transforms with learnable parameters (Pyro's ``TransformModule``).

    Subclass it instead of ``Transform`` whenever the transform owns ``nn.Parameter`` s
    or sub-networks; it is hashable by identity.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def __hash__(self) -> int:
        return object.__hash__(self)


class ComposeTransformModule(ComposeTransform, torch.nn.ModuleList):
    """A :class:`ComposeTransform` whose ``nn.Module`` parts are registered children.

    Args:
        parts: the transforms, applied left to right.
        cache_size: 0 (no cache) or 1 (remember the last ``x -> y`` pair).

    Example:
        >>> from ppl.distributions.transforms import ExpTransform
        >>> flow = ComposeTransformModule([ExpTransform()])
        >>> flow(torch.zeros(2))
        tensor([1., 1.])
    """

    def __init__(self, parts: Sequence[Transform], cache_size: int = 0) -> None:
        super().__init__(list(parts), cache_size=cache_size)
        for part in parts:
            if isinstance(part, torch.nn.Module):
                self.append(part)

    def __hash__(self) -> int:
        return object.__hash__(self)

    def clear_cache(self) -> None:
        """Forget the cached pairs of this composition and of each part."""
        _transform_clear_cache(self)
        for part in self.parts:
            part.clear_cache()  # type: ignore[attr-defined]

    def with_cache(self, cache_size: int = 1) -> ComposeTransformModule:
        """The same parts with the given cache size (``self`` if it already has it)."""
        if cache_size == self._cache_size:
            return self
        return ComposeTransformModule(self.parts, cache_size=cache_size)
