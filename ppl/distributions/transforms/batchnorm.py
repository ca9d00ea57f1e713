"""Batch normalization as a flow (Dinh et al. 2017, RealNVP, appendix E)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ppl.distributions import constraints
from ppl.distributions.torch_transform import TransformModule

__all__ = ["BatchNorm", "batchnorm"]


class BatchNorm(TransformModule):
    """Elementwise batch-norm bijection (Pyro's ``BatchNorm``).

    The *inverse* (data ``y`` -> base ``x``) normalizes:
    ``x = (y - mean) / sqrt(var + eps) * gamma + beta`` with ``gamma = relu(gamma') + 1e-6``.
    In training mode ``mean``/``var`` are the statistics of the batch (dim 0) and the
    moving averages are updated; in eval mode the moving averages are used. The forward
    (sampling) direction always uses the moving averages.

    Args:
        input_dim: event size ``D``.
        momentum: weight of the new batch in the moving averages.
        epsilon: added to the variance.

    Example:
        >>> bn = BatchNorm(2).eval()
        >>> y = torch.randn(5, 2)
        >>> torch.allclose(bn(bn.inv(y)), y, atol=1e-6)
        True
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True

    moving_mean: torch.Tensor
    moving_variance: torch.Tensor

    def __init__(self, input_dim: int, momentum: float = 0.1, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.gamma = nn.Parameter(torch.ones(input_dim))
        self.beta = nn.Parameter(torch.zeros(input_dim))
        self.momentum = momentum
        self.epsilon = epsilon
        self.register_buffer("moving_mean", torch.zeros(input_dim))
        self.register_buffer("moving_variance", torch.ones(input_dim))

    @property
    def constrained_gamma(self) -> torch.Tensor:
        """The positive scale ``relu(gamma) + 1e-6``."""
        return F.relu(self.gamma) + 1e-6

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        std = torch.sqrt(self.moving_variance + self.epsilon)
        return (x - self.beta) / self.constrained_gamma * std + self.moving_mean

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean, var = y.mean(0), y.var(0)
            with torch.no_grad():
                self.moving_mean.mul_(1 - self.momentum).add_(mean * self.momentum)
                self.moving_variance.mul_(1 - self.momentum).add_(var * self.momentum)
        else:
            mean, var = self.moving_mean, self.moving_variance
        return (y - mean) * self.constrained_gamma / torch.sqrt(var + self.epsilon) + self.beta

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Elementwise ``log dy/dx = log sqrt(var + eps) - log gamma`` (batch var in training)."""
        var = torch.var(y, dim=0, keepdim=True) if self.training else self.moving_variance
        return -self.constrained_gamma.log() + 0.5 * torch.log(var + self.epsilon)


def batchnorm(input_dim: int, **kwargs: float) -> BatchNorm:
    """A :class:`BatchNorm` flow (``momentum``, ``epsilon`` as its constructor)."""
    return BatchNorm(input_dim, **kwargs)
