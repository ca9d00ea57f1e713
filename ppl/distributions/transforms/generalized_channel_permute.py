"""Generalized channel permutation (Glow's invertible 1x1 convolution, Kingma & Dhariwal 2018)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.distributions import Transform

from ppl.distributions import constraints
from ppl.distributions.conditional import ConditionalTransformModule
from ppl.distributions.torch_transform import TransformModule

__all__ = [
    "ConditionalGeneralizedChannelPermute",
    "ConditionedGeneralizedChannelPermute",
    "GeneralizedChannelPermute",
    "conditional_generalized_channel_permute",
    "generalized_channel_permute",
]


class ConditionedGeneralizedChannelPermute(Transform):
    """Mix the channels of a ``(..., C, H, W)`` image by ``W = P L U`` at every pixel.

    ``LU`` packs the unit-lower ``L`` (strict lower part) and the upper ``U`` (with
    diagonal); ``log|det J| = H W sum log|diag U|``. The inverse solves two triangular
    systems instead of inverting ``W``.

    Args:
        permutation: ``(C, C)`` permutation matrix ``P``.
        LU: ``(..., C, C)`` packed factors (batch dims from a context broadcast over the input).
    """

    domain = constraints.independent(constraints.real, 3)
    codomain = constraints.independent(constraints.real, 3)
    bijective = True

    def __init__(self, permutation: torch.Tensor | None = None, LU: torch.Tensor | None = None):
        super().__init__(cache_size=1)
        self.permutation = permutation
        self.LU = LU

    @property
    def U_diag(self) -> torch.Tensor:
        assert self.LU is not None
        return self.LU.diagonal(dim1=-2, dim2=-1)

    @property
    def L(self) -> torch.Tensor:
        assert self.LU is not None
        eye = torch.eye(self.LU.size(-1), dtype=self.LU.dtype, device=self.LU.device)
        return self.LU.tril(diagonal=-1) + eye

    @property
    def U(self) -> torch.Tensor:
        assert self.LU is not None
        return self.LU.triu()

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        assert self.permutation is not None
        # a matmul over channels rather than conv2d, so filters may carry batch dims
        filters = (self.permutation @ self.L @ self.U)[..., None, None]
        return (filters * x.unsqueeze(-4)).sum(-3)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        assert self.permutation is not None
        flat = y.flatten(start_dim=-2)  # (..., C, H*W)
        lu_x = (flat.unsqueeze(-3) * self.permutation.T.unsqueeze(-1)).sum(-2)
        u_x = torch.linalg.solve_triangular(self.L, lu_x, upper=False)
        x = torch.linalg.solve_triangular(self.U, u_x, upper=True)
        return x.reshape(x.shape[:-1] + y.shape[-2:])

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``H * W * sum(log|diag U|)`` per image."""
        h, w = x.shape[-2:]
        log_det = h * w * self.U_diag.abs().log().sum(-1)
        return log_det * x.new_ones(x.shape[:-3])


class GeneralizedChannelPermute(ConditionedGeneralizedChannelPermute, TransformModule):
    """Learnable 1x1 invertible convolution (Pyro's ``GeneralizedChannelPermute``).

    Initialized at a random rotation; parameter ``LU (C, C)``, buffer ``permutation``.

    Args:
        channels: number of channels ``C``.
        permutation: the ``P`` as a permutation of ``range(C)`` (default: from the LU
            decomposition of the initial rotation).

    Raises:
        ValueError: if ``permutation`` does not have ``channels`` entries.

    Example:
        >>> flow = GeneralizedChannelPermute(channels=3)
        >>> x = torch.randn(2, 3, 4, 4)
        >>> torch.allclose(flow.inv(flow(x).clone()), x, atol=1e-5)
        True
    """

    domain = constraints.independent(constraints.real, 3)
    codomain = constraints.independent(constraints.real, 3)
    bijective = True

    permutation: torch.Tensor  # type: ignore[assignment]

    def __init__(self, channels: int = 3, permutation: torch.Tensor | None = None) -> None:
        super().__init__()
        del self.permutation  # becomes a buffer below
        rotation, _ = torch.linalg.qr(torch.randn(channels, channels))
        lu, pivots = torch.linalg.lu_factor(rotation)
        if permutation is None:
            p, _, _ = torch.lu_unpack(lu, pivots)
        else:
            if len(permutation) != channels:
                raise ValueError(
                    f'Keyword argument "permutation" expected to have {channels} elements but '
                    f"{len(permutation)} found."
                )
            p = torch.eye(channels, channels)[permutation.to(torch.int64)]
        self.register_buffer("permutation", p)
        self.LU = torch.nn.Parameter(lu)


class ConditionalGeneralizedChannelPermute(ConditionalTransformModule):
    """Channel mixing whose ``LU`` factors a network computes from a context.

    Args:
        nn: ``context -> (..., C * C)``.
        channels: number of channels.
        permutation: permutation of ``range(C)`` (random by default).
    """

    domain = constraints.independent(constraints.real, 3)
    codomain = constraints.independent(constraints.real, 3)
    bijective = True

    permutation: torch.Tensor

    def __init__(
        self,
        nn: Callable[[torch.Tensor], torch.Tensor],
        channels: int = 3,
        permutation: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.nn = nn
        self.channels = channels
        if permutation is None:
            permutation = torch.randperm(channels, device="cpu").to(torch.empty(()).device)
        p = torch.eye(len(permutation), len(permutation))[permutation.to(torch.int64)]
        self.register_buffer("permutation", p)

    def condition(self, context: torch.Tensor) -> ConditionedGeneralizedChannelPermute:
        """The channel mixing for ``context``."""
        lu = self.nn(context)
        lu = lu.view(lu.shape[:-1] + (self.channels, self.channels))
        return ConditionedGeneralizedChannelPermute(self.permutation, lu)


def generalized_channel_permute(
    channels: int = 3, permutation: torch.Tensor | None = None
) -> GeneralizedChannelPermute:
    """A :class:`GeneralizedChannelPermute` flow."""
    return GeneralizedChannelPermute(channels=channels, permutation=permutation)


def conditional_generalized_channel_permute(
    context_dim: int, channels: int = 3, hidden_dims: Sequence[int] | None = None
) -> ConditionalGeneralizedChannelPermute:
    """A :class:`ConditionalGeneralizedChannelPermute` with a fresh ``DenseNN``."""
    from ppl.nn.dense_nn import DenseNN

    if hidden_dims is None:
        hidden_dims = [channels * 10, channels * 10]
    nn = DenseNN(context_dim, hidden_dims, param_dims=[channels * channels])
    return ConditionalGeneralizedChannelPermute(nn, channels)
