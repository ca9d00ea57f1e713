"""``RejectionExponential``: ``Exponential(rate)`` drawn by rejection from a slower one.

Proposals come from ``Exponential(factor * rate)`` (``factor <= 1``) and are accepted
with probability ``exp((factor - 1) * rate * x)``; the acceptance rate is ``factor``.

Example:
    >>> import torch
    >>> d = RejectionExponential(torch.tensor([2.0]), torch.tensor([0.5]))
    >>> round(float(d.log_prob(torch.tensor([1.0]))), 4)  # log(2) - 2
    -1.3069
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from ppl.distributions.rejector import Rejector
from ppl.distributions.torch_dists import Exponential
from ppl.distributions.util import copy_docs_from, weakmethod

__all__ = ["RejectionExponential"]


@copy_docs_from(Exponential)
class RejectionExponential(Rejector):
    """Exponential distribution sampled by rejection.

    Args:
        rate: positive rate.
        factor: proposal rate relative to ``rate``, in ``(0, 1]``.
    """

    arg_constraints = {"rate": constraints.positive, "factor": constraints.positive}
    support = constraints.positive

    def __init__(self, rate: Any, factor: Any) -> None:
        self.rate, self.factor = broadcast_all(rate, factor)
        if not bool((self.factor <= 1).all()):
            raise ValueError(
                f"RejectionExponential: factor must be <= 1, got max {float(self.factor.max())}"
            )
        super().__init__(Exponential(self.factor * self.rate), self.log_prob_accept,
                         self.factor.log(), batch_shape=self.rate.shape, event_shape=())

    @weakmethod
    def log_prob_accept(self, x: torch.Tensor) -> torch.Tensor:
        return (self.factor - 1) * self.rate * x
