"""``GumbelSoftmaxReparam``: a relaxed one-hot latent as a function of uniform noise.

``x ~ RelaxedOneHotCategorical(temperature, logits)`` has the law of

    x_uniform ~ Uniform(0, 1)        (one per category)
    x = softmax((logits - log(-log(x_uniform))) / temperature)

(the Gumbel-softmax trick). The auxiliary site has no parameters, so a multimodal
posterior over ``x`` can become a unimodal one over the noise; the latent dimension
grows by one per event.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> fn = dist.RelaxedOneHotCategorical(torch.tensor(0.5), logits=torch.zeros(3))
    >>> model = lambda: ppl.sample("x", fn)
    >>> tr = ppl.poutine.trace(
    ...     ppl.poutine.reparam(model, {"x": GumbelSoftmaxReparam()})).get_trace()
    >>> tuple(tr.nodes["x_uniform"]["value"].shape)
    (3,)
"""

from __future__ import annotations

from typing import Any

import torch

from ... import primitives
from ...distributions import Delta, Uniform
from .reparam import Reparam, ReparamMessage, ReparamResult, expect_family

__all__ = ["GumbelSoftmaxReparam"]


class GumbelSoftmaxReparam(Reparam):
    """Rewrite a ``RelaxedOneHotCategorical`` latent site as uniform noise ``<site>_uniform``.

    Raises:
        TypeError: at a site of another family.
        NotImplementedError: at an observed site.
    """

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        value = msg["value"]
        fn: Any
        fn, event_dim = self._unwrap(msg["fn"])  # type: ignore[arg-type]
        expect_family(self, name, fn, torch.distributions.RelaxedOneHotCategorical)
        if msg["is_observed"]:
            raise NotImplementedError(
                f"at site {name!r}: GumbelSoftmaxReparam does not support observed sites"
            )

        # pull an initial value back to the noise: u = exp(-exp(logits - temperature * log x))
        u = None
        if value is not None:
            u = (fn.logits - value.log() * fn.temperature).exp().neg().exp()
            # (softmax is shift invariant, so this picks one preimage of value)

        proto = fn.logits
        noise = Uniform(torch.zeros_like(proto), torch.ones_like(proto))
        u = primitives.sample(
            f"{name}_uniform",
            self._wrap(noise, event_dim),
            obs=u,
            infer={"is_observed": msg["is_observed"]},
        )
        if value is None:
            gumbel = -(-u.log()).log()
            value = ((fn.logits + gumbel) / fn.temperature).softmax(dim=-1)

        new_fn = Delta(value, event_dim=event_dim).mask(False)
        return {"fn": new_fn, "value": value, "is_observed": True}
