"""Mixtures of diagonal Normals with pathwise ``rsample`` gradients.

* ``MixtureOfDiagNormals(locs, coord_scale, component_logits)`` -- ``K`` components with
  their own means and per-coordinate scales (``... x K x D``).
* ``MixtureOfDiagNormalsSharedCovariance(locs, coord_scale, component_logits)`` -- the
  same with one scale vector ``(..., D)`` shared by all components.

Gradients of a sample solve the continuity equation ``dq/dtheta + div(q v) = 0``
(Jankowiak & Karaletsos 2018), so they are unbiased:

* mean ``mu_kd`` and scale ``sigma_kd``: ``v = r_k(z) e_d`` and
  ``v = r_k(z) (z_d - mu_kd) / sigma_kd e_d``, with ``r_k`` the responsibility of ``k``;
* logit ``l_j`` (``dq/dl_j = pi_j (N_j - q)``): mass moves one coordinate at a time
  between ``T_{d-1} = q(z_{<d}) N_j(z_{>=d})`` and ``T_d = q(z_{<=d}) N_j(z_{>d})``
  (marginals of the mixture times the component-``j`` factors), giving
  ``q v_d = -pi_j N_j(z_{>d}) sum_k pi_k N_k(z_{<d}) (Phi_jd(z_d) - Phi_kd(z_d))``.

Example:
    >>> import torch
    >>> d = MixtureOfDiagNormals(torch.zeros(3, 2), torch.ones(3, 2), torch.zeros(3))
    >>> d.rsample((4,)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.autograd.function import once_differentiable
from torch.distributions import constraints

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.torch_dists import Categorical
from ppl.distributions.util import EMPTY_SHAPE, check_event_shape

__all__ = ["MixtureOfDiagNormals", "MixtureOfDiagNormalsSharedCovariance"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _mixture_log_prob(value: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor,
                      logits: torch.Tensor) -> torch.Tensor:
    eps = (value.unsqueeze(-2) - locs) / scales
    per_k = (torch.log_softmax(logits, -1) - 0.5 * eps.pow(2).sum(-1) - scales.log().sum(-1)
             - locs.size(-1) * _HALF_LOG_2PI)
    return torch.logsumexp(per_k, -1)


def _select(params: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """``params[..., which, :]`` for ``params`` (B..., K, D) and ``which`` (S..., B...)."""
    d = params.size(-1)
    idx = which.unsqueeze(-1).unsqueeze(-1).expand(which.shape + (1, d))
    return params.expand(which.shape + params.shape[-2:]).gather(-2, idx).squeeze(-2)


class _MixtureSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, locs: torch.Tensor, scales: torch.Tensor, logits: torch.Tensor,
                which: torch.Tensor) -> torch.Tensor:
        loc, scale = _select(locs, which), _select(scales, which)
        z = loc + scale * torch.randn_like(loc)
        ctx.save_for_backward(z, locs, scales, logits)
        return z

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        z, locs, scales, logits = ctx.saved_tensors
        dtype = z.dtype
        batch_dims = locs.dim() - 2
        z, g = z.double(), grad.double()
        mu, sig = locs.double(), scales.double()
        log_pi = torch.log_softmax(logits.double(), -1)  # (B, K)
        u = (z.unsqueeze(-2) - mu) / sig  # (S, B, K, D)
        log_phi = -0.5 * u * u - sig.log() - _HALF_LOG_2PI
        log_joint = log_pi + log_phi.sum(-1)  # (S, B, K)
        log_q = torch.logsumexp(log_joint, -1)  # (S, B)
        resp = (log_joint - log_q.unsqueeze(-1)).exp()
        gk = g.unsqueeze(-2)  # (S, B, 1, D)
        sample_dims = tuple(range(g.dim() - 1 - batch_dims))
        locs_grad = (resp.unsqueeze(-1) * gk).sum(sample_dims)
        scales_grad = (resp.unsqueeze(-1) * gk * u).sum(sample_dims)
        # Logits: coordinate-by-coordinate transport (see the module docstring).
        suffix = log_phi.flip(-1).cumsum(-1).flip(-1) - log_phi  # sum over m > d
        prefix = log_phi.cumsum(-1) - log_phi  # sum over m < d
        cdf = torch.special.ndtr(u)  # (S, B, K, D)
        # [j, k, d] terms; j indexes the logit, k the mixture marginal over z_{<d}.
        log_w = (log_pi.unsqueeze(-1).unsqueeze(-1) + log_pi.unsqueeze(-2).unsqueeze(-1)
                 + suffix.unsqueeze(-2) + prefix.unsqueeze(-3)
                 - log_q.unsqueeze(-1).unsqueeze(-1).unsqueeze(-1))
        diff = cdf.unsqueeze(-2) - cdf.unsqueeze(-3)  # Phi_jd - Phi_kd
        velocity = -(log_w.exp() * diff).sum(-2)  # (S, B, K, D): dz_d / dlogit_j
        logits_grad = (velocity * gk).sum(-1).sum(sample_dims)
        return locs_grad.to(dtype), scales_grad.to(dtype), logits_grad.to(dtype), None


class MixtureOfDiagNormals(TorchDistribution):
    """Mixture of ``K`` diagonal Normals with arbitrary means and scales.

    Args:
        locs: ``(..., K, D)`` component means.
        coord_scale: ``(..., K, D)`` positive component scales.
        component_logits: ``(..., K)`` mixture logits.
    """

    has_rsample = True
    arg_constraints = {
        "locs": constraints.real,
        "coord_scale": constraints.positive,
        "component_logits": constraints.real,
    }
    support = constraints.real_vector

    def __init__(self, locs: torch.Tensor, coord_scale: torch.Tensor,
                 component_logits: torch.Tensor) -> None:
        if locs.dim() < 2 or coord_scale.shape != locs.shape:
            raise ValueError(
                "MixtureOfDiagNormals: locs and coord_scale must both be (..., K, D), got "
                f"{tuple(locs.shape)} and {tuple(coord_scale.shape)}")
        if component_logits.shape != locs.shape[:-1]:
            raise ValueError(
                f"MixtureOfDiagNormals: component_logits must have shape "
                f"{tuple(locs.shape[:-1])}, got {tuple(component_logits.shape)}")
        self.batch_mode = locs.dim() > 2
        self.locs = locs
        self.coord_scale = coord_scale
        self.component_logits = component_logits
        self.dim = locs.size(-1)
        self.categorical = Categorical(logits=component_logits)
        self.probs = self.categorical.probs
        super().__init__(batch_shape=locs.shape[:-2], event_shape=torch.Size((self.dim,)))

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(type(self), _instance)
        for name in ("locs", "coord_scale"):
            t = getattr(self, name)
            setattr(new, name, t.expand(batch_shape + t.shape[-2:]))
        new.component_logits = self.component_logits.expand(
            batch_shape + self.component_logits.shape[-1:])
        new.batch_mode = True
        new.dim = self.dim
        new.categorical = self.categorical.expand(batch_shape)
        new.probs = new.categorical.probs
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _scales(self) -> torch.Tensor:
        return self.coord_scale

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        check_event_shape(self, value)
        return _mixture_log_prob(value, self.locs, self._scales(), self.component_logits)

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        which = self.categorical.sample(torch.Size(sample_shape))
        return _MixtureSample.apply(self.locs, self._scales(), self.component_logits, which)


class MixtureOfDiagNormalsSharedCovariance(MixtureOfDiagNormals):
    """Mixture of ``K`` diagonal Normals with their own means and one shared scale.

    Args:
        locs: ``(..., K, D)`` component means.
        coord_scale: ``(..., D)`` positive scales shared by the components.
        component_logits: ``(..., K)`` mixture logits.
    """

    def __init__(self, locs: torch.Tensor, coord_scale: torch.Tensor,
                 component_logits: torch.Tensor) -> None:
        if locs.dim() < 2 or coord_scale.shape[-1:] != locs.shape[-1:]:
            raise ValueError(
                "MixtureOfDiagNormalsSharedCovariance: locs must be (..., K, D) and "
                f"coord_scale (..., D); got {tuple(locs.shape)} and {tuple(coord_scale.shape)}")
        shared = coord_scale
        super().__init__(locs, shared.unsqueeze(-2).expand(locs.shape), component_logits)
        self.coord_scale = shared

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(type(self), _instance)
        new.locs = self.locs.expand(batch_shape + self.locs.shape[-2:])
        new.coord_scale = self.coord_scale.expand(batch_shape + self.coord_scale.shape[-1:])
        new.component_logits = self.component_logits.expand(
            batch_shape + self.component_logits.shape[-1:])
        new.batch_mode = True
        new.dim = self.dim
        new.categorical = self.categorical.expand(batch_shape)
        new.probs = new.categorical.probs
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _scales(self) -> torch.Tensor:
        # The Function sees per-component scales; autograd sums their gradients back.
        return self.coord_scale.unsqueeze(-2).expand(self.locs.shape)
