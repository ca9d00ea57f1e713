"""``SimplexToOrderedTransform``: simplex -> ordered cut-points (for ordinal regression)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions.transforms import Transform

from ppl.distributions import constraints

__all__ = ["SimplexToOrderedTransform"]


class SimplexToOrderedTransform(Transform):
    """Map category probabilities ``x`` (a ``K``-simplex) to ``K - 1`` ordered cut-points.

    ``y_k = logit(x_0 + ... + x_k) + anchor_point``: the cut-points of an ordered
    logistic model whose category probabilities at latent value ``anchor_point`` are
    ``x``. Used to put a Dirichlet prior on cut-points (Betancourt's "induced
    Dirichlet").

    Args:
        anchor_point: the latent value the probabilities refer to (tensor, default 0).
        cache_size: 0 or 1.

    Example:
        >>> t = SimplexToOrderedTransform()
        >>> t(torch.tensor([0.25, 0.5, 0.25]))
        tensor([-1.0986,  1.0986])
    """

    domain = constraints.simplex
    codomain = constraints.ordered_vector

    def __init__(self, anchor_point: torch.Tensor | None = None, *, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.anchor_point = anchor_point if anchor_point is not None else torch.tensor(0.0)

    def with_cache(self, cache_size: int = 1) -> SimplexToOrderedTransform:
        if self._cache_size == cache_size:
            return self
        return SimplexToOrderedTransform(self.anchor_point, cache_size=cache_size)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        cum = torch.cumsum(x[..., :-1], dim=-1)
        return torch.logit(cum) + self.anchor_point.unsqueeze(-1)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        cum = torch.sigmoid(y - self.anchor_point.unsqueeze(-1))
        edges = torch.cat([torch.zeros_like(cum[..., :1]), cum, torch.ones_like(cum[..., :1])], -1)
        return edges[..., 1:] - edges[..., :-1]

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum_k log(1 / (s_k (1 - s_k)))`` with ``s_k`` the cumulative sums."""
        return (F.softplus(y) + F.softplus(-y)).sum(-1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SimplexToOrderedTransform):
            return False
        return torch.equal(self.anchor_point, other.anchor_point)

    def forward_shape(self, shape: Any) -> Any:
        return shape[:-1] + (shape[-1] - 1,)

    def inverse_shape(self, shape: Any) -> Any:
        return shape[:-1] + (shape[-1] + 1,)
