"""``Unit``: a distribution over the empty value whose log-density is ``log_factor``.

Design notes
------------
``ppl.factor(name, log_factor)`` observes ``Unit(log_factor)`` at an empty value, which
adds ``log_factor`` to the model's joint log-density without any random variable.
The event shape is ``(0,)`` (a value holds no numbers), the batch shape is
``log_factor.shape``, and sampling returns an empty tensor of shape
``sample_shape + batch_shape + (0,)``.
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import torch
from torch.distributions import constraints

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.util import EMPTY_SHAPE, SizeLike, checked_broadcast

__all__ = ["Unit"]


class Unit(TorchDistribution):
    """Trivial nonnormalized distribution on the empty value, scoring ``log_factor``.

    Args:
        log_factor: a number or tensor; its shape is the batch shape.
        has_rsample: whether samples count as reparameterized (Pyro's keyword; default
            ``True``: the empty value carries no randomness, so nothing needs a score
            function).
        validate_args: torch's per-instance validation flag.

    Raises:
        TypeError: if ``log_factor`` is neither a tensor nor a number.

    Example:
        >>> d = Unit(torch.tensor([0.5, -1.0]))
        >>> d.sample().shape, d.log_prob(d.sample())
        (torch.Size([2, 0]), tensor([ 0.5000, -1.0000]))
    """

    arg_constraints = {"log_factor": constraints.real}
    support = constraints.real

    def __init__(
        self,
        log_factor: torch.Tensor | float,
        *,
        has_rsample: bool | None = None,
        validate_args: bool | None = None,
    ):
        if isinstance(log_factor, Number) and not isinstance(log_factor, bool):
            log_factor = torch.tensor(float(log_factor))  # type: ignore[arg-type]
        if not isinstance(log_factor, torch.Tensor):
            raise TypeError(
                f"Unit: log_factor must be a tensor or a number but got {type(log_factor).__name__}"
            )
        self.log_factor = log_factor
        self._has_rsample = True if has_rsample is None else bool(has_rsample)
        # whether the caller stated has_rsample (a guide-side factor must: see ELBO checks)
        self._has_rsample_given = has_rsample is not None
        super().__init__(log_factor.shape, torch.Size((0,)), validate_args=validate_args)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self._has_rsample

    def expand(self, batch_shape: Any, _instance: Any = None) -> Unit:
        new = self._get_checked_instance(Unit, _instance)
        batch_shape = torch.Size(batch_shape)
        new.log_factor = self.log_factor.expand(batch_shape)
        new._has_rsample = self._has_rsample
        new._has_rsample_given = self._has_rsample_given
        super(Unit, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        return self.log_factor.new_empty(self.shape(sample_shape))

    def rsample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        return self.sample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        shape = checked_broadcast(
            "Unit.log_prob: value batch shape vs batch_shape",
            value.shape[:-1],
            self.batch_shape,
        )
        return self.log_factor.expand(shape)
