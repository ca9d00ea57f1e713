"""``scale``: multiply the log-density of every sample site by a factor.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> with ppl.poutine.trace() as tm, ppl.poutine.scale(scale=10.0):
    ...     _ = ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> tm.trace.nodes["x"]["scale"]
    10.0
"""

from __future__ import annotations

from numbers import Number

import torch

from .messenger import Messenger, make_handler
from .runtime import Message


class ScaleMessenger(Messenger):
    """Multiplies ``msg.scale`` of sample sites by ``scale`` (a positive number or tensor).

    Raises:
        ValueError: if a numeric scale is not positive.
    """

    def __init__(self, scale: float | torch.Tensor) -> None:
        super().__init__()
        if isinstance(scale, Number) and not scale > 0:  # type: ignore[operator]
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = scale

    def process_message(self, msg: Message) -> None:
        if msg.type == "sample":
            msg.scale = self.scale * msg.scale


scale = make_handler(ScaleMessenger)
