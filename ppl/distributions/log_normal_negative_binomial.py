"""``LogNormalNegativeBinomial``: a Negative Binomial with Normal noise on its logits.

``p(y) = integral Normal(e | 0, sigma) NB(y | total_count, logits + e) de``, evaluated by
Gauss-Hermite quadrature with ``num_quad_points`` nodes. The mean is
``total_count * exp(logits + sigma^2 / 2)`` and the variance
``mean + (exp(sigma^2) (1 + 1/total_count) - 1) mean^2``.

Example:
    >>> import torch
    >>> d = LogNormalNegativeBinomial(5.0, torch.tensor(-1.0), torch.tensor(0.5))
    >>> d.log_prob(torch.arange(200.0)).exp().sum().round(decimals=4)
    tensor(1.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all, lazy_property

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.torch_dists import NegativeBinomial
from ppl.distributions.util import EMPTY_SHAPE
from ppl.ops.tensor import broadcast_shape

__all__ = ["LogNormalNegativeBinomial", "gauss_hermite_rule"]


def gauss_hermite_rule(num_points: int,
                       like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and log-weights integrating against the standard normal density.

    ``sum(exp(log_w) * f(x))`` approximates ``E[f(e)]`` for ``e ~ Normal(0, 1)``.
    The tensors take ``like``'s dtype and device.

    Example:
        >>> x, log_w = gauss_hermite_rule(16, torch.zeros(()))
        >>> round(float((log_w.exp() * x ** 2).sum()), 5)
        1.0
    """
    nodes, weights = np.polynomial.hermite.hermgauss(num_points)
    x = torch.as_tensor(nodes * math.sqrt(2.0), dtype=like.dtype, device=like.device)
    log_w = torch.as_tensor(np.log(weights) - 0.5 * math.log(math.pi), dtype=like.dtype,
                            device=like.device)
    return x, log_w


class LogNormalNegativeBinomial(TorchDistribution):
    """Negative Binomial counts with log-normal multiplicative noise on the rate.

    Args:
        total_count: non-negative number of failures.
        logits: log-odds of the underlying Negative Binomial.
        multiplicative_noise_scale: positive scale of the Normal noise on the logits.
        num_quad_points: quadrature nodes for ``log_prob`` (>= 1, default 8).
    """

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0),
        "logits": constraints.real,
        "multiplicative_noise_scale": constraints.positive,
    }
    support = constraints.nonnegative_integer

    def __init__(self, total_count: Any, logits: Any, multiplicative_noise_scale: Any, *,
                 num_quad_points: int = 8, validate_args: bool | None = None) -> None:
        if num_quad_points < 1:
            raise ValueError(
                f"LogNormalNegativeBinomial: num_quad_points must be positive, got "
                f"{num_quad_points}"
            )
        total_count, logits, scale = broadcast_all(total_count, logits,
                                                   multiplicative_noise_scale)
        self.quad_points, self.log_weights = gauss_hermite_rule(num_quad_points, logits)
        quad_logits = logits.unsqueeze(-1) + scale.unsqueeze(-1) * self.quad_points
        self.nb_dist = NegativeBinomial(total_count=total_count.unsqueeze(-1),
                                        logits=quad_logits)
        self.total_count = total_count
        self.logits = logits
        self.multiplicative_noise_scale = scale
        self.num_quad_points = num_quad_points
        batch_shape = broadcast_shape(scale.shape, self.nb_dist.batch_shape[:-1])
        super().__init__(batch_shape, torch.Size(), validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        nb = self.nb_dist.log_prob(value.unsqueeze(-1))
        return torch.logsumexp(self.log_weights + nb, dim=-1)

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        raise NotImplementedError("LogNormalNegativeBinomial.sample is not implemented (as Pyro)")

    def expand(self, batch_shape: Any, _instance: Any = None) -> LogNormalNegativeBinomial:
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        LogNormalNegativeBinomial.__init__(
            new,
            self.total_count.expand(batch_shape),
            self.logits.expand(batch_shape),
            self.multiplicative_noise_scale.expand(batch_shape),
            num_quad_points=self.num_quad_points,
            validate_args=False,
        )
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def mean(self) -> torch.Tensor:
        s = self.multiplicative_noise_scale
        return torch.exp(self.logits + self.total_count.log() + 0.5 * s.pow(2))

    @lazy_property
    def variance(self) -> torch.Tensor:
        s = self.multiplicative_noise_scale
        kappa = torch.exp(s.pow(2)) * (1 + self.total_count.reciprocal()) - 1
        return self.mean + kappa * self.mean.pow(2)
