"""Advanced indexing that broadcasts batch and enumeration dims (Pyro's ``pyro.ops.indexing``).

Enumerated models index parameter tables with tensors whose shapes carry enumeration dims
on the left (``probs[x_prev, x_curr]`` where ``x_prev`` has shape ``(3, 1, 1)``).  Plain
torch advanced indexing puts the broadcast index shape where the first indexed dim was and
does not broadcast against the tensor's own leading batch dims, so the result shape depends
on the argument pattern.  :class:`Vindex` gives one rule instead:

* With a leading ``...``, the arguments index the *rightmost* dims of the tensor; the dims
  to the left of them are batch dims that broadcast, right-aligned, with every index tensor.
* Without ``...``, the arguments index the leftmost dims and the remaining dims are kept.
* The result shape is ``broadcast(batch dims, index shapes) + kept (sliced) dims``: slices
  keep their dims, but always on the right.

:class:`Index` only flattens nested tuples of index arguments (so helper code can build
``(..., (i, j))`` pieces) and then applies ordinary indexing.
"""

from __future__ import annotations

from typing import Any

import torch

from ppl.ops.tensor import broadcast_shape

__all__ = ["Index", "Vindex", "index", "vindex"]


def _flatten(args: Any) -> tuple[Any, ...]:
    """Flatten nested tuples of index arguments; merge adjacent ``...`` into one."""
    if not isinstance(args, tuple):
        return (args,)
    flat: list[Any] = []
    for arg in args:
        for item in _flatten(arg):
            if item is Ellipsis and flat and flat[-1] is Ellipsis:
                continue
            flat.append(item)
    return tuple(flat)


def index(tensor: Any, args: Any) -> Any:
    """Index ``tensor`` with ``args`` after flattening nested tuples.

    Args:
        tensor: anything with ``__getitem__`` (usually a :class:`torch.Tensor`).
        args: an index argument or a (possibly nested) tuple of them.

    Returns:
        ``tensor[flattened_args]``.

    Example:
        >>> index(torch.arange(6).reshape(2, 3), ((1,), (Ellipsis, 2))).item()
        5
    """
    if not isinstance(args, tuple):
        return tensor[args]
    return tensor[_flatten(args)]


def _as_index_tensor(arg: Any, tensor: torch.Tensor, position: int) -> torch.Tensor:
    if isinstance(arg, bool) or (isinstance(arg, torch.Tensor) and arg.dtype == torch.bool):
        raise TypeError(
            f"Vindex: boolean index at position {position} is not supported; use integer indices"
        )
    if isinstance(arg, int):
        return torch.tensor(arg, dtype=torch.long, device=tensor.device)
    if isinstance(arg, torch.Tensor):
        if arg.is_floating_point() or arg.is_complex():
            raise TypeError(
                f"Vindex: index at position {position} must be an integer tensor, "
                f"got dtype {arg.dtype}"
            )
        return arg.to(device=tensor.device)
    raise TypeError(
        f"Vindex: index at position {position} must be an int, slice, Ellipsis or integer tensor, "
        f"got {type(arg).__name__}"
    )


def vindex(tensor: torch.Tensor, args: Any) -> torch.Tensor:
    """Vectorized advanced indexing with broadcasting batch dims (see the module notes).

    Args:
        tensor: the tensor to index, shape ``batch_shape + indexed_shape``.
        args: ints, slices and integer tensors, optionally led by ``...``; nested tuples are
            flattened as by :func:`index`.

    Returns:
        A tensor of shape ``broadcast(batch_shape, *index_shapes) + kept_shape``, where
        ``kept_shape`` lists the sizes of the sliced dims in order.

    Raises:
        ValueError: when there are more index arguments than tensor dims, or ``...`` is
            not the first argument.
        TypeError: for an argument that is not an int, slice, ``...`` or integer tensor.

    Example:
        >>> x = torch.arange(24).reshape(2, 3, 4)
        >>> i = torch.tensor([[0], [2]])  # shape (2, 1): broadcasts with batch dim 2
        >>> vindex(x, (Ellipsis, i, 1)).tolist()
        [[1, 13], [9, 21]]
        >>> vindex(x, (Ellipsis, i, 1)).shape
        torch.Size([2, 2])
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"Vindex: expected a torch.Tensor, got {type(tensor).__name__}")
    flat = _flatten(args)
    if flat and flat[0] is Ellipsis:
        indexed = flat[1:]
    else:
        indexed = flat + (slice(None),) * max(tensor.dim() - len(flat), 0)
    if any(arg is Ellipsis for arg in indexed):
        raise ValueError(
            f"Vindex: '...' may only appear first among the index arguments, got {flat}"
        )
    if any(arg is None for arg in indexed):
        raise TypeError(
            "Vindex: None (new axis) is not supported; unsqueeze the tensor or the indices instead"
        )
    if len(indexed) > tensor.dim():
        raise ValueError(
            f"Vindex: {len(indexed)} index arguments for a tensor of shape {tuple(tensor.shape)} "
            f"({tensor.dim()} dims)"
        )
    if not indexed:
        return tensor
    num_batch = tensor.dim() - len(indexed)
    batch_shape = tuple(tensor.shape[:num_batch])

    # Apply the slices with basic indexing first; their dims become "kept" dims.
    slices = tuple(a if isinstance(a, slice) else slice(None) for a in indexed)
    tensor = tensor[(Ellipsis,) + slices]
    kept_sizes = [tensor.size(num_batch + k) for k, a in enumerate(indexed) if isinstance(a, slice)]
    num_kept = len(kept_sizes)
    index_tensors = {
        k: _as_index_tensor(a, tensor, k) for k, a in enumerate(indexed) if not isinstance(a, slice)
    }
    lead_shape = broadcast_shape(batch_shape, *(t.shape for t in index_tensors.values()))

    def arange(size: int, dims_right: int) -> torch.Tensor:
        return torch.arange(size, device=tensor.device).reshape((size,) + (1,) * dims_right)

    full: list[torch.Tensor] = [
        arange(size, num_batch - 1 - j + num_kept) for j, size in enumerate(batch_shape)
    ]
    kept_position = 0
    for k, arg in enumerate(indexed):
        if isinstance(arg, slice):
            full.append(arange(kept_sizes[kept_position], num_kept - 1 - kept_position))
            kept_position += 1
        else:
            idx = index_tensors[k]
            full.append(idx.reshape(idx.shape + (1,) * num_kept))
    result = tensor[tuple(full)]
    expected = lead_shape + torch.Size(kept_sizes)
    if result.shape != expected:  # only when every index is a scalar and there are no dims
        result = result.expand(expected)
    return result


class Index:
    """``Index(x)[args]`` is :func:`index` ``(x, args)``: ordinary indexing of nested tuples.

    Example:
        >>> Index(torch.arange(4))[(Ellipsis, (1,))].item()
        1
    """

    def __init__(self, tensor: Any) -> None:
        self._tensor = tensor

    def __getitem__(self, args: Any) -> Any:
        return index(self._tensor, args)


class Vindex:
    """``Vindex(x)[args]`` is :func:`vindex` ``(x, args)``: broadcasting advanced indexing.

    Example:
        >>> probs = torch.rand(3, 3)
        >>> x_prev = torch.arange(3).reshape(3, 1, 1)
        >>> Vindex(probs)[..., x_prev, :].shape
        torch.Size([3, 1, 1, 3])
    """

    def __init__(self, tensor: torch.Tensor) -> None:
        self._tensor = tensor

    def __getitem__(self, args: Any) -> torch.Tensor:
        return vindex(self._tensor, args)
