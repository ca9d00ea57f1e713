"""Small pure tensor helpers used across layers.

They live at the bottom of the import graph (``ops`` imports only torch), so that
distributions, the effect-handler runtime and the inference code share one
definition of "sum the rightmost dims" or "apply a site's scale and mask".
"""

from __future__ import annotations

from numbers import Number

import torch

Scale = float | torch.Tensor


def sum_rightmost(value: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum out the ``dim`` rightmost dimensions of ``value``.

    ``dim`` may be negative, meaning "keep only ``-dim`` leftmost dims".

    Example:
        >>> sum_rightmost(torch.ones(2, 3, 4), 2).shape
        torch.Size([2])
    """
    if not isinstance(value, torch.Tensor):
        return value
    if dim < 0:
        dim += value.dim()
    if dim <= 0:
        return value
    return value.reshape(value.shape[: value.dim() - dim] + (-1,)).sum(-1)


def total(value: torch.Tensor) -> torch.Tensor:
    """``value.sum()``, skipped for a 0-dim tensor (no extra op in the autograd graph).

    Example:
        >>> x = torch.tensor(2.0)
        >>> total(x) is x, float(total(torch.ones(3)))
        (True, 3.0)
    """
    return value if value.dim() == 0 else value.sum()


def is_identically_one(x: object) -> bool:
    """True when ``x`` is the Python number 1 (tensors are never checked, to avoid syncs)."""
    return isinstance(x, Number) and x == 1


def is_identically_zero(x: object) -> bool:
    """True when ``x`` is the Python number 0 (tensors are never checked, to avoid syncs)."""
    return isinstance(x, Number) and x == 0


def scale_and_mask(
    tensor: torch.Tensor, scale: Scale = 1.0, mask: torch.Tensor | bool | None = None
) -> torch.Tensor:
    """Multiply ``tensor`` by ``scale`` and zero it where ``mask`` is False.

    Masked entries become exactly zero even when ``tensor`` holds ``nan`` or ``inf``
    there, so a masked-out observation can never poison a loss.

    Example:
        >>> scale_and_mask(torch.tensor([1.0, float("nan")]), 2.0, torch.tensor([True, False]))
        tensor([2., 0.])
    """
    if mask is not None and mask is not True:
        if mask is False:
            return torch.zeros_like(tensor)
        tensor = torch.where(mask, tensor, tensor.new_zeros(()))
    if not is_identically_one(scale):
        tensor = tensor * scale
    return tensor


def broadcast_shape(*shapes: tuple[int, ...] | torch.Size, strict: bool = False) -> torch.Size:
    """Broadcast shapes like numpy; with ``strict`` a size-1 dim does not stretch.

    Raises:
        ValueError: if the shapes cannot be broadcast, naming both.

    Example:
        >>> broadcast_shape((3, 1), (1, 4))
        torch.Size([3, 4])
    """
    reversed_shape: list[int] = []
    for shape in shapes:
        for i, size in enumerate(reversed(shape)):
            if i >= len(reversed_shape):
                reversed_shape.append(size)
            elif reversed_shape[i] == 1 and not strict:
                reversed_shape[i] = size
            elif reversed_shape[i] != size and (size != 1 or strict):
                raise ValueError(
                    f"shape mismatch: objects cannot be broadcast to a single shape: "
                    f"{' vs '.join(str(tuple(s)) for s in shapes)}"
                )
    return torch.Size(reversed(reversed_shape))
