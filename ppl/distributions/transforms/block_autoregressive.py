"""Block neural autoregressive flow (De Cao et al. 2019): one masked monotone network.

Design notes
------------
The flow is a stack of :class:`MaskedBlockLinear` layers with elementwise activations
between them. Each layer's ``(out, in)`` weight is a ``D x D`` grid of blocks:
blocks above the diagonal are zero (autoregressive), diagonal blocks are positive
(``exp`` of the free weight) so every ``y_d`` increases in ``x_d``, and each row is
rescaled by ``exp(diag_weight) / |row|`` (weight normalization). The diagonal of the
Jacobian is carried through the layers in log space as per-coordinate block matrices
(``log_matrix_product``), so ``log|det J|`` is exact. There is no inverse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions.transforms import SigmoidTransform, TanhTransform, Transform

from ppl.distributions import constraints
from ppl.distributions.torch_transform import TransformModule
from ppl.distributions.transforms._no_inverse import no_inverse
from ppl.distributions.transforms.basic import ELUTransform, LeakyReLUTransform

__all__ = ["BlockAutoregressive", "MaskedBlockLinear", "block_autoregressive", "log_matrix_product"]

_EPS = 1e-8
_ACTIVATIONS: dict[str, type[Transform]] = {
    "ELU": ELUTransform,
    "LeakyReLU": LeakyReLUTransform,
    "sigmoid": SigmoidTransform,
    "tanh": TanhTransform,
}


def log_matrix_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``log(exp(a) @ exp(b))`` computed stably (for matrices of log-entries).

    Example:
        >>> a, b = torch.randn(2, 3), torch.randn(3, 4)
        >>> torch.allclose(log_matrix_product(a, b), (a.exp() @ b.exp()).log(), atol=1e-6)
        True
    """
    return torch.logsumexp(a.unsqueeze(-1) + b.unsqueeze(-3), dim=-2)


