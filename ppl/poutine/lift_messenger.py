"""``lift``: turn param sites into sample sites drawn from a prior.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.param("w", torch.zeros(2))
    >>> tr = ppl.poutine.trace(ppl.poutine.lift(model, prior=dist.Normal(0.0, 1.0))).get_trace()
    >>> tr.nodes["w"]["type"], tuple(tr.nodes["w"]["value"].shape)
    ('sample', (2,))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch.distributions import Distribution

from .messenger import Messenger, make_handler
from .runtime import Message


class LiftMessenger(Messenger):
    """Param sites become sample sites.

    Args:
        prior: one distribution for every param, a dict name -> distribution (params
            not in it stay params), or a callable name -> distribution or None. A prior
            whose batch shape is empty is expanded to the param's initial shape.
    """

    def __init__(self, prior: Distribution | Mapping[str, Any] | Callable[[str], Any]) -> None:
        super().__init__()
        self.prior = prior

    def _prior_for(self, name: str) -> Any:
        if isinstance(self.prior, Distribution):
            return self.prior
        if isinstance(self.prior, Mapping):
            return self.prior.get(name)
        return self.prior(name)

    def process_message(self, msg: Message) -> None:
        if msg.type != "param" or msg.name is None:
            return
        prior = self._prior_for(msg.name)
        if prior is None:
            return
        init = msg.kwargs.get("init_tensor")
        if callable(init) and not hasattr(init, "shape"):
            init = init()
        shape = getattr(init, "shape", None)
        if shape is not None and len(prior.batch_shape) + len(prior.event_shape) < len(shape):
            prior = prior.expand(shape[: len(shape) - len(prior.event_shape)])
        msg.type = "sample"
        msg.fn = prior
        msg.args = ()
        msg.kwargs = {}
        msg.infer = {}
        msg.is_observed = False


lift = make_handler(LiftMessenger)
