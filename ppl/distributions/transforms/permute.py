"""``Permute``: reorder the coordinates of one event dimension (volume preserving)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.distributions.transforms import Transform
from torch.distributions.utils import lazy_property

from ppl.distributions import constraints

__all__ = ["Permute", "permute"]


class Permute(Transform):
    """``y = x.index_select(dim, permutation)`` (Pyro's ``Permute``).

    Placed between autoregressive or coupling flows so each sees the coordinates in a
    new order. ``log|det J| = 0``.

    Args:
        permutation: a ``LongTensor`` permutation of ``range(size)``.
        dim: the (negative) event dim to permute; the transform's event dim is ``-dim``.
        cache_size: 0 or 1.

    Raises:
        ValueError: if ``dim`` is not negative.

    Example:
        >>> Permute(torch.tensor([2, 0, 1]))(torch.tensor([10.0, 11.0, 12.0]))
        tensor([12., 10., 11.])
    """

    bijective = True
    volume_preserving = True

    def __init__(self, permutation: torch.Tensor, *, dim: int = -1, cache_size: int = 1) -> None:
        super().__init__(cache_size=cache_size)
        if dim >= 0:
            raise ValueError(f"Permute: 'dim' keyword argument must be negative, got {dim}")
        self.permutation = permutation
        self.dim = dim

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, -self.dim)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, -self.dim)

    @lazy_property
    def inv_permutation(self) -> torch.Tensor:
        """The permutation that undoes ``permutation``."""
        perm = self.permutation
        inv = torch.empty_like(perm, dtype=torch.long)
        inv[perm] = torch.arange(perm.size(0), dtype=torch.long, device=perm.device)
        return inv

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(self.dim, self.permutation)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y.index_select(self.dim, self.inv_permutation)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Zeros of the batch shape."""
        return x.new_zeros(x.shape[: x.dim() - self.event_dim])

    def with_cache(self, cache_size: int = 1) -> Permute:
        if self._cache_size == cache_size:
            return self
        return Permute(self.permutation, dim=self.dim, cache_size=cache_size)


def permute(
    input_dim: int | Sequence[int], permutation: torch.Tensor | None = None, dim: int = -1
) -> Permute:
    """A :class:`Permute` of ``dim`` (a random permutation by default).

    Args:
        input_dim: the event size, or the event shape (of length ``-dim``) when ``dim < -1``.
        permutation: the permutation (default ``torch.randperm``).
        dim: the negative event dim to permute.

    Raises:
        ValueError: if an event shape's length is not ``-dim``.
    """
    if dim < -1 or not isinstance(input_dim, int):
        shape = [input_dim] if isinstance(input_dim, int) else list(input_dim)
        if len(shape) != -dim:
            raise ValueError(
                f"permute: event shape {input_dim} must have same length as event_dim {-dim}"
            )
        size = shape[dim]
    else:
        size = input_dim
    if permutation is None:
        permutation = torch.randperm(size)
    return Permute(permutation, dim=dim)
