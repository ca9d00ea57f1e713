"""Binary classification likelihood ``y ~ Bernoulli(response(f))``."""

from __future__ import annotations

from collections.abc import Callable

import torch

import ppl
import ppl.distributions as dist

from .likelihood import Likelihood, observe_shape

__all__ = ["Binary"]


class Binary(Likelihood):
    """``y | f ~ Bernoulli(response_function(f))`` (default: the logistic sigmoid).

    Args:
        response_function: maps ``f`` to probabilities; ``torch.sigmoid`` (default)
            is applied as logits, which is numerically safer.

    Example:
        >>> import torch
        >>> Binary()(torch.zeros(3), torch.ones(3)).shape
        torch.Size([3])
    """

    def __init__(self, response_function: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        self.response_function = torch.sigmoid if response_function is None else response_function

    def forward(
        self, f_loc: torch.Tensor, f_var: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        f = dist.Normal(f_loc, f_var.sqrt()).rsample()
        if self.response_function is torch.sigmoid:
            fn = dist.Bernoulli(logits=f)
        else:
            fn = dist.Bernoulli(probs=self.response_function(f))
        fn = observe_shape(fn, y, f.dim())
        return ppl.sample(self._pyro_get_fullname("y"), fn, obs=y)
