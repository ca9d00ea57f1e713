"""Plain feed-forward networks that emit several parameter tensors (``pyro.nn.dense_nn``).

Used as hypernetworks by coupling and conditional flows. Pure torch (layer 0).

Example:
    >>> net = DenseNN(2, [8], param_dims=[1, 3])
    >>> a, b = net(torch.randn(5, 2))
    >>> tuple(a.shape), tuple(b.shape)
    ((5, 1), (5, 3))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

__all__ = ["ConditionalDenseNN", "DenseNN"]

NNOutput = torch.Tensor | tuple[torch.Tensor, ...]
# the default activation: one shared, stateless instance (as a default argument would be)
_RELU = nn.ReLU()


class ConditionalDenseNN(nn.Module):
    """MLP on ``cat([context, x])`` whose output is split into parameters.

    Args:
        input_dim: size of ``x``.
        context_dim: size of the context.
        hidden_dims: hidden layer sizes.
        param_dims: sizes of the returned parameters; each is ``(..., p)`` (also for
            ``p == 1``); a single entry returns one tensor.
        nonlinearity: activation between layers (none after the last).

    Example:
        >>> net = ConditionalDenseNN(3, 2, [8], param_dims=[1, 3])
        >>> a, b = net(torch.randn(4, 3), context=torch.randn(2))
        >>> tuple(a.shape), tuple(b.shape)
        ((4, 1), (4, 3))
    """

    def __init__(
        self,
        input_dim: int,
        context_dim: int,
        hidden_dims: Sequence[int],
        param_dims: Sequence[int] = (1, 1),
        nonlinearity: nn.Module = _RELU,
    ) -> None:
        super().__init__()
        hidden_dims = list(hidden_dims)
        if not hidden_dims:
            raise ValueError(f"{type(self).__name__}: hidden_dims must not be empty")
        self.input_dim = input_dim
        self.context_dim = context_dim
        self.hidden_dims = hidden_dims
        self.param_dims = list(param_dims)
        self.count_params = len(self.param_dims)
        self.output_multiplier = sum(self.param_dims)
        bounds = [0]
        for p in self.param_dims:
            bounds.append(bounds[-1] + p)
        self.param_slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        sizes = [input_dim + context_dim, *hidden_dims, self.output_multiplier]
        self.layers = nn.ModuleList(
            nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)
        )
        self.f = nonlinearity

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> NNOutput:
        """Parameters for input ``x`` and ``context`` (broadcast over ``x``'s batch)."""
        context = context.expand(x.shape[:-1] + context.shape[-1:])
        return self._forward(torch.cat([context, x], dim=-1))

    def _forward(self, x: torch.Tensor) -> NNOutput:
        h = x
        for layer in self.layers[:-1]:
            h = self.f(layer(h))
        h = self.layers[-1](h)
        if self.output_multiplier == 1 or self.count_params == 1:
            return h
        return tuple(h[..., s] for s in self.param_slices)


class DenseNN(ConditionalDenseNN):
    """MLP on ``x`` alone whose output is split into parameters (see the conditional one).

    Args:
        input_dim: size of the input.
        hidden_dims: hidden layer sizes.
        param_dims: sizes of the returned parameters.
        nonlinearity: activation between layers.

    Example:
        >>> tuple(DenseNN(2, [4], param_dims=[3])(torch.zeros(2)).shape)
        (3,)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dims: Sequence[int],
        param_dims: Sequence[int] = (1, 1),
        nonlinearity: nn.Module = _RELU,
    ) -> None:
        super().__init__(
            input_dim, 0, hidden_dims, param_dims=param_dims, nonlinearity=nonlinearity
        )

    def forward(self, x: torch.Tensor) -> NNOutput:  # type: ignore[override]
        """Parameters for input ``x``."""
        return self._forward(x)
