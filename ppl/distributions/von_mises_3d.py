"""``VonMises3D``: the von Mises-Fisher distribution on the 2-sphere.

``p(v) = k / (4 pi sinh k) * exp(c . v)`` for unit 3-vectors ``v``, where the vector
``c`` carries both the mean direction and the concentration ``k = |c|``. Only
``log_prob`` is implemented (as in Pyro).

Example:
    >>> import torch
    >>> d = VonMises3D(torch.tensor([0.0, 0.0, 1e-8]))  # nearly uniform
    >>> round(float(d.log_prob(torch.tensor([1.0, 0.0, 0.0])).exp() * 4 * 3.14159265), 4)
    1.0
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ppl.distributions import constraints
from ppl.distributions.torch_distribution import TorchDistribution

__all__ = ["VonMises3D"]


class VonMises3D(TorchDistribution):
    """Spherical von Mises distribution of unit 3-vectors (Cartesian coordinates).

    Args:
        concentration: shape ``batch_shape + (3,)``; direction = mean, length = concentration.
    """

    arg_constraints = {"concentration": constraints.real}
    support = constraints.sphere

    def __init__(self, concentration: torch.Tensor, validate_args: bool | None = None) -> None:
        if concentration.dim() < 1 or concentration.shape[-1] != 3:
            raise ValueError(
                f"Expected concentration to have rightmost dim 3, actual shape = "
                f"{concentration.shape}"
            )
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:],
                         validate_args=validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            if value.dim() < 1 or value.shape[-1] != 3:
                raise ValueError(
                    f"Expected value to have rightmost dim 3, actual shape = {value.shape}"
                )
            if not bool(((value.norm(2, -1) - 1).abs() < 1e-6).all()):
                raise ValueError("direction vectors are not normalized")
        k = self.concentration.norm(2, -1)
        # log(k / sinh k) = log(2k) - k - log1p(-exp(-2k)), with the limit 0 at k = 0.
        safe_k = k.clamp(min=1e-6)
        log_k_over_sinh = (2 * safe_k).log() - safe_k - torch.log1p(-torch.exp(-2 * safe_k))
        log_k_over_sinh = torch.where(k > 1e-6, log_k_over_sinh, -k * k / 6)
        return (self.concentration * value).sum(-1) + log_k_over_sinh - math.log(4 * math.pi)

    def expand(self, batch_shape: Any, _instance: Any = None) -> VonMises3D:
        new = self._get_checked_instance(VonMises3D, _instance)
        batch_shape = torch.Size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + (3,))
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self.__dict__.get("_validate_args")
        return new
