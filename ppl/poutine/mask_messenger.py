"""``mask``: zero the log-density of sample sites where a boolean mask is False.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> with ppl.poutine.trace() as tm, ppl.poutine.mask(mask=torch.tensor([True, False])):
    ...     _ = ppl.sample("x", dist.Normal(torch.zeros(2), 1.0))
    >>> tm.trace.nodes["x"]["mask"]
    tensor([ True, False])
"""

from __future__ import annotations

import torch

from .messenger import Messenger, make_handler
from .runtime import Message


class MaskMessenger(Messenger):
    """Combines ``mask`` (bool or bool tensor, broadcast to the batch shape) into ``msg.mask``.

    Raises:
        TypeError: if ``mask`` is neither a bool nor a bool tensor.
    """

    def __init__(self, mask: bool | torch.Tensor) -> None:
        super().__init__()
        if not isinstance(mask, bool) and not (
            isinstance(mask, torch.Tensor) and mask.dtype == torch.bool
        ):
            raise TypeError(f"mask must be a bool or a bool tensor, got {mask!r}")
        self.mask = mask

    def process_message(self, msg: Message) -> None:
        if msg.type == "sample":
            msg.mask = self.mask if msg.mask is None else msg.mask & self.mask


mask = make_handler(MaskMessenger)


def get_mask() -> bool | torch.Tensor | None:
    """The combined mask of the active ``mask`` handlers, or None when there is none.

    Lets model code skip work whose result would be masked out anyway.
    """
    from .runtime import handler_stack

    combined: bool | torch.Tensor | None = None
    for handler in handler_stack():
        if isinstance(handler, MaskMessenger):
            combined = handler.mask if combined is None else combined & handler.mask
    return combined
