"""``ConjugateReparam`` (experimental): sample a latent from its conjugate-updated prior.

Given a prior ``p(z)`` and a (possibly approximate) likelihood-shaped ``guide`` ``q(z|x)``,
the prior's ``conjugate_update(q)`` returns ``u(z)`` proportional to ``p(z) q(z|x)`` and
the log normalizer ``log N`` with ``p(z) q(z|x) = N u(z)``. The site is drawn from
``u`` at the auxiliary site ``<site>_updated`` and weighted by ``p(z) / u(z) =
N / q(z|x)``, so the joint density is unchanged. When ``q`` is the exact likelihood,
the weighted model no longer depends on ``z``: nothing is left for a guide to learn.

The prior's distribution must implement ``conjugate_update(other) -> (updated,
log_normalizer)``; ppl's distributions do not yet, so only distributions that
provide it work.

Example:
    >>> import ppl.distributions as dist
    >>> ConjugateReparam(dist.Beta(3.0, 9.0)).guide.concentration1.item()
    3.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.distributions import Distribution

from ... import poutine, primitives
from ...distributions import Delta
from .reparam import Reparam, ReparamMessage, ReparamResult

__all__ = ["ConjugateReparam"]


class ConjugateReparam(Reparam):
    """Replace a prior by its conjugate update with ``guide``, importance weighted.

    Args:
        guide: a distribution, or a callable ``(*model_args, **model_kwargs) ->
            distribution`` (then ``poutine.reparam`` must wrap the model so the
            arguments are known).

    Raises:
        NotImplementedError: if the prior has no ``conjugate_update`` or the updated
            distribution cannot be reparameterized.
        TypeError: if the guide does not produce a distribution.
    """

    def __init__(self, guide: Distribution | Callable[..., Distribution]) -> None:
        self.guide = guide

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any = msg["fn"]
        guide_dist: Any = self.guide
        if not isinstance(guide_dist, Distribution):
            if self.args_kwargs is None:
                raise ValueError(
                    f"at site {name!r}: ConjugateReparam with a callable guide needs the "
                    "model's arguments; wrap the model: poutine.reparam(model, config)"
                )
            args, kwargs = self.args_kwargs
            guide_dist = guide_dist(*args, **kwargs)
        if not isinstance(guide_dist, Distribution):
            raise TypeError(
                f"at site {name!r}: ConjugateReparam's guide gave a {type(guide_dist).__name__}, "
                "expected a distribution"
            )
        update = getattr(fn, "conjugate_update", None)
        if update is None:
            raise NotImplementedError(
                f"at site {name!r}: {type(fn).__name__} has no conjugate_update(); "
                "ConjugateReparam needs a prior that implements it"
            )
        updated, log_normalizer = update(guide_dist)
        if not updated.has_rsample:
            raise NotImplementedError(
                f"at site {name!r}: ConjugateReparam supports only reparameterized updated "
                f"distributions, got {type(updated).__name__}"
            )
        value = primitives.sample(
            f"{name}_updated",
            updated,
            obs=msg["value"],
            # untraced, as in Pyro: its density is accounted for by the weight below
            infer={"is_observed": msg["is_observed"], "is_auxiliary": True, "_do_not_trace": True},
        )
        # importance weight p(z) / u(z) = N / q(z | x)
        if poutine.get_mask() is False:
            log_density: Any = 0.0
        else:
            log_density = log_normalizer - guide_dist.log_prob(value)
        new_fn = Delta(value, log_density=log_density, event_dim=len(updated.event_shape))
        return {"fn": new_fn, "value": value, "is_observed": True}
