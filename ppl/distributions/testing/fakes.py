"""Reparameterizable torch distributions pretending not to be (``has_rsample = False``).

Inference code then uses score-function gradients for them, which lets tests compare
both gradient estimators on the same density.

Example:
    >>> NonreparameterizedNormal(0.0, 1.0).has_rsample
    False
"""

from __future__ import annotations

from ppl.distributions.torch_dists import Beta, Dirichlet, Gamma, Normal

__all__ = [
    "NonreparameterizedBeta",
    "NonreparameterizedDirichlet",
    "NonreparameterizedGamma",
    "NonreparameterizedNormal",
]


class NonreparameterizedBeta(Beta):
    """``Beta`` without ``rsample`` (score-function gradients only)."""

    has_rsample = False


class NonreparameterizedDirichlet(Dirichlet):
    """``Dirichlet`` without ``rsample`` (score-function gradients only)."""

    has_rsample = False


class NonreparameterizedGamma(Gamma):
    """``Gamma`` without ``rsample`` (score-function gradients only)."""

    has_rsample = False


class NonreparameterizedNormal(Normal):
    """``Normal`` without ``rsample`` (score-function gradients only)."""

    has_rsample = False
