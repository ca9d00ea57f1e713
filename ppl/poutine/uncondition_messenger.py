"""``uncondition``: turn observed sample sites back into latent ones.

The observed value is kept in ``site["infer"]["obs"]`` with ``was_observed=True``.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))
    >>> tr = ppl.poutine.trace(ppl.poutine.uncondition(model)).get_trace()
    >>> tr.stochastic_nodes
    ['x']
"""

from __future__ import annotations

from .messenger import Messenger, make_handler
from .runtime import Message


class UnconditionMessenger(Messenger):
    """Observed sample sites are sampled instead (the observation moves to ``infer``)."""

    def process_message(self, msg: Message) -> None:
        if msg.type == "sample" and msg.is_observed:
            msg.is_observed = False
            msg.infer = dict(msg.infer, was_observed=True, obs=msg.value)
            msg.value = None
            msg.done = False


uncondition = make_handler(UnconditionMessenger)
