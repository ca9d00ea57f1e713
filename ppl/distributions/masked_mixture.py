"""``MaskedMixture``: pick, per batch element, one of two distributions by a boolean mask.

Where ``mask`` is True the element follows ``component1``, elsewhere ``component0``.
The mask is typically itself sampled (e.g. a change point) and enumerated out.

Example:
    >>> import torch
    >>> from ppl.distributions.torch_dists import Normal
    >>> d = MaskedMixture(torch.tensor([False, True]), Normal(0.0, 1.0), Normal(5.0, 1.0))
    >>> d.log_prob(torch.tensor([0.0, 5.0]))
    tensor([-0.9189, -0.9189])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import lazy_property

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.util import EMPTY_SHAPE
from ppl.ops.tensor import broadcast_shape

__all__ = ["MaskedConstraint", "MaskedMixture"]


class MaskedConstraint(constraints.Constraint):
    """``constraint1`` where ``mask`` is True and ``constraint0`` elsewhere."""

    def __init__(self, mask: torch.Tensor, constraint0: constraints.Constraint,
                 constraint1: constraints.Constraint) -> None:
        self.mask = mask
        self.constraint0 = constraint0
        self.constraint1 = constraint1
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        ok0 = self.constraint0.check(value)
        ok1 = self.constraint1.check(value)
        return torch.where(self.mask, ok1, ok0)  # broadcasts (an enumerated mask adds dims)

    def __repr__(self) -> str:
        return f"MaskedConstraint({self.constraint0}, {self.constraint1})"


class MaskedMixture(TorchDistribution):
    """A deterministic, mask-selected mixture of two distributions.

    Args:
        mask: bool tensor; True selects ``component1``.
        component0, component1: distributions with equal ``event_shape``.

    Raises:
        ValueError: if ``mask`` is not a bool tensor or the event shapes differ.
    """

    arg_constraints: dict = {}

    def __init__(self, mask: torch.Tensor, component0: Any, component1: Any,
                 validate_args: bool | None = None) -> None:
        if not torch.is_tensor(mask) or mask.dtype != torch.bool:
            raise ValueError(f"Expected mask to be a BoolTensor but got {type(mask)}")
        if component0.event_shape != component1.event_shape:
            raise ValueError(
                f"components event_shape disagree: {component0.event_shape} vs "
                f"{component1.event_shape}"
            )
        batch_shape = broadcast_shape(mask.shape, component0.batch_shape,
                                      component1.batch_shape)
        # An instance attribute named ``mask`` shadows the mixin's mask() method, as in Pyro.
        self.mask = mask.expand(batch_shape)  # type: ignore[assignment,method-assign]
        self.component0 = component0 if component0.batch_shape == batch_shape \
            else component0.expand(batch_shape)
        self.component1 = component1 if component1.batch_shape == batch_shape \
            else component1.expand(batch_shape)
        super().__init__(batch_shape, component0.event_shape, validate_args)
        self.component0._validate_args = False
        self.component1._validate_args = False

    @property
    def _m(self) -> torch.Tensor:
        return self.__dict__["mask"]

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return bool(self.component0.has_rsample and self.component1.has_rsample)

    @constraints.dependent_property
    def support(self) -> Any:  # type: ignore[override]
        if self.component0.support is self.component1.support:
            return self.component0.support
        return MaskedConstraint(self._m, self.component0.support, self.component1.support)

    def expand(self, batch_shape: Any, _instance: Any = None) -> MaskedMixture:
        batch_shape = torch.Size(batch_shape)
        return type(self)(self._m.expand(batch_shape), self.component0.expand(batch_shape),
                          self.component1.expand(batch_shape))

    def _event_mask(self, sample_shape: torch.Size) -> torch.Tensor:
        m = self._m.reshape(self._m.shape + (1,) * self.event_dim)
        return m.expand(sample_shape + self.shape())

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        return torch.where(self._event_mask(sample_shape), self.component1.sample(sample_shape),
                           self.component0.sample(sample_shape))

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        return torch.where(self._event_mask(sample_shape), self.component1.rsample(sample_shape),
                           self.component0.rsample(sample_shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        shape = broadcast_shape(value.shape, self.batch_shape + self.event_shape)
        value = value.expand(shape)
        if self._validate_args:
            self._validate_sample(value)
        mask = self._m.expand(shape[: len(shape) - len(self.event_shape)])
        return torch.where(mask, self.component1.log_prob(value),
                           self.component0.log_prob(value))

    def _select(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        m = self._m.reshape(self._m.shape + (1,) * (a.dim() - self._m.dim()))
        return torch.where(m, b, a)

    @lazy_property
    def mean(self) -> torch.Tensor:
        return self._select(self.component0.mean, self.component1.mean)

    @lazy_property
    def variance(self) -> torch.Tensor:
        return self._select(self.component0.variance, self.component1.variance)
