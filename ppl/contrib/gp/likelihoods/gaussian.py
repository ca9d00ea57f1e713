"""Gaussian likelihood ``y ~ Normal(f, sqrt(variance))`` (integrated over ``f`` exactly)."""

from __future__ import annotations

import torch

import ppl
import ppl.distributions as dist

from ..parameterized import positive_param
from .likelihood import Likelihood, observe_shape

__all__ = ["Gaussian"]


class Gaussian(Likelihood):
    """``y | f ~ Normal(f, variance)``; with ``f ~ Normal(f_loc, f_var)`` the marginal is
    ``Normal(f_loc, f_var + variance)``, used directly.

    Args:
        variance: positive noise variance, default 1.

    Example:
        >>> import torch
        >>> Gaussian(torch.tensor(0.5))(torch.zeros(3), torch.ones(3)).shape
        torch.Size([3])
    """

    variance: torch.Tensor

    def __init__(self, variance: torch.Tensor | None = None) -> None:
        super().__init__()
        variance = torch.tensor(1.0) if variance is None else variance
        self.variance = positive_param(variance)  # type: ignore[assignment]

    def forward(
        self, f_loc: torch.Tensor, f_var: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        fn = dist.Normal(f_loc, (f_var + self.variance).sqrt())
        fn = observe_shape(fn, y, f_loc.dim())
        return ppl.sample(self._pyro_get_fullname("y"), fn, obs=y)
