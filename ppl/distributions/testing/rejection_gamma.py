"""Gamma-family distributions whose ``rsample`` uses rejection sampling.

* ``RejectionStandardGamma`` -- Marsaglia & Tsang's sampler for ``Gamma(a, 1)``,
  ``a >= 1``: propose ``x = d (1 + c e)^3`` with ``e ~ Normal(0, 1)``, ``d = a - 1/3``,
  ``c = 1 / sqrt(9 d)``, accept with probability ``exp(e^2/2 + d (1 - v + log v))``,
  ``v = x / d``. As a :class:`~ppl.distributions.rejector.Rejector` its gradients are
  the reparameterized-rejection estimator of Naesseth et al. (2017).
* ``RejectionGamma`` -- the same, rescaled by ``rate``.
* ``ShapeAugmentedGamma`` -- Naesseth et al.'s shape augmentation: sample
  ``Gamma(a + boost)`` and multiply by ``U_i^(1 / (a + i))``, which also covers ``a < 1``.
* ``ShapeAugmentedDirichlet``, ``ShapeAugmentedBeta`` -- normalised shape-augmented gammas.

Example:
    >>> import torch
    >>> g = RejectionGamma(torch.tensor([2.0]), torch.tensor([3.0]))
    >>> torch.allclose(g.log_prob(torch.tensor([0.5])),
    ...                torch.distributions.Gamma(2.0, 3.0).log_prob(torch.tensor([0.5])))
    True
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ppl.distributions.rejector import Rejector
from ppl.distributions.score_parts import ScoreParts
from ppl.distributions.torch_dists import Beta, Dirichlet, Gamma
from ppl.distributions.util import EMPTY_SHAPE, copy_docs_from, weakmethod

__all__ = [
    "RejectionGamma",
    "RejectionStandardGamma",
    "ShapeAugmentedBeta",
    "ShapeAugmentedDirichlet",
    "ShapeAugmentedGamma",
]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@copy_docs_from(Gamma)
class RejectionStandardGamma(Rejector):
    """``Gamma(concentration, 1)`` by Marsaglia-Tsang rejection (``concentration >= 1``).

    Raises:
        NotImplementedError: if some ``concentration < 1`` (use ``ShapeAugmentedGamma``).
    """

    def __init__(self, concentration: torch.Tensor) -> None:
        if bool((concentration.detach() < 1).any()):
            raise NotImplementedError(
                "RejectionStandardGamma: concentration < 1 is not supported; "
                "use ShapeAugmentedGamma(concentration, rate, boost=1)"
            )
        self._setup(concentration)

    def _setup(self, concentration: torch.Tensor) -> None:
        self.concentration = concentration
        self._standard_gamma = Gamma(concentration, torch.ones_like(concentration))
        self._d = concentration - 1.0 / 3.0
        self._c = (9.0 * self._d).rsqrt()
        # log Z = log q(x) + log a(x) - log p(x), the same for every x; take x = d.
        x = self._d.detach()
        log_scale = self.propose_log_prob(x) + self.log_prob_accept(x) - self.log_prob(x)
        Rejector.__init__(self, self.propose, self.log_prob_accept, log_scale,
                          batch_shape=concentration.shape, event_shape=())

    def expand(self, batch_shape: Any, _instance: Any = None) -> RejectionStandardGamma:
        new = self._get_checked_instance(RejectionStandardGamma, _instance)
        new._setup(self.concentration.expand(torch.Size(batch_shape)))
        new._validate_args = self._validate_args
        return new

    @weakmethod
    def propose(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        a = self.concentration
        e = torch.randn(torch.Size(sample_shape) + a.shape, dtype=a.dtype, device=a.device)
        y = 1.0 + self._c * e
        return (self._d * y.pow(3)).clamp(1e-30, 1e30)

    def _eps(self, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        v = value / self._d
        y = v.pow(1.0 / 3.0)
        return v, y, (y - 1.0) / self._c

    def propose_log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log density of a proposal: the standard normal pushed through ``d (1 + c e)^3``."""
        _, y, e = self._eps(value)
        log_jacobian = torch.log(3.0 * self._d * self._c * y.pow(2))
        return -0.5 * e.pow(2) - _HALF_LOG_2PI - log_jacobian

    @weakmethod
    def log_prob_accept(self, value: torch.Tensor) -> torch.Tensor:
        v, y, e = self._eps(value)
        result = 0.5 * e.pow(2) + self._d * (1.0 - v + torch.log(v))
        return result.masked_fill(y <= 0, -math.inf)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self._standard_gamma.log_prob(value)


