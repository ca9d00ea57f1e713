"""``do``: intervene on sample sites (Pearl's do-operator), Pyro's semantics.

The intervened site is split in two: the original site is still sampled under its
own name (so traces and guides see the natural value), while the model continues
with the intervention value, recorded under ``name + "__CF"`` and hidden from
outer handlers.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.Normal(0.0, 1.0)) + 1
    >>> float(ppl.poutine.do(model, data={"x": torch.tensor(5.0)})())
    6.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .messenger import Messenger, make_handler
from .runtime import Message, apply_stack


class DoMessenger(Messenger):
    """Sample sites named in ``data`` return that value to the model."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__()
        self.data = data

    def process_message(self, msg: Message) -> None:
        if msg.type != "sample" or msg.name is None or msg.name not in self.data:
            return
        if msg.get("_intervened_by") is self:
            return
        intervention = self.data[msg.name]
        if intervention is None:
            return
        natural = msg.copy()
        natural["_intervened_by"] = self
        natural.cond_indep_stack = ()  # the plates will add their frames again
        apply_stack(natural)
        msg.name = f"{msg.name}__CF"
        msg.value = intervention
        msg.is_observed = True
        msg.stop = True


do = make_handler(DoMessenger)
