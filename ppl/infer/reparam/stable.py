"""Auxiliary-variable reparameterizers for :class:`~ppl.distributions.Stable` sites.

A stable distribution has no closed-form density (ppl's ``Stable.log_prob`` is a
numerical integral), but it is easy to *sample*: the Chambers-Mallows-Stuck method
maps ``u ~ Uniform(-pi/2, pi/2)`` and ``e ~ Exponential(1)`` to a stable variate.
These reparameterizers put the density on such parameter-free noise sites:

* :class:`LatentStableReparam`: a latent site is the CMS map of ``<site>_uniform`` and
  ``<site>_exponential`` (latent sites only).
* :class:`SymmetricStableReparam`: a symmetric (``skew=0``) site is a Normal whose
  scale is ``sqrt`` of a totally skewed stable ``alpha/2`` variable (a Gaussian scale
  mixture, Cartea and Howison 2009); works for observed sites too.
* :class:`StableReparam`: any skew: the site is the sum of a totally skewed stable
  variable and a symmetric one (Zolotarev 1986, Property 2.3.a), the latter again a
  Gaussian scale mixture; works for observed sites too.

All three need Nolan's ``coords="S0"``; ``StableWithLogProb`` sites are left for its
own ``log_prob``.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.Stable(torch.tensor(1.5), torch.tensor(0.3)))
    >>> tr = ppl.poutine.trace(
    ...     ppl.poutine.reparam(model, {"x": LatentStableReparam()})).get_trace()
    >>> tr.stochastic_nodes
    ['x_uniform', 'x_exponential']
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ... import primitives
from ...distributions import Delta, Exponential, Normal, Stable, StableWithLogProb, Uniform

# ppl's one Chambers-Mallows-Stuck sampler: _cms is the raw map, _standard_stable adds
# the interpolation across stability 1 that the S0 coordinates need
from ...distributions.stable import _cms, _standard_stable
from ...settings import is_validation_enabled
from .reparam import Reparam, ReparamMessage, ReparamResult

__all__ = ["LatentStableReparam", "StableReparam", "SymmetricStableReparam"]


def _stable_site(reparam: Reparam, name: str, fn: Any) -> None:
    if not isinstance(fn, Stable) or isinstance(fn, StableWithLogProb):
        raise TypeError(
            f"at site {name!r}: {type(reparam).__name__} expects a Stable distribution "
            f"(not StableWithLogProb), got {type(fn).__name__}"
        )
    if fn.coords != "S0":
        raise ValueError(
            f"at site {name!r}: {type(reparam).__name__} needs Stable(coords='S0'), "
            f"got coords={fn.coords!r}"
        )


def _noise(reparam: Reparam, prefix: str, proto: torch.Tensor, event_dim: int) -> Any:
    """Draw the CMS noise pair ``(u, e)`` at sites ``<prefix>_uniform``/``_exponential``."""
    half_pi = proto.new_tensor(math.pi / 2)
    u = primitives.sample(
        f"{prefix}_uniform",
        reparam._wrap(Uniform(-half_pi, half_pi).expand(proto.shape), event_dim),
    )
    e = primitives.sample(
        f"{prefix}_exponential", reparam._wrap(Exponential(proto.new_ones(proto.shape)), event_dim)
    )
    return u, e


def _mixing_scale(alpha: torch.Tensor, u: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """``sqrt(Z) * cos(pi alpha / 4) ** (1 / alpha)`` for ``Z ~ S(alpha / 2, 1)`` (a scale)."""
    # the raw map in S coordinates, as the totally skewed alpha/2 < 1 variable needs (at
    # alpha = 2 its huge value cancels against the vanishing cosine factor)
    z = _cms(alpha / 2, torch.ones_like(alpha), u, e, "S").clamp(min=0)
    mix = z.sqrt() * (math.pi / 4 * alpha).cos().clamp(min=0).pow(alpha.reciprocal())
    # at alpha = 2 (a Gaussian) the limit is 1, but 0 * inf in floating point
    return torch.where(alpha >= 2, torch.ones_like(mix), mix)


class LatentStableReparam(Reparam):
    """A latent Stable site as the CMS map of ``<site>_uniform`` and ``<site>_exponential``.

    Raises:
        TypeError / ValueError: at a site that is not ``Stable(coords="S0")``.
        NotImplementedError: at an observed site (use :class:`StableReparam`).
    """

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any
        fn, event_dim = self._unwrap(msg["fn"])  # type: ignore[arg-type]
        _stable_site(self, name, fn)
        if msg["is_observed"]:
            raise NotImplementedError(
                f"At ppl.sample({name!r},...), LatentStableReparam does not support observe "
                "statements; use StableReparam or SymmetricStableReparam"
            )
        u, e = _noise(self, name, fn.stability, event_dim)
        x = _standard_stable(fn.stability, fn.skew, u, e, "S0")
        value = fn.loc + fn.scale * x
        new_fn = Delta(value, event_dim=event_dim).mask(False)
        return {"fn": new_fn, "value": value, "is_observed": True}


class SymmetricStableReparam(Reparam):
    """A symmetric Stable site as a Normal with a stable-distributed random scale.

    ``Stable(a, 0, s, m)`` equals ``Normal(m, sqrt(2) * s * cos(pi a / 4) ** (1/a) *
    sqrt(Z))`` in law, with ``Z ~ Stable(a/2, 1)`` (S coords) drawn from the noise sites.

    Raises:
        TypeError / ValueError: at a site that is not ``Stable(coords="S0")``; with
            validation on, for nonzero skew or stability >= 2.
    """

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any
        fn, event_dim = self._unwrap(msg["fn"])  # type: ignore[arg-type]
        _stable_site(self, name, fn)
        if is_validation_enabled():
            if not bool((fn.skew == 0).all()):
                raise ValueError(f"at site {name!r}: SymmetricStableReparam found nonzero skew")
            if not bool((fn.stability < 2).all()):
                raise ValueError(f"at site {name!r}: SymmetricStableReparam found stability >= 2")
        u, e = _noise(self, name, fn.stability, event_dim)
        scale = fn.scale * _mixing_scale(fn.stability, u, e)
        scale = scale.clamp(min=torch.finfo(scale.dtype).tiny)
        new_fn = self._wrap(Normal(fn.loc, scale * 2**0.5), event_dim)
        return {"fn": new_fn, "value": msg["value"], "is_observed": bool(msg["is_observed"])}


class StableReparam(Reparam):
    """Any Stable site as ``loc + scale * (skewed part) + Normal(symmetric part)``.

    With ``|b| = |skew|``: the totally skewed part has scale ``|b| ** (1/a)`` and the
    symmetric part scale ``(1 - |b|) ** (1/a)``, so their sum has unit scale and skew
    ``b``; a shift converts Zolotarev's S coords of the parts to Nolan's S0 coords of
    the site. Noise sites: ``<site>_z_uniform``, ``<site>_z_exponential`` (the mixing
    scale) and ``<site>_t_uniform``, ``<site>_t_exponential`` (the skewed part).

    Raises:
        TypeError / ValueError: at a site that is not ``Stable(coords="S0")``.
    """

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any
        fn, event_dim = self._unwrap(msg["fn"])  # type: ignore[arg-type]
        _stable_site(self, name, fn)
        a = fn.stability
        zu, ze = _noise(self, f"{name}_z", a, event_dim)
        tu, te = _noise(self, f"{name}_t", a, event_dim)

        one = torch.ones_like(a)
        t = _standard_stable(a, one, tu, te, "S0")
        inv_a = a.reciprocal()
        eps = torch.finfo(a.dtype).eps
        skew_abs = fn.skew.abs().clamp(min=eps, max=1 - eps)
        t_scale = skew_abs.pow(inv_a)
        s_scale = (1 - skew_abs).pow(inv_a)
        shift = _s0_shift(a, fn.skew, skew_abs)
        loc = fn.loc + fn.scale * (fn.skew.sign() * t_scale * t + shift)
        scale = fn.scale * s_scale * _mixing_scale(a, zu, ze)
        scale = scale.clamp(min=torch.finfo(scale.dtype).tiny)
        new_fn = self._wrap(Normal(loc, scale * 2**0.5), event_dim)
        return {"fn": new_fn, "value": msg["value"], "is_observed": bool(msg["is_observed"])}


def _s0_shift_raw(a: torch.Tensor, skew: torch.Tensor, skew_abs: torch.Tensor) -> torch.Tensor:
    # (sign(b) |b|^(1/a) - b) tan(pi a / 2): finite in the limit a -> 1, singular at it
    return (skew.sign() * skew_abs.pow(a.reciprocal()) - skew) * (math.pi / 2 * a).tan()


def _s0_shift(
    a: torch.Tensor, skew: torch.Tensor, skew_abs: torch.Tensor, radius: float = 0.005
) -> torch.Tensor:
    """The S -> S0 location shift of the decomposition, interpolated across ``a = 1``."""
    near = (a.detach() - 1).abs() <= radius
    if not bool(near.any()):
        return _s0_shift_raw(a, skew, skew_abs)
    # evaluate at a = 1 -/+ radius (moved without gradient) and interpolate linearly
    lo = a + (torch.where(near, torch.full_like(a, 1 - radius), a) - a).detach()
    hi = a + (torch.where(near, torch.full_like(a, 1 + radius), a) - a).detach()
    w = ((a.detach() - (1 - radius)) / (2 * radius)).clamp(0, 1)
    s_lo = _s0_shift_raw(lo, skew, skew_abs)
    s_hi = _s0_shift_raw(hi, skew, skew_abs)
    return torch.where(near, (1 - w) * s_lo + w * s_hi, s_lo)
