"""Compound counts: ``BetaBinomial``, ``DirichletMultinomial``, ``GammaPoisson``.

Each samples its latent rate from torch's Beta/Dirichlet/Gamma and then counts from
torch's Binomial/Multinomial/Poisson; ``log_prob`` is the closed-form marginal.

Example:
    >>> import torch
    >>> d = BetaBinomial(torch.tensor(1.0), torch.tensor(1.0), total_count=4)
    >>> round(d.log_prob(torch.tensor(2.0)).exp().item(), 4)
    0.2
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.torch_dists import Beta, Binomial, Dirichlet, Gamma, Multinomial, Poisson
from ppl.distributions.util import EMPTY_SHAPE
from ppl.ops.tensor import broadcast_shape


def _log_beta(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)


class BetaBinomial(TorchDistribution):
    """Binomial count whose success probability is ``Beta(concentration1, concentration0)``.

    Args:
        concentration1: positive Beta alpha.
        concentration0: positive Beta beta.
        total_count: non-negative number of trials.
    """

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
        "total_count": constraints.nonnegative_integer,
    }
    has_enumerate_support = True

    def __init__(
        self,
        concentration1: Any,
        concentration0: Any,
        total_count: Any = 1,
        validate_args: bool | None = None,
    ) -> None:
        c1, c0, n = broadcast_all(concentration1, concentration0, total_count)
        self.concentration1, self.concentration0, self.total_count = c1, c0, n.type_as(c1)
        super().__init__(c1.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> Any:
        return constraints.integer_interval(0, self.total_count)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        new.concentration1 = self.concentration1.expand(batch_shape)
        new.concentration0 = self.concentration0.expand(batch_shape)
        new.total_count = self.total_count.expand(batch_shape)
        TorchDistribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        with torch.no_grad():
            probs = Beta(self.concentration1, self.concentration0).sample(sample_shape)
            return Binomial(self.total_count, probs).sample()

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        n, a, b = self.total_count, self.concentration1, self.concentration0
        log_choose = torch.lgamma(n + 1) - torch.lgamma(value + 1) - torch.lgamma(n - value + 1)
        return log_choose + _log_beta(value + a, n - value + b) - _log_beta(a, b)

    @property
    def mean(self) -> torch.Tensor:
        a, b = self.concentration1, self.concentration0
        return self.total_count * a / (a + b)

    @property
    def variance(self) -> torch.Tensor:
        a, b, n = self.concentration1, self.concentration0, self.total_count
        s = a + b
        return n * a * b * (s + n) / (s.pow(2) * (s + 1))

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        total = int(self.total_count.max())
        if not bool((self.total_count == total).all()):
            raise NotImplementedError("enumerate_support needs a homogeneous total_count")
        values = torch.arange(
            1 + total, dtype=self.concentration1.dtype, device=self.concentration1.device
        )
        values = values.view((-1,) + (1,) * len(self.batch_shape))
        return values.expand((-1,) + self.batch_shape) if expand else values


class DirichletMultinomial(TorchDistribution):
    """Multinomial counts whose probabilities are ``Dirichlet(concentration)``.

    Args:
        concentration: positive Dirichlet concentration, shape ``batch + (K,)``.
        total_count: number of trials.
        is_sparse: accepted for Pyro compatibility (no effect on results).
    """

    arg_constraints = {
        "concentration": constraints.independent(constraints.positive, 1),
        "total_count": constraints.nonnegative_integer,
    }

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        concentration: Any, total_count: Any = ()
    ) -> tuple[torch.Size, torch.Size]:
        """Event shape: the last dim of ``concentration``; batch: the rest with total_count."""
        batch = broadcast_shape(tuple(concentration)[:-1], tuple(total_count))
        return batch, torch.Size(tuple(concentration)[-1:])

    def __init__(
        self,
        concentration: torch.Tensor,
        total_count: Any = 1,
        is_sparse: bool = False,
        validate_args: bool | None = None,
    ) -> None:
        batch_shape = concentration.shape[:-1]
        event_shape = concentration.shape[-1:]
        total_count = torch.as_tensor(
            total_count, dtype=concentration.dtype, device=concentration.device
        )
        self.total_count = total_count.expand(batch_shape)
        self.concentration = concentration
        self.is_sparse = is_sparse
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self) -> Any:
        return constraints.multinomial(int(self.total_count.max()))

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + self.event_shape)
        new.total_count = self.total_count.expand(batch_shape)
        new.is_sparse = self.is_sparse
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        with torch.no_grad():
            probs = Dirichlet(self.concentration).sample(sample_shape)
            total = int(self.total_count.max())
            return Multinomial(total, probs).sample()

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        alpha = self.concentration
        n = value.sum(-1)
        a0 = alpha.sum(-1)
        norm = torch.lgamma(a0) + torch.lgamma(n + 1) - torch.lgamma(n + a0)
        terms = torch.lgamma(value + alpha) - torch.lgamma(alpha) - torch.lgamma(value + 1)
        return norm + terms.sum(-1)

    @property
    def mean(self) -> torch.Tensor:
        return self.concentration / self.concentration.sum(-1, True) * self.total_count[..., None]


class GammaPoisson(TorchDistribution):
    """Poisson count whose rate is ``Gamma(concentration, rate)`` (a negative binomial).

    Args:
        concentration: positive Gamma shape.
        rate: positive Gamma rate.
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative_integer

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(self.concentration.shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        TorchDistribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        with torch.no_grad():
            return Poisson(Gamma(self.concentration, self.rate).sample(sample_shape)).sample()

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration, self.rate
        return (
            torch.lgamma(value + a)
            - torch.lgamma(a)
            - torch.lgamma(value + 1)
            + a * b.log()
            - (a + value) * torch.log1p(b)
        )

    @property
    def mean(self) -> torch.Tensor:
        return self.concentration / self.rate

    @property
    def variance(self) -> torch.Tensor:
        return self.concentration / self.rate.pow(2) * (1 + self.rate)
