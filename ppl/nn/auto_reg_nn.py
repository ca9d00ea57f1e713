"""MADE-style autoregressive networks (Pyro's ``pyro.nn.auto_reg_nn``).

Design notes
------------
Each input coordinate ``i`` gets a *degree* ``1 + rank of i in the permutation``.
Hidden units get degrees spread evenly over ``1 .. D-1`` (``0 .. D-1`` with a context,
whose inputs have degree 0 and may feed every unit). A weight from a unit of degree
``a`` to a hidden unit of degree ``b`` is kept iff ``b >= a``; to an output of degree
``c`` iff ``c > a``. Output ``i`` therefore depends only on inputs that come before
``i`` in the permutation, which makes the Jacobian of a flow built on it triangular
(after permuting).

This module is pure torch (layer 0): the flows in :mod:`ppl.distributions.transforms`
build on it.

Example:
    >>> arn = AutoRegressiveNN(3, [6], param_dims=[1, 1])
    >>> mean, log_scale = arn(torch.randn(5, 3))
    >>> tuple(mean.shape), tuple(log_scale.shape)
    ((5, 3), (5, 3))
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "AutoRegressiveNN",
    "ConditionalAutoRegressiveNN",
    "MaskedLinear",
    "create_mask",
    "sample_mask_indices",
]

NNOutput = torch.Tensor | tuple[torch.Tensor, ...]
# the default activation: one shared, stateless instance (as a default argument would be)
_RELU = nn.ReLU()


def sample_mask_indices(input_dim: int, hidden_dim: int, simple: bool = True) -> torch.Tensor:
    """Degrees of ``hidden_dim`` hidden units, spread evenly over ``[1, input_dim]``.

    Args:
        input_dim: the largest degree.
        hidden_dim: how many units.
        simple: round each evenly spaced value to the nearest integer; otherwise round
            it up with probability equal to its fractional part.

    Example:
        >>> sample_mask_indices(3, 5)
        tensor([1., 2., 2., 2., 3.])
    """
    grid = torch.linspace(1, input_dim, steps=hidden_dim)
    if simple:
        return torch.round(grid)
    low = grid.floor()
    return low + torch.bernoulli(grid - low)


def create_mask(
    input_dim: int,
    context_dim: int,
    hidden_dims: Sequence[int],
    permutation: torch.Tensor,
    output_dim_multiplier: int,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """MADE masks of a (conditional) autoregressive network.

    Args:
        input_dim: size ``D`` of the autoregressive input.
        context_dim: size of the context (its inputs come first and have degree 0).
        hidden_dims: sizes of the hidden layers.
        permutation: ``(D,)`` order of the inputs in the factorization.
        output_dim_multiplier: how many outputs each input coordinate has.

    Returns:
        ``(masks, mask_skip)``: one ``(out, in)`` 0/1 mask per linear layer (input ->
        hidden ..., last hidden -> output) and the mask of a direct input -> output layer.
    """
    dtype = torch.get_default_dtype()
    degree = torch.empty(permutation.shape, dtype=dtype)
    degree[permutation] = torch.arange(input_dim, dtype=dtype)
    in_deg = torch.cat((torch.zeros(context_dim), degree + 1))
    if context_dim > 0:
        hid_deg = [sample_mask_indices(input_dim, h) - 1 for h in hidden_dims]
    else:
        hid_deg = [sample_mask_indices(input_dim - 1, h) for h in hidden_dims]
    out_deg = (degree + 1).repeat(output_dim_multiplier)

    def connect(to: torch.Tensor, frm: torch.Tensor, strict: bool) -> torch.Tensor:
        keep = to[:, None] > frm[None, :] if strict else to[:, None] >= frm[None, :]
        return keep.to(dtype)

    masks = [connect(hid_deg[0], in_deg, strict=False)]
    masks += [connect(hid_deg[i], hid_deg[i - 1], strict=False) for i in range(1, len(hid_deg))]
    masks.append(connect(out_deg, hid_deg[-1], strict=True))
    return masks, connect(out_deg, in_deg, strict=True)


class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 ``mask`` (a buffer).

    Args:
        in_features: input size.
        out_features: output size.
        mask: ``(out_features, in_features)`` mask.
        bias: whether to add a (never masked) bias.

    Example:
        >>> layer = MaskedLinear(2, 2, torch.eye(2))  # output i reads input i only
        >>> bool(layer(torch.tensor([5.0, 0.0]))[1] == layer.bias[1])
        True
    """

    mask: torch.Tensor

    def __init__(
        self, in_features: int, out_features: int, mask: torch.Tensor, bias: bool = True
    ) -> None:
        super().__init__(in_features, out_features, bias)
        if mask.shape != (out_features, in_features):
            raise ValueError(
                f"MaskedLinear: mask must have shape ({out_features}, {in_features}), "
                f"got {tuple(mask.shape)}"
            )
        self.register_buffer("mask", mask.detach().clone())

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.linear(input, self.weight * self.mask, self.bias)


