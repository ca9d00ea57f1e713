"""``ProjectedNormalReparam``: a direction on the sphere as a normalized Gaussian vector.

``x ~ ProjectedNormal(concentration)`` has the law of

    x_normal ~ Normal(0, 1)      (event shape of x)
    x = (x_normal + concentration) / |x_normal + concentration|

which gives likelihood-based inference a density on an unconstrained space. Works
for latent sites only; an initial value is pulled back by one arbitrary preimage
(``x - concentration``), which is enough to start a sampler or guide there.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.ProjectedNormal(torch.tensor([0.0, 0.0, 2.0])))
    >>> tr = ppl.poutine.trace(
    ...     ppl.poutine.reparam(model, {"x": ProjectedNormalReparam()})).get_trace()
    >>> round(float(tr.nodes["x"]["value"].norm()), 5)
    1.0
"""

from __future__ import annotations

from typing import Any

import torch

from ... import primitives
from ...distributions import Delta, Normal, ProjectedNormal
from ...ops.tensor_utils import safe_normalize
from .reparam import Reparam, ReparamMessage, ReparamResult, expect_family

__all__ = ["ProjectedNormalReparam"]


class ProjectedNormalReparam(Reparam):
    """Rewrite a ``ProjectedNormal`` latent site as a standard normal ``<site>_normal``.

    Raises:
        TypeError: at a site of another family.
        NotImplementedError: at an observed site.
    """

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        value = msg["value"]
        if msg["is_observed"]:
            raise NotImplementedError(
                f"at site {name!r}: ProjectedNormalReparam does not support observed sites"
            )
        fn: Any
        fn, event_dim = self._unwrap(msg["fn"])  # type: ignore[arg-type]
        expect_family(self, name, fn, ProjectedNormal)

        value_normal = None if value is None else value - fn.concentration
        noise = Normal(torch.zeros_like(fn.concentration), 1.0).to_event(1)
        x = primitives.sample(
            f"{name}_normal",
            self._wrap(noise, event_dim),
            obs=value_normal,
            infer={"is_observed": msg["is_observed"]},
        )
        if value is None:
            value = safe_normalize(x + fn.concentration)

        new_fn = Delta(value, event_dim=event_dim).mask(False)
        return {"fn": new_fn, "value": value, "is_observed": True}
