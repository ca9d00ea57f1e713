"""``MixtureGeneral``: a finite mixture whose components may be of different families.

Design notes
------------
NumPyro's semantics: ``MixtureGeneral(mixing_distribution, component_distributions)``
takes a ``Categorical`` over ``K`` components and a list of ``K`` distributions with a
common event shape; the batch shape is the broadcast of all batch shapes.

* ``log_prob(x) = logsumexp_k(log w_k + log p_k(x))``, the component log-densities
  stacked on a new rightmost dim.
* ``sample`` draws every component (expanded to the batch shape, so broadcast dims get
  independent draws), stacks them on the mixture dim ``-event_dim - 1`` and picks the
  component chosen by the ``Categorical`` with ``gather``.
* ``rsample`` does the same with each component's ``rsample``. The gradient of
  ``gather`` flows into the chosen component only, which is an unbiased pathwise
  gradient as long as the choice itself does not depend on the parameters, that is,
  when the mixing weights carry no gradient. When they do, ``rsample`` raises and
  ``has_rsample`` is ``False``, so an ELBO falls back to a score-function estimator
  for the site instead of silently dropping the weights' gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.distributions import constraints

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.util import (
    EMPTY_SHAPE,
    SizeLike,
    checked_broadcast,
    constraints_equal,
    expand_to,
)

__all__ = ["MixtureGeneral"]


class MixtureGeneral(TorchDistribution):
    """Finite mixture of ``K`` component distributions of any families.

    Args:
        mixing_distribution: a ``Categorical`` whose last parameter dim has size ``K``.
        component_distributions: a list of ``K`` distributions with equal event shapes
            and batch shapes that broadcast with the mixing batch shape.
        support: the mixture's support; required only when the components' supports
            differ (e.g. ``Normal`` mixed with ``HalfNormal``).
        validate_args: torch's per-instance validation flag.

    Raises:
        TypeError: if ``mixing_distribution`` is not a ``Categorical``,
            ``component_distributions`` is not a list of distributions, or ``support``
            is not a ``Constraint``.
        ValueError: if the number of components is not ``K``, event shapes differ,
            batch shapes do not broadcast, or supports differ and ``support`` is None.

    Example:
        >>> import ppl.distributions as dist
        >>> mix = MixtureGeneral(
        ...     dist.Categorical(torch.tensor([0.5, 0.5])),
        ...     [dist.Normal(-1.0, 1.0), dist.Normal(1.0, 1.0)],
        ... )
        >>> round(mix.log_prob(torch.tensor(0.0)).item(), 4)
        -1.4189
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(
        self,
        mixing_distribution: torch.distributions.Categorical,
        component_distributions: Sequence[torch.distributions.Distribution],
        *,
        support: constraints.Constraint | None = None,
        validate_args: bool | None = None,
    ):
        if not isinstance(mixing_distribution, torch.distributions.Categorical):
            raise TypeError(
                f"MixtureGeneral: mixing_distribution must be a Categorical but got "
                f"{type(mixing_distribution).__name__}; use dist.Categorical(probs) with one "
                f"weight per component"
            )
        if isinstance(component_distributions, torch.distributions.Distribution) or not (
            isinstance(component_distributions, Sequence)
        ):
            raise TypeError(
                f"MixtureGeneral: component_distributions must be a list of distributions but "
                f"got {type(component_distributions).__name__}; for one batched distribution "
                f"use MixtureSameFamily"
            )
        components = list(component_distributions)
        for i, d in enumerate(components):
            if not isinstance(d, torch.distributions.Distribution):
                raise TypeError(
                    f"MixtureGeneral: component_distributions[{i}] must be a distribution but "
                    f"got {type(d).__name__}"
                )
        size = mixing_distribution.param_shape[-1]
        if len(components) != size:
            raise ValueError(
                f"MixtureGeneral: the mixing distribution has {size} categories but "
                f"{len(components)} component distributions were given; give one component "
                f"per category"
            )
        event_shape = components[0].event_shape
        for i, d in enumerate(components[1:], start=1):
            if d.event_shape != event_shape:
                raise ValueError(
                    f"MixtureGeneral: component_distributions[{i}] has event_shape="
                    f"{tuple(d.event_shape)} but component 0 has {tuple(event_shape)}; all "
                    f"components need the same event shape"
                )
        if support is None:
            first = components[0].support
            for i, d in enumerate(components[1:], start=1):
                if not constraints_equal(d.support, first):
                    raise ValueError(
                        f"MixtureGeneral: component supports differ (component 0: {first!r}, "
                        f"component {i}: {d.support!r}); pass support=... for the mixture"
                    )
        elif not isinstance(support, constraints.Constraint):
            raise TypeError(
                f"MixtureGeneral: support must be a Constraint but got {type(support).__name__}"
            )
        batch_shape = checked_broadcast(
            "MixtureGeneral: batch shapes of the mixing and component distributions",
            mixing_distribution.batch_shape,
            *(d.batch_shape for d in components),
        )
        self.mixing_distribution = mixing_distribution
        self.component_distributions = components
        self._support = support
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @property
    def mixture_size(self) -> int:
        """The number of components ``K``."""
        return len(self.component_distributions)

    @property
    def mixture_dim(self) -> int:
        """The dim on which component values are stacked: ``-event_dim - 1``."""
        return -self.event_dim - 1

    @constraints.dependent_property
    def support(self) -> constraints.Constraint | None:  # type: ignore[override]
        if self._support is not None:
            return self._support
        return self.component_distributions[0].support

    def _weights_require_grad(self) -> bool:
        return bool(self.mixing_distribution.logits.requires_grad)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return all(d.has_rsample for d in self.component_distributions) and not (
            self._weights_require_grad()
        )

    def expand(self, batch_shape: Any, _instance: Any = None) -> MixtureGeneral:
        new = self._get_checked_instance(MixtureGeneral, _instance)
        batch_shape = torch.Size(batch_shape)
        new.mixing_distribution = self.mixing_distribution.expand(batch_shape)
        new.component_distributions = [
            expand_to(d, batch_shape) for d in self.component_distributions
        ]
        new._support = self._support
        super(MixtureGeneral, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _stack_components(self, values: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(torch.broadcast_tensors(*values), dim=self.mixture_dim)

    def _select(self, draws: list[torch.Tensor], sample_shape: torch.Size) -> torch.Tensor:
        stacked = self._stack_components(draws)  # sample + batch + (K,) + event
        index = self.mixing_distribution.expand(self.batch_shape).sample(sample_shape)
        index = index.reshape(index.shape + (1,) * (self.event_dim + 1))
        index = index.expand(index.shape[: index.dim() - self.event_dim] + self.event_shape)
        return stacked.gather(self.mixture_dim, index).squeeze(self.mixture_dim)

    def _components_at_batch_shape(self) -> list[torch.distributions.Distribution]:
        return [expand_to(d, self.batch_shape) for d in self.component_distributions]

    def sample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        with torch.no_grad():
            draws = [d.sample(sample_shape) for d in self._components_at_batch_shape()]
            return self._select(draws, sample_shape)

    def rsample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        if self._weights_require_grad():
            raise NotImplementedError(
                "MixtureGeneral.rsample: the mixing weights require grad, and no pathwise "
                "gradient flows through the discrete choice of component; detach them "
                "(e.g. Categorical(probs.detach())) or use .sample() with a score-function "
                "estimator (has_rsample is False here, so Trace_ELBO does that by itself)"
            )
        for i, d in enumerate(self.component_distributions):
            if not d.has_rsample:
                raise NotImplementedError(
                    f"MixtureGeneral.rsample: component_distributions[{i}] "
                    f"({type(d).__name__}) has no rsample; use .sample() instead"
                )
        sample_shape = torch.Size(sample_shape)
        draws = [d.rsample(sample_shape) for d in self._components_at_batch_shape()]
        return self._select(draws, sample_shape)

    def component_log_probs(self, value: torch.Tensor) -> torch.Tensor:
        """``log w_k + log p_k(value)`` stacked on a new rightmost dim of size ``K``.

        Returns:
            A tensor of shape ``sample_shape + batch_shape + (K,)``.
        """
        log_probs = torch.stack(
            torch.broadcast_tensors(*(d.log_prob(value) for d in self.component_distributions)),
            dim=-1,
        )
        return log_probs + self.mixing_distribution.logits

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return torch.logsumexp(self.component_log_probs(value), dim=-1)

    def _weights_for_components(self) -> torch.Tensor:
        probs = self.mixing_distribution.probs
        return probs.reshape(probs.shape + (1,) * self.event_dim)

    @property
    def mean(self) -> torch.Tensor:
        means = self._stack_components([d.mean for d in self.component_distributions])
        return (self._weights_for_components() * means).sum(self.mixture_dim)

    @property
    def variance(self) -> torch.Tensor:
        w = self._weights_for_components()
        means = self._stack_components([d.mean for d in self.component_distributions])
        variances = self._stack_components([d.variance for d in self.component_distributions])
        mean = (w * means).sum(self.mixture_dim, keepdim=True)
        return (w * (variances + (means - mean) ** 2)).sum(self.mixture_dim)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        if self.event_dim:
            raise NotImplementedError(
                "MixtureGeneral.cdf is defined only for scalar events (event_shape=())"
            )
        cdfs = torch.stack(
            torch.broadcast_tensors(*(d.cdf(value) for d in self.component_distributions)),
            dim=-1,
        )
        return (cdfs * self.mixing_distribution.probs).sum(-1)
