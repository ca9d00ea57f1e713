"""``Stable``: Levy alpha-stable distributions, reparameterized, with a numerical ``log_prob``.

Parameterisation: ``stability`` alpha in (0, 2], ``skew`` beta in [-1, 1], ``scale`` and
``loc``. By default ``loc`` is Nolan's ``S0`` location, in which samples and densities
vary continuously with alpha (needed for gradient-based inference); ``coords="S"`` uses
the classical (scipy's) parameterisation, which jumps at alpha = 1. For alpha != 1 the
two differ by a shift: ``X_S0 = X_S - beta * tan(pi alpha / 2)`` (standardised).

Sampling uses the Chambers-Mallows-Stuck transform of ``V ~ Uniform(-pi/2, pi/2)`` and
``W ~ Exponential(1)``, which is differentiable in the parameters. Close to alpha = 1,
where the transform is singular, samples are linearly interpolated between
``alpha = 1 -/+ 0.01`` with shared noise.

``log_prob`` integrates the CMS conditional density over ``V`` (Gauss-Legendre): for
fixed ``V`` the standard variate is ``A(V) W^((alpha-1)/alpha)``, so
``p(z | V) = exp(-w) w |alpha / (alpha - 1)| / |z|`` with ``w = (z / A(V))^(alpha/(alpha-1))``.
Near alpha = 1 and near ``z = -beta tan(pi alpha/2)`` (where the integrand is singular)
the density is interpolated linearly, as Pyro does.

Example:
    >>> import torch
    >>> d = Stable(torch.tensor(2.0), torch.tensor(0.0))  # Normal(0, sqrt(2))
    >>> round(float(d.log_prob(torch.tensor(1.0))), 4)
    -1.5155
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from ppl.distributions.elementwise import ElementwiseDistribution
from ppl.distributions.util import EMPTY_SHAPE

__all__ = ["Stable", "StableWithLogProb"]

_HALF_PI = math.pi / 2
RADIUS = 0.01
"""Half-width of the alpha = 1 window in which samples are interpolated (adjustable)."""
_ALPHA_TOL = 0.05  # ... and for log_prob
_LOG_TINY = math.log(torch.finfo(torch.float64).tiny)
_LOG_MAX = math.log(torch.finfo(torch.float64).max)
NUM_QUAD_POINTS = 501
"""Gauss-Legendre nodes used by ``Stable.log_prob`` (module-level, adjustable)."""


@lru_cache(maxsize=8)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _cms(alpha: torch.Tensor, beta: torch.Tensor, u: torch.Tensor, w: torch.Tensor,
         coords: str) -> torch.Tensor:
    """Standard stable variates from noise (singular at alpha = 1)."""
    eps = torch.finfo(u.dtype).eps
    u = u.clamp(-_HALF_PI + 2 * eps, _HALF_PI - 2 * eps)
    ha = _HALF_PI * alpha
    b = beta * ha.tan()
    # v = atan(b) + alpha * u, written to keep precision when u is near -pi/2.
    v = b.atan() - ha + alpha * (u + _HALF_PI)
    inv = alpha.reciprocal()
    z = (v.sin() / ((1 + b * b).rsqrt() * u.cos()).pow(inv)
         * ((v - u).cos().clamp(min=eps) / w).pow(inv - 1))
    z = torch.where(z.isnan(), torch.zeros_like(z), z)
    if coords == "S0":
        return z - b
    return z


def _standard_stable(alpha: torch.Tensor, beta: torch.Tensor, u: torch.Tensor,
                     w: torch.Tensor, coords: str) -> torch.Tensor:
    near = (alpha.detach() - 1).abs() <= RADIUS
    if not bool(near.any()):
        return _cms(alpha, beta, u, w, coords)
    if coords == "S":
        z0 = _standard_stable(alpha, beta, u, w, "S0")
        return torch.where(alpha == 1, z0, z0 + beta * (_HALF_PI * alpha).tan())
    # Interpolate between alpha = 1 -/+ RADIUS with the same noise; the endpoints are
    # moved without gradient (alpha is treated as if reparameterized through them).
    lo = torch.where(near, torch.full_like(alpha, 1 - RADIUS), alpha).detach()
    hi = torch.where(near, torch.full_like(alpha, 1 + RADIUS), alpha).detach()
    lo = alpha + (lo - alpha).detach()
    hi = alpha + (hi - alpha).detach()
    t = ((alpha.detach() - (1 - RADIUS)) / (2 * RADIUS)).clamp(0, 1)
    z_lo = _cms(lo, beta, u, w, coords)
    z_hi = _cms(hi, beta, u, w, coords)
    return torch.where(near, (1 - t) * z_lo + t * z_hi, z_lo)


def _log_density_positive(alpha: torch.Tensor, beta: torch.Tensor,
                          z: torch.Tensor) -> torch.Tensor:
    """log density of the S-coords standard stable at ``z > 0`` (alpha away from 1)."""
    ha = _HALF_PI * alpha
    atan_b = (beta * ha.tan()).atan()
    u0 = -atan_b / alpha  # below u0 the CMS variate is negative
    nodes, weights = _legendre(NUM_QUAD_POINTS)
    x = torch.as_tensor(nodes, dtype=z.dtype, device=z.device)
    log_w = torch.as_tensor(np.log(weights), dtype=z.dtype, device=z.device)
    shape = (-1,) + (1,) * z.dim()
    x, log_w = x.reshape(shape), log_w.reshape(shape)
    half = (_HALF_PI - u0) / 2
    u = u0 + half * (x + 1)  # nodes mapped to (u0, pi/2)
    eps = torch.finfo(z.dtype).eps
    u = u.clamp(-_HALF_PI + 2 * eps, _HALF_PI - 2 * eps)
    v = atan_b - ha + alpha * (u + _HALF_PI)
    k = alpha / (alpha - 1)
    # log w = k * (log z - log A(u)), A = sin v * (cos(atan b) ... ) folded into three terms.
    log_w_var = (atan_b.cos().log() / (alpha - 1)
                 + k * (z * u.cos() / v.sin()).log()
                 + ((v - u).cos() / u.cos()).log())
    wv = log_w_var.clamp(_LOG_TINY, _LOG_MAX).exp()
    integrand = -wv + (k * wv / z).abs().log()
    integrand = torch.where(torch.isinf(wv), torch.full_like(wv, -math.inf), integrand)
    integrand = torch.nan_to_num(integrand, nan=-math.inf)
    return torch.logsumexp(integrand + log_w, 0) + half.log() - math.log(math.pi)


def _log_density_s(alpha: torch.Tensor, beta: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """S-coords standard log density at any ``z != 0``; negative ``z`` by reflection."""
    neg = z < 0
    return _log_density_positive(alpha, torch.where(neg, -beta, beta), z.abs())


def _log_density_at_mode_shift(alpha: torch.Tensor) -> torch.Tensor:
    """log density of the symmetric case at 0: Gamma(1 + 1/alpha) / pi."""
    return torch.lgamma(1 + alpha.reciprocal()) - math.log(math.pi)


def _log_density_s0_away_from_one(alpha: torch.Tensor, beta: torch.Tensor,
                                  z0: torch.Tensor) -> torch.Tensor:
    z = z0 + beta * (_HALF_PI * alpha).tan()
    # The integrand is singular at z = 0: interpolate across a small window there.
    tol = (0.01 * alpha / (1 - alpha).abs()).clamp(
        max=0.1 / _log_density_at_mode_shift(alpha).exp())
    near = z.abs() < tol
    safe = torch.where(near, tol, z)
    lp = _log_density_s(alpha, beta, safe)
    if bool(near.any()):  # evaluate the other end of the window only where needed
        lp_neg = _log_density_s(alpha[near], beta[near], -tol[near])
        t = (z[near] / (2 * tol[near]) + 0.5).clamp(0, 1)
        mixed = torch.logaddexp(lp[near] + t.log(), lp_neg + (1 - t).log())
        lp = lp.masked_scatter(near, mixed)
    return lp


def _stable_log_prob(alpha: torch.Tensor, beta: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
    """S0 standard log density (double precision), interpolated near alpha = 1."""
    near = (alpha - 1).abs() < _ALPHA_TOL
    hi = torch.where(near, torch.full_like(alpha, 1 + _ALPHA_TOL), alpha)
    lp = _log_density_s0_away_from_one(hi, beta, z0)
    if bool(near.any()):
        lo = torch.full_like(alpha[near], 1 - _ALPHA_TOL)
        lp_lo = _log_density_s0_away_from_one(lo, beta[near], z0[near])
        t = ((alpha[near] - 1) / (2 * _ALPHA_TOL) + 0.5).clamp(0, 1)
        mixed = torch.logaddexp(lp[near] + t.log(), lp_lo + (1 - t).log())
        lp = lp.masked_scatter(near, mixed)
    return lp


class Stable(ElementwiseDistribution):
    """Levy alpha-stable distribution.

    Args:
        stability: alpha in (0, 2].
        skew: beta in [-1, 1].
        scale: positive scale (default 1).
        loc: location, in ``S0`` coordinates by default (default 0).
        coords: ``"S0"`` (continuous in alpha, default) or ``"S"`` (scipy's).
    """

    has_rsample = True
    arg_constraints = {
        "stability": constraints.interval(0, 2),
        "skew": constraints.interval(-1, 1),
        "scale": constraints.positive,
        "loc": constraints.real,
    }
    support = constraints.real

    def __init__(self, stability: Any, skew: Any, scale: Any = 1.0, loc: Any = 0.0,
                 coords: str = "S0", validate_args: bool | None = None) -> None:
        if coords not in ("S", "S0"):
            raise ValueError(f"Stable: coords must be 'S' or 'S0', got {coords!r}")
        self.stability, self.skew, self.scale, self.loc = broadcast_all(stability, skew,
                                                                        scale, loc)
        self.coords = coords
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = super().expand(batch_shape, _instance)
        new.coords = self.coords
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        alpha, beta, z = broadcast_all(self.stability.double(), self.skew.double(), z.double())
        if self.coords == "S":
            z = torch.where(alpha == 1, z, z - beta * (_HALF_PI * alpha).tan())
        lp = _stable_log_prob(alpha, beta, z)
        return lp.to(value.dtype if value.is_floating_point() else self.loc.dtype) \
            - self.scale.log()

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        a = self.stability
        with torch.no_grad():
            u = torch.empty(shape, dtype=a.dtype, device=a.device).uniform_(-_HALF_PI, _HALF_PI)
            w = torch.empty(shape, dtype=a.dtype, device=a.device).exponential_()
        z = _standard_stable(self.stability, self.skew, u, w, self.coords)
        return self.loc + self.scale * z

    @property
    def mean(self) -> torch.Tensor:
        m = self.loc
        if self.coords == "S0":
            m = m - self.scale * self.skew * (_HALF_PI * self.stability).tan()
        return m.masked_fill(self.stability <= 1, math.nan)

    @property
    def variance(self) -> torch.Tensor:
        return (2 * self.scale * self.scale).masked_fill(self.stability < 2, math.inf)


class StableWithLogProb(Stable):
    """``Stable`` that reparameterization strategies leave alone (it keeps its ``log_prob``)."""
