"""``replay``: reuse the values a previous trace drew (how a model sees the guide's draws).

Example:
    >>> import ppl, ppl.distributions as dist
    >>> guide_tr = ppl.poutine.trace(lambda: ppl.sample("z", dist.Normal(0.0, 1.0))).get_trace()
    >>> z = ppl.poutine.replay(lambda: ppl.sample("z", dist.Normal(5.0, 1.0)), trace=guide_tr)()
    >>> bool(z == guide_tr.nodes["z"]["value"])
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .messenger import Messenger, make_handler
from .runtime import Message
from .trace_struct import Trace


class ReplayMessenger(Messenger):
    """Latent sample sites named in ``trace`` take that trace's value (and ``infer``);
    param sites named in ``params`` take the given value.

    Raises:
        ValueError: if a replayed site is observed in ``trace`` or is not a sample site.
    """

    def __init__(self, trace: Trace | None = None, params: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if trace is None and params is None:
            raise ValueError("replay needs a trace= or params= to replay from")
        self.trace = trace
        self.params = params

    def process_message(self, msg: Message) -> None:
        if msg.type == "sample":
            if self.trace is None or msg.is_observed:
                return
            source = self.trace.nodes.get(msg.name)  # type: ignore[arg-type]
            if source is None:
                return
            if source.type != "sample" or source.is_observed:
                raise ValueError(
                    f"replay: site {msg.name!r} must be a latent sample site in the replayed "
                    f"trace, but there it is {'observed' if source.is_observed else source.type!r}"
                )
            msg.value = source.value
            msg.infer = source.infer
            msg.done = True
        elif msg.type == "param" and self.params is not None and msg.name in self.params:
            msg.value = self.params[msg.name]  # type: ignore[index]
            msg.done = True


replay = make_handler(ReplayMessenger)
