"""``GaussianScaleMixture``: a mixture of zero-mean diagonal Gaussians sharing one shape.

Component ``k`` is ``Normal(0, component_scale_k * coord_scale)`` (a D-vector), with
weights ``softmax(component_logits)``. ``rsample`` is reparameterized with pathwise
gradients for all three parameters (Jankowiak & Karaletsos 2018):

* ``coord_scale``: ``z = coord_scale * eps`` with ``eps`` independent of it.
* ``component_scale_j``: velocity ``r_j(z) z / s_j``, ``r_j`` the responsibility of ``j``.
* ``component_logits_j``: the mixture of ``eps`` is spherical, so the weights move mass
  only radially; with ``F_k`` the CDF of ``|eps|`` under component ``k`` (a scaled chi
  distribution, ``F_k(r) = P(D/2, r^2 / (2 s_k^2))``) and ``F = sum pi_k F_k``, the radius
  moves at ``dr/dlogit_j = -pi_j (F_j(r) - F(r)) / p(r)``.

These velocities solve the continuity equation, so the gradient estimates are unbiased.

Example:
    >>> import torch
    >>> d = GaussianScaleMixture(torch.ones(2), torch.zeros(2), torch.tensor([1.0, 3.0]))
    >>> d.rsample((5,)).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.autograd.function import once_differentiable
from torch.distributions import constraints

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.torch_dists import Categorical
from ppl.distributions.util import EMPTY_SHAPE

__all__ = ["GaussianScaleMixture"]


class GaussianScaleMixture(TorchDistribution):
    """Mixture of ``K`` zero-mean Gaussians with covariances ``(s_k * coord_scale)^2``.

    Args:
        coord_scale: ``(D,)`` positive per-coordinate scales shared by all components.
        component_logits: ``(K,)`` mixture logits.
        component_scale: ``(K,)`` positive scale multipliers.
    """

    has_rsample = True
    arg_constraints = {
        "component_scale": constraints.positive,
        "coord_scale": constraints.positive,
        "component_logits": constraints.real,
    }
    support = constraints.real_vector

    def __init__(self, coord_scale: torch.Tensor, component_logits: torch.Tensor,
                 component_scale: torch.Tensor) -> None:
        if coord_scale.dim() != 1:
            raise ValueError(
                f"GaussianScaleMixture: coord_scale must be D dimensional, got shape "
                f"{tuple(coord_scale.shape)}")
        if component_logits.dim() != 1 or component_logits.shape != component_scale.shape:
            raise ValueError(
                "GaussianScaleMixture: component_logits and component_scale must both be K "
                f"dimensional, got {tuple(component_logits.shape)} and "
                f"{tuple(component_scale.shape)}")
        self.dim = coord_scale.size(0)
        self.coord_scale = coord_scale
        self.component_logits = component_logits
        self.component_scale = component_scale
        self.categorical = Categorical(logits=component_logits)
        super().__init__(event_shape=torch.Size((self.dim,)))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        eps2 = (value / self.coord_scale).pow(2).sum(-1, keepdim=True)  # (..., 1)
        s = self.component_scale
        per_k = self.categorical.logits - self.dim * s.log() - 0.5 * eps2 / s.pow(2)
        return (torch.logsumexp(per_k, -1) - 0.5 * self.dim * math.log(2 * math.pi)
                - self.coord_scale.log().sum())

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = torch.Size(sample_shape)
        which = self.categorical.sample(shape)
        return _GSMSample.apply(self.coord_scale, self.component_logits, self.component_scale,
                                which, shape + (self.dim,))


def _log_chi_pdf(r: torch.Tensor, scale: torch.Tensor, dim: int) -> torch.Tensor:
    """log density of ``scale * chi_dim`` at ``r`` (``r``: (N, 1), ``scale``: (K,))."""
    x = r / scale
    return ((dim - 1) * x.log() - 0.5 * x * x - (0.5 * dim - 1) * math.log(2)
            - math.lgamma(0.5 * dim) - scale.log())


class _GSMSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, coord_scale: torch.Tensor, logits: torch.Tensor,
                component_scale: torch.Tensor, which: torch.Tensor,
                shape: torch.Size) -> torch.Tensor:
        white = torch.randn(shape, dtype=coord_scale.dtype, device=coord_scale.device)
        eps = component_scale[which].unsqueeze(-1) * white
        ctx.save_for_backward(eps, coord_scale, logits, component_scale)
        return coord_scale * eps

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        eps, coord_scale, logits, s = ctx.saved_tensors
        d = coord_scale.size(0)
        g = grad.reshape(-1, d)
        eps = eps.reshape(-1, d)
        log_pi = torch.log_softmax(logits, -1)
        pi = log_pi.exp()
        # coord_scale: plain reparameterization.
        coord_grad = (g * eps).sum(0)
        # Responsibilities of each component at each draw (isotropic in eps space).
        r2 = eps.pow(2).sum(-1, keepdim=True)  # (N, 1)
        log_joint = log_pi - d * s.log() - 0.5 * r2 / s.pow(2)  # (N, K), up to a constant
        resp = torch.softmax(log_joint, -1)
        g_dot_z = (g * coord_scale * eps).sum(-1, keepdim=True)  # (N, 1)
        scale_grad = (resp * g_dot_z / s).sum(0)
        # Logits: radial transport.
        r = r2.sqrt().clamp(min=torch.finfo(r2.dtype).tiny)
        cdf = torch.special.gammainc(torch.full_like(s, 0.5 * d), 0.5 * r2 / s.pow(2))
        mix_cdf = (pi * cdf).sum(-1, keepdim=True)
        log_pdf = torch.logsumexp(log_pi + _log_chi_pdf(r, s, d), -1, keepdim=True)
        dr = -pi * (cdf - mix_cdf) * torch.exp(-log_pdf)  # (N, K): dr / dlogit_j
        g_radial = g_dot_z / r  # g . dz/dr, since dz/dr = coord_scale * eps / r
        logits_grad = (g_radial * dr).sum(0)
        return coord_grad, logits_grad, scale_grad, None, None