class MaskedBlockLinear(nn.Module):
    """Block lower-triangular, weight-normalized linear layer with positive diagonal blocks.

    Args:
        in_features: input size (a multiple of ``dim``).
        out_features: output size (a multiple of ``dim``).
        dim: number of blocks per side (the flow's event size).
        bias: add a bias.

    ``forward(x)`` takes ``x`` of shape ``(..., in_features, 1)`` and returns the
    output ``(..., out_features)`` and the log of the diagonal blocks of the weight,
    ``(dim, out_features // dim, in_features // dim)``.
    """

    mask_d: torch.Tensor
    mask_o: torch.Tensor

    def __init__(self, in_features: int, out_features: int, dim: int, bias: bool = True) -> None:
        super().__init__()
        if in_features % dim or out_features % dim:
            raise ValueError(
                f"MaskedBlockLinear: in_features ({in_features}) and out_features "
                f"({out_features}) must be multiples of dim ({dim})"
            )
        self.in_features, self.out_features, self.dim = in_features, out_features, dim
        o, i = out_features // dim, in_features // dim
        weight = torch.zeros(out_features, in_features)
        for d in range(dim):
            block = torch.empty(o, (d + 1) * i)
            weight[d * o : (d + 1) * o, : (d + 1) * i] = nn.init.xavier_uniform_(block)
        self._weight = nn.Parameter(weight)
        self._diag_weight = nn.Parameter(torch.rand(out_features, 1).log())
        bound = 1 / math.sqrt(out_features)
        self.bias: nn.Parameter | None = (
            nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None
        )
        blocks = torch.eye(dim).unsqueeze(-1).repeat(1, o, i).view(out_features, in_features)
        self.register_buffer("mask_d", blocks)
        lower = torch.ones(dim, dim).tril(-1).unsqueeze(-1).repeat(1, o, i)
        self.register_buffer("mask_o", lower.view(out_features, in_features))

    def get_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The effective weight and the log of its diagonal blocks."""
        w = torch.exp(self._weight) * self.mask_d + self._weight * self.mask_o
        sq_norm = w.pow(2).sum(-1, keepdim=True)
        w = self._diag_weight.exp() * w / (sq_norm.sqrt() + _EPS)
        log_w = self._diag_weight + self._weight - 0.5 * torch.log(sq_norm + _EPS)
        shape = (self.dim, self.out_features // self.dim, self.in_features // self.dim)
        return w, log_w[self.mask_d.bool()].view(shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w, log_diag = self.get_weights()
        out = torch.matmul(w, x)
        if self.bias is not None:
            out = out + self.bias.unsqueeze(-1)
        return out.squeeze(-1), log_diag


class BlockAutoregressive(TransformModule):
    """Block neural autoregressive flow (Pyro's ``BlockAutoregressive``).

    Args:
        input_dim: event size ``D``.
        hidden_factors: hidden layer widths as multiples of ``D``.
        activation: ``"ELU"``, ``"LeakyReLU"``, ``"sigmoid"`` or ``"tanh"``.
        residual: ``None``, ``"normal"`` (``y = x + f(x)``) or ``"gated"``
            (``y = g x + (1 - g) f(x)``, learnable ``g``).

    Raises:
        ValueError: for a hidden factor below 1, an unknown residual or activation.

    Example:
        >>> flow = block_autoregressive(3, hidden_factors=[4])
        >>> tuple(flow.log_abs_det_jacobian(torch.zeros(2, 3), flow(torch.zeros(2, 3))).shape)
        (2,)
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    autoregressive = True
    _inverse_unavailable = True

    def __init__(
        self,
        input_dim: int,
        hidden_factors: Sequence[int] = (8, 8),
        activation: str = "tanh",
        residual: str | None = None,
    ) -> None:
        super().__init__(cache_size=1)
        hidden_factors = list(hidden_factors)
        if any(h < 1 for h in hidden_factors):
            raise ValueError(f"Hidden factors, {hidden_factors}, must all be >= 1")
        if residual not in (None, "normal", "gated"):
            raise ValueError(f'Invalid value {residual!r} for keyword argument "residual"')
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f'Invalid activation function "{activation}"; expected one of '
                f"{sorted(_ACTIVATIONS)}"
            )
        self.T = _ACTIVATIONS[activation]()
        self.residual = residual
        self.input_dim = input_dim
        widths = [input_dim] + [input_dim * h for h in hidden_factors] + [input_dim]
        self.layers = nn.ModuleList(
            MaskedBlockLinear(widths[i], widths[i + 1], input_dim) for i in range(len(widths) - 1)
        )
        self._cached_logDetJ: torch.Tensor | None = None
        if residual == "gated":
            self.gate = nn.Parameter(torch.randn(1))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        log_j: torch.Tensor | None = None  # (..., D, width // D, 1): log dh/dx_d blocks
        last = len(self.layers) - 1
        for idx, layer in enumerate(self.layers):
            pre, log_w = layer(y.unsqueeze(-1))
            log_j = log_w if log_j is None else log_matrix_product(log_w, log_j)
            if idx < last:
                y = self.T(pre)
                blocks = x.shape + (-1, 1)
                log_j = log_j + self.T.log_abs_det_jacobian(pre.view(blocks), y.view(blocks))
            else:
                y = pre
        assert log_j is not None
        log_det = log_j.squeeze(-1).squeeze(-1)
        if self.residual == "normal":
            y = y + x
            log_det = F.softplus(log_det)  # log(1 + dy/dx)
        elif self.residual == "gated":
            g = self.gate.sigmoid()
            y = g * x + (1.0 - g) * y
            log_g = torch.log(g + _EPS)
            log_det = log_g + F.softplus(torch.log1p(_EPS - g) - log_g + log_det)
        self._cached_logDetJ = log_det
        return y

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise no_inverse(type(self).__name__)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum_d log(dy_d/dx_d)`` (recomputed unless ``(x, y)`` is cached)."""
        x_old, y_old = self._cached_x_y
        if x is not x_old or y is not y_old:
            self(x)
        assert self._cached_logDetJ is not None
        return self._cached_logDetJ.sum(-1)


def block_autoregressive(input_dim: int, **kwargs: object) -> BlockAutoregressive:
    """A :class:`BlockAutoregressive` flow (keyword arguments as its constructor)."""
    return BlockAutoregressive(input_dim, **kwargs)  # type: ignore[arg-type]
