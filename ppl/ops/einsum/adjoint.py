"""Marking einsum operands for a backward (decoding) pass: :func:`require_backward`.

After ``require_backward(x)`` and ``r, = einsum(..., x, ..., backend=<an adjoint
backend>)``, calling ``r._pyro_backward()`` sets ``x._pyro_backward_result``. This is
the adjoint analogue of ``x.requires_grad_()`` followed by ``backward()``.

Example:
    >>> import torch
    >>> from ppl.ops.contract import einsum
    >>> x = torch.tensor([0.0, 2.0, 1.0])  # log-weights of one variable 'a'
    >>> require_backward(x)
    >>> (total,) = einsum("a->", x, backend="torch_map")
    >>> total._pyro_backward()
    >>> x._pyro_backward_result  # the index of the maximiser, one row per summed dim
    tensor([1])
"""

from __future__ import annotations

import weakref

import torch

__all__ = ["SAMPLE_SYMBOL", "require_backward"]

SAMPLE_SYMBOL = " "
"""The name of the leading dim of a decoded result (one row per decoded variable)."""


class _Leaf:
    """The marker :func:`require_backward` leaves on a tensor (a weak reference to it)."""

    is_leaf = True

    def __init__(self, target: torch.Tensor) -> None:
        self.target = weakref.ref(target)

    def __call__(self) -> None:  # a leaf has nothing upstream to propagate to
        return None


def require_backward(tensor: torch.Tensor) -> None:
    """Ask the next adjoint ``einsum`` over ``tensor`` to leave a backward result on it."""
    tensor._pyro_backward = _Leaf(tensor)  # type: ignore[attr-defined]


def wants_backward(tensor: torch.Tensor) -> bool:
    """Whether :func:`require_backward` marked ``tensor``."""
    return isinstance(getattr(tensor, "_pyro_backward", None), _Leaf)
