"""``StudentTReparam``: a StudentT as a Normal scale mixture with a Gamma auxiliary.

``x ~ StudentT(df, loc, scale)`` has the law of

    x_gamma ~ Gamma(df / 2, df / 2)
    x ~ Normal(loc, scale / sqrt(x_gamma))

Conditioned on ``x_gamma`` the site is Gaussian, which conjugate or Gaussian-state
inference can exploit. Works for latent and observed sites (the site keeps its
value and observed flag; only its distribution changes).

Example:
    >>> import ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.StudentT(4.0, 0.0, 1.0))
    >>> tr = ppl.poutine.trace(ppl.poutine.reparam(model, {"x": StudentTReparam()})).get_trace()
    >>> type(tr.nodes["x"]["fn"]).__name__, tr.stochastic_nodes
    ('Normal', ['x_gamma', 'x'])
"""

from __future__ import annotations

from typing import Any

from ... import primitives
from ...distributions import Gamma, Normal, StudentT
from .reparam import Reparam, ReparamMessage, ReparamResult, expect_family

__all__ = ["StudentTReparam"]


class StudentTReparam(Reparam):
    """Rewrite a StudentT site as a Normal given an auxiliary Gamma site ``<site>_gamma``.

    Raises:
        TypeError: at a site whose distribution is not a StudentT.
    """

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any
        fn, event_dim = self._unwrap(msg["fn"])  # type: ignore[arg-type]
        expect_family(self, name, fn, StudentT)
        half_df = fn.df * 0.5
        gamma = primitives.sample(f"{name}_gamma", self._wrap(Gamma(half_df, half_df), event_dim))
        new_fn = self._wrap(Normal(fn.loc, fn.scale * gamma.rsqrt()), event_dim)
        return {"fn": new_fn, "value": msg["value"], "is_observed": bool(msg["is_observed"])}
