"""``LowerCholeskyAffine``: the bijection ``x = loc + scale_tril @ z`` on vectors.

torch has an elementwise ``AffineTransform`` but no matrix one; the multivariate
autoguides need it for ``AutoContinuous.get_transform`` (the map from their
standard-normal base distribution to the posterior, used e.g. by reparameterization
schemes). At Pyro's path ``pyro.distributions.transforms.LowerCholeskyAffine``;
``ppl.infer.autoguide`` re-exports it. Event dim 1; ``log |det J| = sum(log |diag(scale_tril)|)``.
"""

from __future__ import annotations

import torch
from torch.distributions import Transform, constraints

__all__ = ["LowerCholeskyAffine"]


class LowerCholeskyAffine(Transform):
    """``y = loc + scale_tril @ x`` for a lower-triangular ``scale_tril`` with nonzero diagonal.

    Args:
        loc: ``(..., D)`` shift.
        scale_tril: ``(..., D, D)`` lower-triangular factor.

    Raises:
        ValueError: if the shapes do not fit (``scale_tril`` must be ``(..., D, D)``).

    Example:
        >>> t = LowerCholeskyAffine(torch.zeros(2), torch.tensor([[2.0, 0.0], [1.0, 1.0]]))
        >>> t(torch.tensor([1.0, 1.0])), t.inv(torch.tensor([2.0, 2.0]))
        (tensor([2., 2.]), tensor([1., 1.]))
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, loc: torch.Tensor, scale_tril: torch.Tensor, cache_size: int = 0) -> None:
        if (
            scale_tril.dim() < 2
            or scale_tril.shape[-1] != scale_tril.shape[-2]
            or (loc.shape[-1:] != scale_tril.shape[-1:])
        ):
            raise ValueError(
                f"LowerCholeskyAffine: expected loc (..., D) and scale_tril (..., D, D), got "
                f"{tuple(loc.shape)} and {tuple(scale_tril.shape)}"
            )
        super().__init__(cache_size=cache_size)
        self.loc = loc
        self.scale_tril = scale_tril

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LowerCholeskyAffine)
            and self.loc is other.loc
            and self.scale_tril is other.scale_tril
        )

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return self.loc + (self.scale_tril @ x.unsqueeze(-1)).squeeze(-1)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        rhs = (y - self.loc).unsqueeze(-1)
        tril = self.scale_tril.expand(rhs.shape[:-2] + self.scale_tril.shape[-2:])
        return torch.linalg.solve_triangular(tril, rhs, upper=False).squeeze(-1)

    def with_cache(self, cache_size: int = 1) -> LowerCholeskyAffine:
        if self._cache_size == cache_size:
            return self
        return LowerCholeskyAffine(self.loc, self.scale_tril, cache_size=cache_size)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        lad = self.scale_tril.diagonal(dim1=-2, dim2=-1).abs().log().sum(-1)
        return lad.expand(x.shape[:-1])
