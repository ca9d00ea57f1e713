"""``FoldedDistribution``: the law of ``|X|`` for a univariate ``X ~ base_dist``.

Example:
    >>> import torch
    >>> from ppl.distributions.torch_dists import Normal
    >>> d = FoldedDistribution(Normal(torch.tensor(0.0), 1.0))
    >>> round(d.log_prob(torch.tensor(1.0)).exp().item(), 4)
    0.4839
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.transforms import AbsTransform

from ppl.distributions.torch_dists import TransformedDistribution


class FoldedDistribution(TransformedDistribution):
    """``|X|`` for univariate ``X``: ``p(y) = p_X(y) + p_X(-y)`` on ``y >= 0``.

    Args:
        base_dist: a univariate distribution (``event_shape == ()``).
    Raises:
        ValueError: when ``base_dist`` has a non-empty event shape.
    """

    support = constraints.greater_than_eq(0.0)

    def __init__(self, base_dist: Any, validate_args: bool | None = None) -> None:
        if base_dist.event_shape:
            raise ValueError(
                f"FoldedDistribution needs a univariate base_dist, got event_shape "
                f"{tuple(base_dist.event_shape)}"
            )
        super().__init__(base_dist, AbsTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = self._get_checked_instance(FoldedDistribution, _instance)
        return super().expand(batch_shape, _instance=new)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        shape = torch.broadcast_shapes(value.shape, self.batch_shape)
        value = value.expand(shape)
        return torch.logaddexp(self.base_dist.log_prob(value), self.base_dist.log_prob(-value))
