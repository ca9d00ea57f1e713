"""``SineBivariateVonMises``: a von Mises-type distribution on the 2-torus (Singh et al. 2002).

    p(phi, psi) ∝ exp(k1 cos(phi - mu) + k2 cos(psi - nu) + lam sin(phi - mu) sin(psi - nu)).

Integrating ``psi`` out analytically leaves a 1-d periodic integral,
``Z = 2 pi * integral exp(k1 cos a) I0(sqrt(k2^2 + lam^2 sin^2 a)) da``, which the
trapezoid rule on a uniform grid computes to float precision (the integrand is smooth
and periodic). Sampling draws ``phi`` from that marginal by rejection from an angular
central Gaussian envelope (Kent, Ganeiber & Mardia 2018), then
``psi | phi ~ VonMises(nu + atan(lam sin(phi - mu) / k2), sqrt(k2^2 + lam^2 sin^2(phi - mu)))``.
The marginal is unimodal when ``lam^2 < k1 k2``; otherwise sampling may be slow.

Example:
    >>> import torch
    >>> d = SineBivariateVonMises(0.0, 0.0, 1.0, 1.0, 0.0)  # two independent von Mises
    >>> vm = torch.distributions.VonMises(0.0, 1.0)
    >>> x = torch.tensor([0.3, -1.0])
    >>> bool(torch.isclose(d.log_prob(x), vm.log_prob(x).sum()))
    True
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch.distributions.utils import broadcast_all, lazy_property

from ppl.distributions import constraints
from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.torch_dists import VonMises
from ppl.distributions.util import EMPTY_SHAPE, check_event_shape
from ppl.ops.tensor import broadcast_shape

__all__ = ["SineBivariateVonMises"]


def _log_i0(x: torch.Tensor) -> torch.Tensor:
    return torch.special.i0e(x).log() + x.abs()


def _wrap(x: torch.Tensor) -> torch.Tensor:
    return (x + math.pi) % (2 * math.pi) - math.pi


class SineBivariateVonMises(TorchDistribution):
    """Bivariate von Mises (sine model) over pairs of angles ``(phi, psi)``.

    Args:
        phi_loc, psi_loc: mean angles.
        phi_concentration, psi_concentration: positive concentrations ``k1``, ``k2``.
        correlation: the coupling ``lam``; or give ``weighted_correlation`` ``w`` and
            ``lam = w * sqrt(k1 * k2)`` (exactly one of the two).
    """

    arg_constraints = {
        "phi_loc": constraints.real,
        "psi_loc": constraints.real,
        "phi_concentration": constraints.positive,
        "psi_concentration": constraints.positive,
        "correlation": constraints.real,
    }
    support = constraints.independent(constraints.real, 1)
    max_sample_iter = 1000

    def __init__(self, phi_loc: Any, psi_loc: Any, phi_concentration: Any,
                 psi_concentration: Any, correlation: Any = None,
                 weighted_correlation: Any = None, validate_args: bool | None = None) -> None:
        if (correlation is None) == (weighted_correlation is None):
            raise ValueError(
                "SineBivariateVonMises: give exactly one of correlation and weighted_correlation"
            )
        if weighted_correlation is not None:
            root = torch.sqrt if isinstance(phi_concentration, torch.Tensor) else math.sqrt
            correlation = weighted_correlation * root(phi_concentration * psi_concentration)
        (self.phi_loc, self.psi_loc, self.phi_concentration, self.psi_concentration,
         self.correlation) = broadcast_all(phi_loc, psi_loc, phi_concentration,
                                           psi_concentration, correlation)
        super().__init__(self.phi_loc.shape, torch.Size([2]), validate_args)
        if self._validate_args and bool(
                (self.phi_concentration * self.psi_concentration <= self.correlation ** 2).any()):
            warnings.warn(
                f"{type(self).__name__} bimodal due to concentration-correlation relation, "
                f"sampling will likely fail.",
                UserWarning,
                stacklevel=2,
            )

    @lazy_property
    def norm_const(self) -> torch.Tensor:
        """``log Z`` for each batch element."""
        k1 = self.phi_concentration.double().unsqueeze(-1)
        k2 = self.psi_concentration.double().unsqueeze(-1)
        lam = self.correlation.double().unsqueeze(-1)
        peak = float(torch.cat([k1, k2, lam.abs()]).detach().max()) if k1.numel() else 0.0
        n = max(256, 2 * int(16 * math.sqrt(peak) + 1))
        a = torch.arange(n, dtype=torch.float64, device=k1.device) * (2 * math.pi / n)
        log_f = k1 * a.cos() + _log_i0(torch.sqrt(k2**2 + (lam * a.sin()) ** 2))
        log_z = torch.logsumexp(log_f, -1) + 2 * math.log(2 * math.pi) - math.log(n)
        return log_z.to(self.phi_loc.dtype)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        check_event_shape(self, value)
        if self._validate_args:
            self._validate_sample(value)
        dphi = value[..., 0] - self.phi_loc
        dpsi = value[..., 1] - self.psi_loc
        return (self.phi_concentration * dphi.cos() + self.psi_concentration * dpsi.cos()
                + self.correlation * dphi.sin() * dpsi.sin() - self.norm_const)

    def _sample_phi(self, shape: torch.Size) -> torch.Tensor:
        """Centred ``phi`` from its marginal by rejection from an angular central Gaussian."""
        k1, k2, lam = self.phi_concentration, self.psi_concentration, self.correlation
        # log f(x) <= -eig * sin^2, eig = (k1 - lam^2 / k2) / 2 (Bingham bound); shift eig >= 0.
        eig = 0.5 * (k1 - lam**2 / k2)
        shift = eig.clamp(max=0)  # negative part; then A = diag(-shift, eig - shift)
        a0, a1 = -shift, eig - shift
        # Kent et al.'s b solves 1/(b + 2 a0) + 1/(b + 2 a1) = 1; with one zero root it is
        # closed form: b = 1 - e + sqrt(1 + e^2), e = max(a0, a1).
        e = torch.maximum(a0, a1)
        b = 1 - e + torch.sqrt(1 + e * e)
        sd0, sd1 = torch.rsqrt(1 + 2 * a0 / b), torch.rsqrt(1 + 2 * a1 / b)
        log_i0_k2 = _log_i0(k2)
        out = torch.zeros(shape, dtype=k1.dtype, device=k1.device)
        done = torch.zeros(shape, dtype=torch.bool, device=k1.device)
        for _ in range(self.max_sample_iter):
            z0 = torch.randn(shape, dtype=k1.dtype, device=k1.device) * sd0
            z1 = torch.randn(shape, dtype=k1.dtype, device=k1.device) * sd1
            r = torch.sqrt(z0 * z0 + z1 * z1)
            x0, x1 = z0 / r, z1 / r
            quad = a0 * x0 * x0 + a1 * x1 * x1
            log_f = (k1 * (x0 - 1) + _log_i0(torch.sqrt(k2**2 + (lam * x1) ** 2)) - log_i0_k2
                     + shift)
            log_accept = log_f + 1 - b / 2 + torch.log(b / 2 + quad)
            take = (torch.rand(shape, dtype=k1.dtype, device=k1.device).log() < log_accept) & ~done
            out = torch.where(take, torch.atan2(x1, x0), out)
            done = done | take
            if bool(done.all()):
                return out
        raise ValueError(
            "maximum number of iterations exceeded; "
            "try increasing `SineBivariateVonMises.max_sample_iter`"
        )

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        with torch.no_grad():
            phi = self._sample_phi(shape)
            k2, lam = self.psi_concentration, self.correlation
            s = lam * phi.sin()
            psi = VonMises(torch.atan(s / k2), torch.sqrt(k2**2 + s**2)).sample()
            return torch.stack([_wrap(phi + self.phi_loc), _wrap(psi + self.psi_loc)], -1)

    @property
    def mean(self) -> torch.Tensor:
        return torch.stack((self.phi_loc, self.psi_loc), dim=-1)

    @staticmethod
    def _lbinoms(n: torch.Tensor) -> torch.Tensor:
        """``log C(2i, i)`` for ``i = 0 .. n-1`` (the series form of the normaliser uses them)."""
        i = torch.arange(int(n), device=n.device, dtype=torch.get_default_dtype())
        return torch.lgamma(2 * i + 1) - 2 * torch.lgamma(i + 1)

    @classmethod
    def infer_shapes(cls, **arg_shapes: Any) -> tuple[torch.Size, torch.Size]:
        return torch.Size(broadcast_shape(*arg_shapes.values())), torch.Size([2])

    def expand(self, batch_shape: Any, _instance: Any = None) -> SineBivariateVonMises:
        new = self._get_checked_instance(SineBivariateVonMises, _instance)
        batch_shape = torch.Size(batch_shape)
        for name in self.arg_constraints:
            setattr(new, name, getattr(self, name).expand(batch_shape))
        new.norm_const = self.norm_const.expand(batch_shape)
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