@copy_docs_from(Gamma)
class RejectionGamma(Gamma):
    """``Gamma(concentration, rate)`` as ``RejectionStandardGamma(concentration) / rate``."""

    has_rsample = True

    def __init__(self, concentration: torch.Tensor, rate: torch.Tensor,
                 validate_args: bool | None = None) -> None:
        super().__init__(concentration, rate, validate_args=validate_args)
        self._standard_gamma = RejectionStandardGamma(self.concentration)

    def expand(self, batch_shape: Any, _instance: Any = None) -> RejectionGamma:
        new = self._get_checked_instance(RejectionGamma, _instance)
        new = super().expand(batch_shape, new)
        new._standard_gamma = self._standard_gamma.expand(batch_shape)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        return self._standard_gamma.rsample(sample_shape) / self.rate

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self._standard_gamma.log_prob(value * self.rate) + self.rate.log()

    def score_parts(self, value: torch.Tensor) -> ScoreParts:
        parts = self._standard_gamma.score_parts(value * self.rate)
        log_prob = parts.log_prob + self.rate.log()
        return ScoreParts(log_prob=log_prob, score_function=parts.score_function,
                          entropy_term=log_prob)


@copy_docs_from(Gamma)
class ShapeAugmentedGamma(Gamma):
    """``Gamma(concentration, rate)`` by shape augmentation with ``boost`` uniforms.

    ``score_parts`` must be called on the value most recently returned by ``rsample``
    (the un-boosted draw it needs is cached there).

    Raises:
        ValueError: if ``concentration + boost < 1`` somewhere.
    """

    has_rsample = True

    def __init__(self, concentration: torch.Tensor, rate: torch.Tensor, boost: int = 1,
                 validate_args: bool | None = None) -> None:
        smallest = float(concentration.detach().min())
        if smallest + boost < 1:
            raise ValueError(
                f"ShapeAugmentedGamma: concentration + boost must be >= 1; got min "
                f"concentration {smallest} with boost={boost}"
            )
        super().__init__(concentration, rate, validate_args=validate_args)
        self._boost = boost
        self._rejection_gamma = RejectionGamma(self.concentration + boost, self.rate)
        self._unboost_x_cache: tuple[Any, Any] = (None, None)

    def expand(self, batch_shape: Any, _instance: Any = None) -> ShapeAugmentedGamma:
        new = self._get_checked_instance(ShapeAugmentedGamma, _instance)
        new = super().expand(batch_shape, new)
        new._boost = self._boost
        new._rejection_gamma = self._rejection_gamma.expand(batch_shape)
        new._unboost_x_cache = (None, None)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        x = self._rejection_gamma.rsample(sample_shape)
        boosted = x
        for i in range(self._boost):
            u = torch.rand(x.shape, dtype=x.dtype, device=x.device)
            boosted = boosted * (1 - u).pow((i + self.concentration).reciprocal())
        self._unboost_x_cache = (boosted, x)
        return boosted

    def score_parts(self, boosted_x: torch.Tensor | None = None) -> ScoreParts:
        if boosted_x is None:
            boosted_x = self._unboost_x_cache[0]
        if boosted_x is not self._unboost_x_cache[0]:
            raise ValueError(
                "ShapeAugmentedGamma.score_parts: value must be the latest rsample() result"
            )
        _, score_function, _ = self._rejection_gamma.score_parts(self._unboost_x_cache[1])
        log_prob = self.log_prob(boosted_x)
        return ScoreParts(log_prob=log_prob, score_function=score_function,
                          entropy_term=log_prob)


@copy_docs_from(Dirichlet)
class ShapeAugmentedDirichlet(Dirichlet):
    """``Dirichlet`` whose ``rsample`` normalises ``ShapeAugmentedGamma`` draws."""

    def __init__(self, concentration: torch.Tensor, boost: int = 1,
                 validate_args: bool | None = None) -> None:
        super().__init__(concentration, validate_args=validate_args)
        self._gamma = ShapeAugmentedGamma(concentration, torch.ones_like(concentration), boost)

    def expand(self, batch_shape: Any, _instance: Any = None) -> ShapeAugmentedDirichlet:
        new = self._get_checked_instance(ShapeAugmentedDirichlet, _instance)
        new = super().expand(batch_shape, new)
        event = self._gamma.concentration.shape[-1:]
        new._gamma = self._gamma.expand(torch.Size(batch_shape) + event)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        g = self._gamma.rsample(sample_shape)
        return g / g.sum(-1, keepdim=True)


@copy_docs_from(Beta)
class ShapeAugmentedBeta(Beta):
    """``Beta`` whose ``rsample`` is the first part of two normalised augmented gammas."""

    def __init__(self, concentration1: torch.Tensor, concentration0: torch.Tensor,
                 boost: int = 1, validate_args: bool | None = None) -> None:
        super().__init__(concentration1, concentration0, validate_args=validate_args)
        both = torch.stack([self.concentration1, self.concentration0], -1)
        self._gamma = ShapeAugmentedGamma(both, torch.ones_like(both), boost)

    def expand(self, batch_shape: Any, _instance: Any = None) -> ShapeAugmentedBeta:
        new = self._get_checked_instance(ShapeAugmentedBeta, _instance)
        new = super().expand(batch_shape, new)
        new._gamma = self._gamma.expand(torch.Size(batch_shape) + (2,))
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        g = self._gamma.rsample(sample_shape)
        return (g / g.sum(-1, keepdim=True))[..., 0]
