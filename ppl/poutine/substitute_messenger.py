"""``substitute``: give sample and param sites fixed values, without observing them.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> float(ppl.poutine.substitute(model, data={"x": torch.tensor(2.0)})())
    2.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .messenger import Messenger, make_handler
from .runtime import Message


class SubstituteMessenger(Messenger):
    """Sites named in ``data`` (or for which ``substitute_fn(msg)`` is not None) take that value.

    Param sites receive the given *constrained* value; latent sample sites stay
    latent (their log-density is still counted), unlike ``condition``.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        substitute_fn: Callable[[Message], Any] | None = None,
    ) -> None:
        super().__init__()
        if (data is None) == (substitute_fn is None):
            raise ValueError("substitute needs exactly one of data= or substitute_fn=")
        self.data = data
        self.substitute_fn = substitute_fn

    def process_message(self, msg: Message) -> None:
        if msg.type not in ("sample", "param") or msg.is_observed:
            return
        if self.data is not None:
            if msg.name not in self.data:
                return
            value = self.data[msg.name]  # type: ignore[index]
        else:
            value = self.substitute_fn(msg)  # type: ignore[misc]
            if value is None:
                return
        msg.value = value
        msg.done = True


substitute = make_handler(SubstituteMessenger)
