"""Relaxed Bernoulli / one-hot categorical with straight-through gradients.

``rsample`` returns a *hard* (quantised) sample, exactly 0/1, whose gradient is passed
unchanged to the relaxed (Gumbel-softmax) sample it came from.
The relaxed sample rides along as ``hard._unquantize`` so that ``log_prob`` of the
returned sample scores the relaxed value (Maddison et al. 2017; Jang et al. 2017).

Example:
    >>> import torch
    >>> d = RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=torch.tensor([0.2, 0.9]))
    >>> x = d.rsample()
    >>> set(x.tolist()) <= {0.0, 1.0}  # exactly 0 or 1
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions.utils import clamp_probs

from ppl.distributions.torch_dists import RelaxedBernoulli, RelaxedOneHotCategorical
from ppl.distributions.util import EMPTY_SHAPE, copy_docs_from

__all__ = ["RelaxedBernoulliStraightThrough", "RelaxedOneHotCategoricalStraightThrough"]


class _PassGradient(torch.autograd.Function):
    """Forward returns ``hard``; backward hands the incoming gradient to ``soft``."""

    @staticmethod
    def forward(ctx: Any, soft: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
        return hard.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def _straight_through(soft: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
    out = _PassGradient.apply(soft, hard.detach())
    out._unquantize = soft
    return out


@copy_docs_from(RelaxedOneHotCategorical)
class RelaxedOneHotCategoricalStraightThrough(RelaxedOneHotCategorical):
    """``RelaxedOneHotCategorical`` whose ``rsample`` is one-hot (straight-through)."""

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        soft = clamp_probs(super().rsample(sample_shape))
        hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
        return _straight_through(soft, hard)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return super().log_prob(getattr(value, "_unquantize", value))


@copy_docs_from(RelaxedBernoulli)
class RelaxedBernoulliStraightThrough(RelaxedBernoulli):
    """``RelaxedBernoulli`` whose ``rsample`` is 0/1 (straight-through)."""

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        soft = clamp_probs(super().rsample(sample_shape))
        return _straight_through(soft, soft.round())

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return super().log_prob(getattr(value, "_unquantize", value))
