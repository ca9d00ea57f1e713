"""``infer_config``: add entries to the ``infer`` dict of sites, computed per site.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> cfg = lambda msg: {"is_auxiliary": True}
    >>> model = lambda: ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> tr = ppl.poutine.trace(ppl.poutine.infer_config(model, config_fn=cfg)).get_trace()
    >>> tr.nodes["x"]["infer"]["is_auxiliary"]
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .messenger import Messenger, make_handler
from .runtime import Message


class InferConfigMessenger(Messenger):
    """Updates ``msg.infer`` of sample and param sites with ``config_fn(msg)``."""

    def __init__(self, config_fn: Callable[[Message], dict[str, Any]]) -> None:
        super().__init__()
        self.config_fn = config_fn

    def process_message(self, msg: Message) -> None:
        if msg.type in ("sample", "param"):
            msg.infer = dict(msg.infer, **self.config_fn(msg))


infer_config = make_handler(InferConfigMessenger)
