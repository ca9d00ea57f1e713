"""``Coregionalize``: a low-rank-plus-diagonal kernel over (soft) output indices."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import Parameter

from ..parameterized import positive_param
from .kernel import Kernel

__all__ = ["Coregionalize"]


class Coregionalize(Kernel):
    """``k(x, z) = x^T (W W^T + diag(d)) z`` for one-hot (or weighted) task vectors.

    Multiplied with a kernel of the other inputs, it couples several outputs of a
    multi-output GP (intrinsic coregionalization model).

    Args:
        input_dim: number of tasks (columns of the task encoding).
        rank: columns of ``W`` (default ``input_dim``).
        components: initial ``W`` of shape ``(input_dim, rank)`` (default random).
        diagonal: initial positive ``d`` of shape ``(input_dim,)`` (default 0.5).
        active_dims: columns of the input holding the task encoding.

    Raises:
        ValueError: ``components`` or ``diagonal`` has the wrong shape.

    Example:
        >>> import torch
        >>> k = Coregionalize(2, components=torch.eye(2), diagonal=torch.ones(2))
        >>> k(torch.eye(2)).tolist()
        [[2.0, 0.0], [0.0, 2.0]]
    """

    diagonal: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        rank: int | None = None,
        components: torch.Tensor | None = None,
        diagonal: torch.Tensor | None = None,
        active_dims: Sequence[int] | None = None,
    ) -> None:
        super().__init__(input_dim, active_dims)
        if components is None:
            rank = input_dim if rank is None else rank
            components = torch.randn(input_dim, rank) * (0.5 / rank) ** 0.5
        elif components.shape[:1] != (input_dim,) or components.dim() != 2:
            raise ValueError(
                f"Coregionalize: components must have shape ({input_dim}, rank), got "
                f"{tuple(components.shape)}"
            )
        self.components = Parameter(components)
        diagonal = components.new_full((input_dim,), 0.5) if diagonal is None else diagonal
        if diagonal.shape != (input_dim,):
            raise ValueError(
                f"Coregionalize: diagonal must have shape ({input_dim},), got "
                f"{tuple(diagonal.shape)}"
            )
        self.diagonal = positive_param(diagonal)  # type: ignore[assignment]

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        X = self._slice_input(X)
        W = self.components
        XW = X @ W
        if diag:
            return (XW * XW).sum(-1) + (X * X * self.diagonal).sum(-1)
        if Z is None:
            Z, ZW = X, XW
        else:
            Z = self._slice_input(Z)
            ZW = Z @ W
        return XW @ ZW.T + (X * self.diagonal) @ Z.T
