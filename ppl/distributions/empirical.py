"""``Empirical``: a weighted set of samples viewed as a (discrete) distribution.

``samples`` has shape ``batch_shape + (num_samples,) + event_shape`` and ``log_weights``
``batch_shape + (num_samples,)``: the rightmost dim of ``log_weights`` is the
aggregation dim along which samples are drawn (by ``Categorical(logits=log_weights)``)
and along which ``mean``/``variance`` are weighted.

Example:
    >>> import torch
    >>> d = Empirical(torch.tensor([1.0, 2.0, 2.0]), torch.zeros(3))
    >>> float(d.log_prob(torch.tensor(2.0)).exp()), float(d.mean)
    (0.6666666865348816, 1.6666666269302368)
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.torch_dists import Categorical
from ppl.distributions.util import EMPTY_SHAPE

__all__ = ["Empirical"]

_DISCRETE_MOMENT = (
    "{} for discrete empirical distribution undefined. Consider converting samples to "
    "``torch.float32`` or ``torch.float64``. If these are samples from a `Categorical` "
    "distribution, consider converting to a `OneHotCategorical` distribution."
)


class Empirical(TorchDistribution):
    """Empirical distribution of (weighted) samples.

    Args:
        samples: ``batch_shape + (num_samples,) + event_shape``.
        log_weights: ``batch_shape + (num_samples,)`` unnormalised log weights.

    Raises:
        ValueError: if ``log_weights``' shape is not a leading part of ``samples``' shape.
    """

    arg_constraints: dict = {}
    support = constraints.real
    has_enumerate_support = True

    def __init__(self, samples: torch.Tensor, log_weights: torch.Tensor,
                 validate_args: bool | None = None) -> None:
        self._samples = samples
        self._log_weights = log_weights
        sample_shape, weight_shape = samples.size(), log_weights.size()
        if weight_shape != sample_shape[: len(weight_shape)]:
            raise ValueError(
                f"The shape of ``log_weights`` ({weight_shape}) must match the leftmost shape "
                f"of ``samples`` ({sample_shape})"
            )
        self._aggregation_dim = log_weights.dim() - 1
        self._categorical = Categorical(logits=log_weights)
        super().__init__(batch_shape=weight_shape[:-1],
                         event_shape=sample_shape[len(weight_shape):],
                         validate_args=validate_args)

    @property
    def sample_size(self) -> int:
        """Total number of stored samples (``log_weights.numel()``)."""
        return self._log_weights.numel()

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        idx = self._categorical.sample(sample_shape)  # sample_shape + batch_shape
        # Move the aggregation dim to the front: (num_samples,) + batch + event.
        pool = self._samples.movedim(self._aggregation_dim, 0)
        event_ones = (1,) * len(self.event_shape)
        idx = idx.reshape((-1,) + self.batch_shape + event_ones).expand(
            (-1,) + pool.shape[1:])
        return pool.gather(0, idx).reshape(sample_shape + pool.shape[1:])

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log of the total weight of the stored samples equal to ``value``.

        Only values of shape ``batch_shape + event_shape`` can be scored (checked always:
        a vectorized value would otherwise broadcast against the stored samples).
        """
        if value.shape != self.batch_shape + self.event_shape:
            raise ValueError(f"``value.shape`` must be {self.batch_shape + self.event_shape}")
        if self.batch_shape:
            value = value.unsqueeze(self._aggregation_dim)
        match = self._samples.eq(value)
        for _ in range(len(self.event_shape)):
            match = match.all(-1)
        probs = self._categorical.probs
        return (probs * match.to(probs.dtype)).sum(-1).log()

    def _weighted_mean(self, value: torch.Tensor) -> torch.Tensor:
        w = self._log_weights
        w = w.reshape(w.shape + (1,) * (value.dim() - w.dim()))
        dim = self._aggregation_dim
        rel = (w - w.max(dim=dim, keepdim=True)[0]).exp()
        return (value * rel).sum(dim) / rel.sum(dim)

    def _check_float(self, what: str) -> None:
        if self._samples.dtype in (torch.int32, torch.int64):
            raise ValueError(_DISCRETE_MOMENT.format(what))

    @property
    def mean(self) -> torch.Tensor:
        self._check_float("Mean")
        return self._weighted_mean(self._samples)

    @property
    def variance(self) -> torch.Tensor:
        self._check_float("Variance")
        mean = self.mean.unsqueeze(self._aggregation_dim)
        return self._weighted_mean((self._samples - mean).pow(2))

    @property
    def log_weights(self) -> torch.Tensor:
        return self._log_weights

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        """The stored samples (with their aggregation dim), as Pyro returns them."""
        return self._samples
