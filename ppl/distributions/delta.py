"""``Delta``: a point mass, used to put a deterministic value at a sample site.

Design notes
------------
``rsample`` returns ``v`` expanded to ``sample_shape + v.shape``, so gradients flow from
the site's value back into ``v``; that is how a guide reparameterizes a latent as a
function of auxiliary draws (seed 002: ``x = sample("x", Delta(c * u1 - s * u2))``).
``log_prob`` is ``log_density`` where ``value == v`` (all event entries equal) and
``-inf`` elsewhere; ``log_density`` carries a Jacobian term when the point mass stands
for a transformed density. The rightmost ``event_dim`` dims of ``v`` form the event.
"""

from __future__ import annotations

import math
from numbers import Number
from typing import Any

import torch
from torch.distributions import constraints

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.util import EMPTY_SHAPE, SizeLike
from ppl.ops.tensor import sum_rightmost

__all__ = ["Delta"]


class Delta(TorchDistribution):
    """Point mass at ``v`` with optional log-density ``log_density``.

    Args:
        v: the support point, a tensor of shape ``batch_shape + event_shape`` (numbers
            are converted to tensors of the default dtype).
        log_density: a number or a tensor broadcastable to ``batch_shape``, added to
            ``log_prob`` at ``v``.
        event_dim: how many rightmost dims of ``v`` form the event.
        validate_args: torch's per-instance validation flag.

    Raises:
        TypeError: if ``v`` is not a tensor or a number, or ``event_dim`` not an int.
        ValueError: if ``event_dim`` is negative or exceeds ``v.dim()``, or
            ``log_density`` does not broadcast to ``batch_shape``.

    Example:
        >>> d = Delta(torch.tensor([1.0, 2.0]), event_dim=1)
        >>> d.log_prob(torch.tensor([1.0, 2.0])), d.log_prob(torch.tensor([1.0, 3.0]))
        (tensor(0.), tensor(-inf))
    """

    has_rsample = True

    def __init__(
        self,
        v: torch.Tensor | float,
        log_density: torch.Tensor | float = 0.0,
        event_dim: int = 0,
        validate_args: bool | None = None,
    ):
        if isinstance(v, Number) and not isinstance(v, bool):
            v = torch.tensor(float(v))  # type: ignore[arg-type]
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"Delta: v must be a tensor or a number but got {type(v).__name__}")
        if isinstance(event_dim, bool) or not isinstance(event_dim, int):
            raise TypeError(f"Delta: event_dim must be an int but got {type(event_dim).__name__}")
        if not 0 <= event_dim <= v.dim():
            raise ValueError(
                f"Delta: event_dim={event_dim} must be between 0 and v.dim()={v.dim()} "
                f"(v.shape={tuple(v.shape)}); pass event_dim <= {v.dim()}"
            )
        batch_dim = v.dim() - event_dim
        batch_shape, event_shape = v.shape[:batch_dim], v.shape[batch_dim:]
        dtype = v.dtype if v.is_floating_point() else torch.get_default_dtype()
        if isinstance(log_density, torch.Tensor):
            try:
                log_density = log_density.to(dtype).expand(batch_shape)
            except RuntimeError:
                raise ValueError(
                    f"Delta: log_density.shape={tuple(log_density.shape)} does not broadcast "
                    f"to batch_shape={tuple(batch_shape)} (v.shape={tuple(v.shape)}, "
                    f"event_dim={event_dim}); give log_density one value per batch element"
                ) from None
        elif isinstance(log_density, Number):
            log_density = v.new_full(batch_shape, float(log_density), dtype=dtype)  # type: ignore[arg-type]
        else:
            raise TypeError(
                f"Delta: log_density must be a tensor or a number but got "
                f"{type(log_density).__name__}"
            )
        self.v = v
        self.log_density = log_density
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:  # type: ignore[override]
        return {"v": self.support, "log_density": constraints.real}

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        if self.event_dim == 0:
            return constraints.real
        return constraints.independent(constraints.real, self.event_dim)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Delta:
        new = self._get_checked_instance(Delta, _instance)
        batch_shape = torch.Size(batch_shape)
        new.v = self.v.expand(batch_shape + self.event_shape)
        new.log_density = self.log_density.expand(batch_shape)
        super(Delta, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        return self.v.expand(torch.Size(sample_shape) + self.v.shape)

    def sample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        return self.rsample(sample_shape).detach()

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        hit = sum_rightmost((value != self.v).to(self.log_density.dtype), self.event_dim) == 0
        miss = self.log_density.new_full((), -math.inf)
        return torch.where(hit, self.log_density, miss)

    @property
    def mean(self) -> torch.Tensor:
        return self.v

    @property
    def variance(self) -> torch.Tensor:
        return torch.zeros_like(self.v)
