"""``Normalize``: project a vector onto the unit ``p``-sphere (a non-bijective transform)."""

from __future__ import annotations

import numbers

import torch
from torch.distributions.transforms import Transform

from ppl.distributions import constraints

__all__ = ["Normalize", "safe_normalize"]

# ``constraints.sphere`` comes with the distribution zoo (ProjectedNormal); until it is
# there the codomain is stated as the real vectors it is a subset of.
_SPHERE = getattr(constraints, "sphere", constraints.real_vector)


def safe_normalize(x: torch.Tensor, *, p: float = 2) -> torch.Tensor:
    """``x / |x|_p``, mapping the zero vector to ``[1, 0, ..., 0]`` instead of NaN.

    Example:
        >>> safe_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        tensor([[0.6000, 0.8000],
                [1.0000, 0.0000]])
    """
    if not isinstance(p, (int, float)) or p < 0:
        raise ValueError(f"safe_normalize: p must be a number >= 0, got {p!r}")
    norm = torch.linalg.norm(x, dim=-1, ord=p, keepdim=True)
    y = x / norm.clamp(min=torch.finfo(x.dtype).tiny)
    zero = (x == 0).all(dim=-1, keepdim=True)
    first = torch.zeros_like(y)
    first[..., 0] = 1
    return torch.where(zero, first, y)


class Normalize(Transform):
    """``y = x / |x|_p`` (Pyro's ``Normalize``); its "inverse" is the identity on the sphere.

    Args:
        p: the norm's exponent (default the Euclidean norm).
        cache_size: 0 or 1.

    Example:
        >>> Normalize()(torch.tensor([0.0, 2.0]))
        tensor([0., 1.])
    """

    domain = constraints.real_vector
    codomain = _SPHERE
    bijective = False

    def __init__(self, p: float = 2, cache_size: int = 0) -> None:
        if not isinstance(p, numbers.Number) or p < 0:  # type: ignore[operator]
            raise ValueError(f"Normalize: p must be a number >= 0, got {p!r}")
        self.p = p
        super().__init__(cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.p == other.p  # type: ignore[attr-defined]

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return safe_normalize(x, p=self.p)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def with_cache(self, cache_size: int = 1) -> Normalize:
        if self._cache_size == cache_size:
            return self
        return Normalize(self.p, cache_size=cache_size)
