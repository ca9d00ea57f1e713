"""What a compiled graph depends on: the *layout* of a call, and its tensor inputs.

A graph is valid for one (model, guide, argument layout): the shapes, dtypes and
devices of the tensor arguments and the values of the others. Tensor arguments become
graph inputs, in the order :func:`tensor_inputs` lists them; containers of tensors are
not inputs (their contents would be frozen), so a call with one has no layout.

Example:
    >>> import torch
    >>> key = layout_key(len, len, (torch.zeros(2), 3), {})
    >>> key == layout_key(len, len, (torch.ones(2), 3), {})
    True
    >>> layout_key(len, len, ([torch.zeros(2)],), {}) is None
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["cuda_devices", "layout_key", "strides", "tensor_inputs", "with_tensor_inputs"]


def layout_key(model: Any, guide: Any, args: tuple, kwargs: dict) -> tuple | None:
    """A hashable key of what a compiled graph depends on, or None if not compilable."""
    parts: list[Any] = [id(model), id(guide)]
    for value in (*args, *(kwargs[k] for k in sorted(kwargs))):
        if isinstance(value, torch.Tensor):
            parts.append(("T", tuple(value.shape), value.dtype, value.device))
        elif isinstance(value, (tuple, list, dict, set, frozenset)):
            return None  # containers (of tensors, perhaps) are not inputs of the graph
        else:
            try:
                hash(value)
            except TypeError:
                return None
            parts.append(("C", type(value), value))
    parts.append(tuple(sorted(kwargs)))
    return tuple(parts)


def tensor_inputs(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """The tensor arguments, positional first, then keywords by name."""
    values = (*args, *(kwargs[k] for k in sorted(kwargs)))
    return [v for v in values if isinstance(v, torch.Tensor)]


def with_tensor_inputs(args: tuple, kwargs: dict, tensors: Iterable) -> tuple[tuple, dict]:
    """``args, kwargs`` with their tensors replaced, in :func:`tensor_inputs` order."""
    it = iter(tensors)
    new_args = tuple(next(it) if isinstance(a, torch.Tensor) else a for a in args)
    new_kwargs = {}
    for k in sorted(kwargs):
        v = kwargs[k]
        new_kwargs[k] = next(it) if isinstance(v, torch.Tensor) else v
    return new_args, new_kwargs


def strides(args: tuple, kwargs: dict) -> tuple[tuple[int, ...], ...]:
    """The strides of the tensor arguments (inductor bakes them into its kernels)."""
    return tuple(t.stride() for t in tensor_inputs(args, kwargs))


def cuda_devices(tensors: Iterable[torch.Tensor]) -> list[int]:
    """The CUDA device indices among ``tensors`` (for ``torch.random.fork_rng``)."""
    return sorted({t.device.index or 0 for t in tensors if t.is_cuda})
