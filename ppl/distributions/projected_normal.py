"""``ProjectedNormal``: the direction ``x / |x|`` of ``x ~ Normal(concentration, I)``.

A distribution on the unit sphere of any dimension with a reparameterized sampler.
The density at a unit vector ``v`` integrates the Gaussian along the ray ``r v``:

    p(v) = (2 pi)^(-(d-1)/2) exp(-(|c|^2 - t^2) / 2) * M_{d-1}(t),   t = c . v,

where ``M_k(t) = integral_0^inf r^k phi(r - t) dr`` obeys
``M_0 = Phi(t)``, ``M_1 = t Phi(t) + phi(t)``, ``M_k = t M_{k-1} + (k-1) M_{k-2}``.
The recursion runs on ``M_k / phi(t)`` (through ``erfcx``) in double precision, so
``log_prob`` works in every dimension and stays finite for strongly concentrated
distributions.

Example:
    >>> import torch
    >>> d = ProjectedNormal(torch.zeros(3))  # uniform on the 2-sphere
    >>> round(float(d.log_prob(torch.tensor([0.0, 0.0, 1.0])).exp() * 4 * 3.14159265), 4)
    1.0
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ppl.distributions import constraints
from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.util import EMPTY_SHAPE, check_event_shape

__all__ = ["ProjectedNormal", "safe_normalize"]


def safe_normalize(x: torch.Tensor, *, p: float = 2) -> torch.Tensor:
    """``x / |x|_p`` along the last dim, mapping the zero vector to ``[1, 0, ..., 0]``.

    Example:
        >>> safe_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        tensor([[0.6000, 0.8000],
                [1.0000, 0.0000]])
    """
    norm = torch.linalg.vector_norm(x, ord=p, dim=-1, keepdim=True)
    y = x / norm.clamp(min=torch.finfo(x.dtype).tiny)
    first = torch.zeros(x.size(-1), dtype=x.dtype, device=x.device)
    first[0] = 1
    return torch.where(norm > 0, y, first)


def _moment_recursion(k: int, m0: torch.Tensor, m1: torch.Tensor,
                      t: torch.Tensor) -> torch.Tensor:
    if k == 0:
        return m0
    prev, cur = m0, m1
    for j in range(2, k + 1):
        prev, cur = cur, t * cur + (j - 1) * prev
    return cur


def _log_ray_moment(k: int, t: torch.Tensor) -> torch.Tensor:
    """``log integral_0^inf r^k phi(r - t) dr`` (double precision in, double out).

    For ``t >= 0`` every term of the recursion is positive, so it runs on the moments
    themselves. For ``t < 0`` they underflow, so it runs on ``M_k / phi(t)``, starting
    from ``Phi(t) / phi(t) = sqrt(pi / 2) erfcx(-t / sqrt(2))``. Each branch sees only
    its own half-line, so neither produces inf/nan values or gradients.
    """
    tiny = torch.finfo(t.dtype).tiny
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    tp = t.clamp(min=0)
    cdf = torch.special.ndtr(tp)
    pdf = torch.exp(-0.5 * tp * tp - half_log_2pi)
    direct = _moment_recursion(k, cdf, tp * cdf + pdf, tp).clamp(min=tiny).log()
    tn = t.clamp(max=0)
    ratio = math.sqrt(math.pi / 2) * torch.special.erfcx(-tn / math.sqrt(2))
    scaled = _moment_recursion(k, ratio, tn * ratio + 1, tn).clamp(min=tiny).log()
    scaled = scaled - 0.5 * tn * tn - half_log_2pi
    return torch.where(t >= 0, direct, scaled)


class ProjectedNormal(TorchDistribution):
    """Projected isotropic normal on the unit sphere.

    Args:
        concentration: a vector whose direction is the mode and whose length is the
            concentration; shape ``batch_shape + (dim,)``.
    """

    arg_constraints = {"concentration": constraints.real_vector}
    support = constraints.sphere
    has_rsample = True

    def __init__(self, concentration: torch.Tensor, *, validate_args: bool | None = None) -> None:
        if concentration.dim() < 1:
            raise ValueError(
                "ProjectedNormal: concentration must have a rightmost (event) dim, got a "
                "0-dim tensor"
            )
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:],
                         validate_args=validate_args)

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        concentration: Any,
    ) -> tuple[torch.Size, torch.Size]:
        return torch.Size(tuple(concentration)[:-1]), torch.Size(tuple(concentration)[-1:])

    def expand(self, batch_shape: Any, _instance: Any = None) -> ProjectedNormal:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(ProjectedNormal, _instance)
        new.concentration = self.concentration.expand(batch_shape + (-1,))
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self.__dict__.get("_validate_args")
        return new

    @property
    def mean(self) -> torch.Tensor:
        """The mode direction (the Frechet mean on the sphere), not the Euclidean mean."""
        return safe_normalize(self.concentration)

    @property
    def mode(self) -> torch.Tensor:
        return safe_normalize(self.concentration)

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        c = self.concentration
        return safe_normalize(c + torch.randn(shape, dtype=c.dtype, device=c.device))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        check_event_shape(self, value)
        if self._validate_args:
            self._validate_sample(value)
        dim = self.concentration.size(-1)
        c, v = self.concentration.double(), value.double()
        t = (c * v).sum(-1)
        r2 = (c * c).sum(-1) - t * t
        perp = -0.5 * r2 - 0.5 * (dim - 1) * math.log(2 * math.pi)
        return (perp + _log_ray_moment(dim - 1, t)).to(torch.promote_types(
            self.concentration.dtype, value.dtype))
