"""``UnitJacobianReparam``: sample a site in the coordinates of a volume-preserving transform.

For a bijection ``t`` with ``|det J_t| = 1`` (a permutation, an orthonormal DCT or
Haar transform ...), ``x ~ p`` is rewritten as

    x_<suffix> ~ TransformedDistribution(p, [biject_to(support).inv, t])
    x = biject_to(support)(t^-1(x_<suffix>))

The auxiliary site lives in unconstrained, transformed coordinates, so a diagonal
guide or a diagonal HMC mass matrix there can capture correlations of ``x``. The
original site becomes a ``Delta`` (observed, zero log-density), so the model's law is
unchanged.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.distributions.transforms import Permute
    >>> model = lambda: ppl.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1))
    >>> r = UnitJacobianReparam(Permute(torch.tensor([2, 0, 1])), suffix="perm")
    >>> tr = ppl.poutine.trace(ppl.poutine.reparam(model, {"x": r})).get_trace()
    >>> tr.stochastic_nodes
    ['x_perm']
"""

from __future__ import annotations

from typing import Any

from torch.distributions import biject_to
from torch.distributions.transforms import ComposeTransform, Transform

from ... import primitives
from ...distributions import Delta, TransformedDistribution
from .reparam import Reparam, ReparamMessage, ReparamResult

__all__ = ["UnitJacobianReparam"]


class UnitJacobianReparam(Reparam):
    """Rewrite a site in the coordinates of ``transform`` (whose Jacobian determinant is 1).

    Args:
        transform: a bijection of unit Jacobian determinant, acting on the site's
            event dims (its ``domain.event_dim`` must not exceed the site's).
        suffix: the auxiliary site is named ``<site>_<suffix>``.
        experimental_allow_batch: Pyro's option to couple across batch dims; not
            supported by ppl (a ``NotImplementedError`` when it would be needed).

    Raises:
        ValueError: at a site with fewer event dims than the transform acts on.
    """

    def __init__(
        self,
        transform: Transform,
        suffix: str = "transformed",
        *,
        experimental_allow_batch: bool = False,
    ) -> None:
        if not isinstance(transform, Transform):
            raise TypeError(
                f"UnitJacobianReparam: expected a torch Transform, got {type(transform).__name__}"
            )
        self.transform = transform.with_cache()
        self.suffix = suffix
        self.experimental_allow_batch = experimental_allow_batch

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any = msg["fn"]
        value = msg["value"]
        event_dim = len(fn.event_shape)
        if self.transform.domain.event_dim > event_dim:
            if not self.experimental_allow_batch:
                raise ValueError(
                    f"at site {name!r}: {type(self).__name__} transforms "
                    f"{self.transform.domain.event_dim} event dim(s) but the site has event "
                    f"shape {tuple(fn.event_shape)}; cannot transform along a batch dim. Make "
                    "the dim an event dim (.to_event()) first."
                )
            raise NotImplementedError(
                f"at site {name!r}: experimental_allow_batch=True is not supported by ppl; "
                "make the coupled batch dims event dims (.to_event()) instead"
            )

        # unconstrain, then transform; the inverse is free thanks to the caches
        transform = ComposeTransform([biject_to(fn.support).inv.with_cache(), self.transform])
        value_trans = None if value is None else transform(value)
        value_trans = primitives.sample(
            f"{name}_{self.suffix}",
            TransformedDistribution(fn, transform),
            obs=value_trans,
            infer={"is_observed": msg["is_observed"]},
        )
        if value is None:
            value = transform.inv(value_trans)

        new_fn = Delta(value, event_dim=event_dim)
        return {"fn": new_fn, "value": value, "is_observed": True}
