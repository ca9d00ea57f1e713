"""Count likelihood ``y ~ Poisson(response(f))``."""

from __future__ import annotations

from collections.abc import Callable

import torch

import ppl
import ppl.distributions as dist

from .likelihood import Likelihood, observe_shape

__all__ = ["Poisson"]


class Poisson(Likelihood):
    """``y | f ~ Poisson(response_function(f))`` (default ``exp``).

    Example:
        >>> import torch
        >>> Poisson()(torch.zeros(3), torch.ones(3)).shape
        torch.Size([3])
    """

    def __init__(self, response_function: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        self.response_function = torch.exp if response_function is None else response_function

    def forward(
        self, f_loc: torch.Tensor, f_var: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        f = dist.Normal(f_loc, f_var.sqrt()).rsample()
        fn = observe_shape(dist.Poisson(self.response_function(f)), y, f.dim())
        return ppl.sample(self._pyro_get_fullname("y"), fn, obs=y)
