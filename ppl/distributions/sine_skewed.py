"""``SineSkewed``: break the symmetry of a torus distribution by a sine factor.

For a base density ``f`` on the ``d``-torus that is symmetric about its mean ``mu``,
``p(x) = f(x) * (1 + sum_i skew_i sin(x_i - mu_i))`` is again normalised when
``sum_i |skew_i| <= 1`` (Ameijeiras-Alonso & Ley, 2019). Sampling draws ``y`` from the
base and keeps it with probability ``(1 + sum skew sin(y - mu)) / 2``, else reflects
it to ``2 mu - y``.

Example:
    >>> import math, torch
    >>> from ppl.distributions.torch_dists import Uniform
    >>> base = Uniform(torch.tensor([-math.pi]), torch.tensor([math.pi])).to_event(1)
    >>> d = SineSkewed(base, torch.tensor([0.5]))
    >>> round(float(d.log_prob(torch.tensor([math.pi / 2])).exp() * 2 * math.pi), 4)
    1.5
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from ppl.distributions import constraints
from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.util import EMPTY_SHAPE, check_event_shape

__all__ = ["SineSkewed"]

_TWO_PI = 2 * math.pi


class SineSkewed(TorchDistribution):
    """Sine-skewed version of a symmetric distribution on the torus.

    Args:
        base_dist: base distribution with ``event_shape == (d,)`` on ``[-pi, pi)^d``
            (e.g. ``VonMises(...).to_event(1)``, ``SineBivariateVonMises``,
            ``Uniform(-pi, pi).to_event(1)``).
        skewness: shape ``(..., d)``, each in ``[-1, 1]`` with ``sum |skewness| <= 1``.
    """

    arg_constraints = {"skewness": constraints.independent(constraints.interval(-1.0, 1.0), 1)}
    support = constraints.independent(constraints.real, 1)

    def __init__(self, base_dist: Any, skewness: torch.Tensor,
                 validate_args: bool | None = None) -> None:
        if base_dist.event_shape != skewness.shape[-1:]:
            raise ValueError(
                f"Sine Skewing is only valid with a skewness parameter for each dimension of "
                f"`base_dist.event_shape`; got event_shape {tuple(base_dist.event_shape)} and "
                f"skewness of shape {tuple(skewness.shape)}"
            )
        if bool((skewness.abs().sum(-1) > 1.0).any()):
            warnings.warn("Total skewness weight shouldn't exceed one.", UserWarning,
                          stacklevel=2)
        batch_shape = torch.broadcast_shapes(base_dist.batch_shape, skewness.shape[:-1])
        event_shape = skewness.shape[-1:]
        self.skewness = skewness.broadcast_to(batch_shape + event_shape)
        self.base_dist = base_dist.expand(batch_shape)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        if self._validate_args and base_dist.mean.device != skewness.device:
            raise ValueError(
                f"base_density: {type(base_dist).__name__} and SineSkewed must be on same device."
            )

    def __repr__(self) -> str:
        s = self.skewness
        shown = s if s.numel() == 1 else s.size()
        return f"{type(self).__name__}(base_density: {self.base_dist}, skewness: {shown})"

    def _skew_factor(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skewness * torch.sin((x - self.base_dist.mean) % _TWO_PI)).sum(-1)

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        base = self.base_dist
        y = base.sample(sample_shape)
        u = torch.rand(sample_shape + self.batch_shape, dtype=self.skewness.dtype,
                       device=self.skewness.device)
        keep = (u <= 0.5 + 0.5 * self._skew_factor(y)).unsqueeze(-1)
        x = torch.where(keep, y, 2 * base.mean - y)
        return (x + math.pi) % _TWO_PI - math.pi

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        check_event_shape(self, value)
        if self._validate_args:
            self._validate_sample(value)
        return self.base_dist.log_prob(value) + torch.log1p(self._skew_factor(value))

    def expand(self, batch_shape: Any, _instance: Any = None) -> SineSkewed:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(SineSkewed, _instance)
        new.base_dist = self.base_dist.expand(batch_shape)
        new.skewness = self.skewness.expand(batch_shape + (-1,))
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
