"""``TransformReparam``: sample a ``TransformedDistribution`` through its base distribution.

``x ~ TransformedDistribution(base, [t1, ..., tn])`` becomes

    x_base ~ base
    x = tn(...t1(x_base))

The log-density of ``x`` equals that of ``x_base`` minus the log-Jacobian of the
transforms, so both models define the same law; samplers and guides then work in
the base space, where the geometry is often simpler (e.g. a log-normal becomes a
normal).

Example:
    >>> import ppl, ppl.distributions as dist
    >>> from ppl.distributions.transforms import ExpTransform
    >>> fn = dist.TransformedDistribution(dist.Normal(0.0, 1.0), [ExpTransform()])
    >>> model = ppl.poutine.reparam(lambda: ppl.sample("x", fn), {"x": TransformReparam()})
    >>> tr = ppl.poutine.trace(model).get_trace()
    >>> bool(tr.nodes["x"]["value"] == tr.nodes["x_base"]["value"].exp())
    True
"""

from __future__ import annotations

from typing import Any

from torch.distributions import TransformedDistribution

from ... import primitives
from ...distributions import Delta
from .reparam import Reparam, ReparamMessage, ReparamResult, expect_family

__all__ = ["TransformReparam"]


class TransformReparam(Reparam):
    """Rewrite a ``TransformedDistribution`` latent site as its base site plus the transforms.

    Works for latent sites only. An initial value is pulled back through the inverse
    transforms to the base site.

    Raises:
        TypeError: at a site whose (unwrapped) distribution is not a
            ``TransformedDistribution``.
    """

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        value = msg["value"]
        fn: Any
        fn, event_dim = self._unwrap(msg["fn"])  # type: ignore[arg-type]
        expect_family(self, name, fn, TransformedDistribution)

        base_value = value
        if value is not None:
            for t in reversed(fn.transforms):
                base_value = t.inv(base_value)

        base_event_dim = event_dim
        for t in reversed(fn.transforms):
            base_event_dim += t.domain.event_dim - t.codomain.event_dim
        base_value = primitives.sample(
            f"{name}_base",
            self._wrap(fn.base_dist, base_event_dim),
            obs=base_value,
            infer={"is_observed": msg["is_observed"]},
        )

        if value is None:
            value = base_value
            for t in fn.transforms:
                value = t(value)

        new_fn = Delta(value, event_dim=event_dim).mask(False)
        return {"fn": new_fn, "value": value, "is_observed": True}