class ConditionalAutoRegressiveNN(nn.Module):
    """MADE network whose outputs also depend on a context (Paige & Wood 2016, sec. 3.3).

    Args:
        input_dim: size ``D`` of the autoregressive input.
        context_dim: size of the context vector.
        hidden_dims: hidden layer sizes, each at least ``input_dim``.
        param_dims: how many outputs of size ``D`` each returned parameter has; a
            parameter with ``p == 1`` has shape ``(..., D)``, otherwise ``(..., p, D)``
            (all-ones: each is ``(..., D)``; a single entry: one tensor).
        permutation: order of the inputs in the factorization (random by default).
        skip_connections: add a masked linear map straight from inputs to outputs.
        nonlinearity: activation between layers (none after the last).

    Raises:
        ValueError: if a hidden layer is smaller than ``input_dim``.

    Example:
        >>> arn = ConditionalAutoRegressiveNN(4, 2, [8], param_dims=[1, 3])
        >>> a, b = arn(torch.randn(5, 4), context=torch.randn(2))
        >>> tuple(a.shape), tuple(b.shape)
        ((5, 1, 4), (5, 3, 4))
    """

    permutation: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        context_dim: int,
        hidden_dims: Sequence[int],
        param_dims: Sequence[int] = (1, 1),
        permutation: torch.Tensor | None = None,
        skip_connections: bool = False,
        nonlinearity: nn.Module = _RELU,
    ) -> None:
        super().__init__()
        if input_dim == 1:
            warnings.warn(
                f"{type(self).__name__}: input_dim = 1 has no autoregressive structure; "
                "an affine transform does the same job",
                stacklevel=2,
            )
        hidden_dims = list(hidden_dims)
        if not hidden_dims:
            raise ValueError(f"{type(self).__name__}: hidden_dims must not be empty")
        for h in hidden_dims:
            if h < input_dim:
                raise ValueError(
                    f"{type(self).__name__}: every hidden dimension must be >= input_dim "
                    f"= {input_dim} (else some outputs cannot be connected), got {hidden_dims}"
                )
        self.input_dim = input_dim
        self.context_dim = context_dim
        self.hidden_dims = hidden_dims
        self.param_dims = list(param_dims)
        self.count_params = len(self.param_dims)
        self.output_multiplier = sum(self.param_dims)
        self.all_ones = all(p == 1 for p in self.param_dims)
        bounds = [0]
        for p in self.param_dims:
            bounds.append(bounds[-1] + p)
        self.param_slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]

        if permutation is None:
            perm = torch.randperm(input_dim, device="cpu").to(torch.empty(()).device)
        else:
            perm = permutation.to(torch.int64)
        self.register_buffer("permutation", perm)

        self.masks, self.mask_skip = create_mask(
            input_dim, context_dim, hidden_dims, self.permutation, self.output_multiplier
        )
        sizes = [input_dim + context_dim, *hidden_dims, input_dim * self.output_multiplier]
        self.layers = nn.ModuleList(
            MaskedLinear(sizes[i], sizes[i + 1], self.masks[i]) for i in range(len(sizes) - 1)
        )
        self.skip_layer: MaskedLinear | None = None
        if skip_connections:
            self.skip_layer = MaskedLinear(
                input_dim + context_dim, sizes[-1], self.mask_skip, bias=False
            )
        self.f = nonlinearity

    def get_permutation(self) -> torch.Tensor:
        """The order of the inputs in the autoregressive factorization."""
        return self.permutation

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> NNOutput:
        """Outputs for input ``x`` (``(..., D)``) and ``context`` (broadcast over ``x``)."""
        if context is None:
            context = getattr(self, "context", None)
            if context is None:
                raise ValueError(f"{type(self).__name__}: a context tensor is required")
        context = context.expand(x.shape[:-1] + context.shape[-1:])
        return self._forward(torch.cat([context, x], dim=-1))

    def _forward(self, x: torch.Tensor) -> NNOutput:
        h = x
        for layer in self.layers[:-1]:
            h = self.f(layer(h))
        h = self.layers[-1](h)
        if self.skip_layer is not None:
            h = h + self.skip_layer(x)
        if self.output_multiplier == 1:
            return h
        h = h.reshape(x.shape[:-1] + (self.output_multiplier, self.input_dim))
        if self.count_params == 1:
            return h
        if self.all_ones:
            return torch.unbind(h, dim=-2)
        return tuple(h[..., s, :] for s in self.param_slices)


class AutoRegressiveNN(ConditionalAutoRegressiveNN):
    """MADE network (Germain et al. 2015) without a context; see the conditional version.

    Args:
        input_dim: size ``D`` of the input.
        hidden_dims: hidden layer sizes, each at least ``input_dim``.
        param_dims: output parameter multiplicities (default two ``(..., D)`` outputs).
        permutation: order of the inputs in the factorization (random by default).
        skip_connections: add a masked linear map straight from inputs to outputs.
        nonlinearity: activation between layers.

    Example:
        >>> arn = AutoRegressiveNN(3, [9], param_dims=[2], permutation=torch.arange(3))
        >>> tuple(arn(torch.zeros(3)).shape)
        (2, 3)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dims: Sequence[int],
        param_dims: Sequence[int] = (1, 1),
        permutation: torch.Tensor | None = None,
        skip_connections: bool = False,
        nonlinearity: nn.Module = _RELU,
    ) -> None:
        super().__init__(
            input_dim,
            0,
            hidden_dims,
            param_dims=param_dims,
            permutation=permutation,
            skip_connections=skip_connections,
            nonlinearity=nonlinearity,
        )

    def forward(self, x: torch.Tensor) -> NNOutput:  # type: ignore[override]
        """Outputs for input ``x`` of shape ``(..., D)``."""
        return self._forward(x)
