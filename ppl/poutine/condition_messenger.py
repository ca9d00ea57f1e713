"""``condition``: observe sample sites at given values.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> conditioned = ppl.poutine.condition(model, data={"x": torch.tensor(1.0)})
    >>> tr = ppl.poutine.trace(conditioned).get_trace()
    >>> tr.observation_nodes
    ['x']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .messenger import Messenger, make_handler
from .runtime import Message
from .trace_struct import Trace


class ConditionMessenger(Messenger):
    """Sample sites named in ``data`` (a dict or a trace) become observed at that value."""

    def __init__(self, data: Mapping[str, Any] | Trace) -> None:
        super().__init__()
        self.data = data

    def process_message(self, msg: Message) -> None:
        if msg.type != "sample":
            return
        data = self.data
        if isinstance(data, Trace):
            site = data.nodes.get(msg.name)  # type: ignore[arg-type]
            if site is None or site.type != "sample":
                return
            value = site.value
        elif msg.name in data:
            value = data[msg.name]  # type: ignore[index]
        else:
            return
        msg.value = value
        msg.is_observed = True


condition = make_handler(ConditionMessenger)
