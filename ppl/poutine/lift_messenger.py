"""``lift``: turn param sites into sample sites drawn from a prior.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.param("w", torch.zeros(2))
    >>> tr = ppl.poutine.trace(ppl.poutine.lift(model, prior=dist.Normal(0.0, 1.0))).get_trace()
    >>> tr.nodes["w"]["type"], tuple(tr.nodes["w"]["value"].shape)
    ('sample', (2,))
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from torch.distributions import Distribution

from .. import settings as _settings
from ..params.param_store import user_param_name
from .messenger import Messenger, make_handler
from .runtime import Message


class LiftMessenger(Messenger):
    """Param sites become sample sites.

    Args:
        prior: one distribution for every param; a dict from param name (the user
            name, without a module prefix) to a distribution or a stochastic function
            (params not in it stay params); or a stochastic function for every param.
            A stochastic function is called with the param's initial tensor and its
            value becomes the site's; a site lifted by a bare function is hidden from
            the handlers outside (as in Pyro). A distribution whose batch shape is too
            small is expanded to the param's initial shape.

    A param read twice in one run is sampled once: the later reads see that value.
    Under validation, dict keys that matched no param warn when the handler exits.
    """

    def __init__(self, prior: Distribution | Mapping[str, Any] | Callable[..., Any]) -> None:
        super().__init__()
        self.prior = prior
        self._samples_cache: dict[str, Message] = {}
        self._param_hits: set[str] = set()
        self._param_misses: set[str] = set()

    def __enter__(self) -> LiftMessenger:
        self._samples_cache = {}
        self._param_hits, self._param_misses = set(), set()
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, *args: Any) -> Any:
        self._samples_cache = {}
        if _settings.is_validation_enabled() and isinstance(self.prior, Mapping):
            unused = set(self.prior) - self._param_hits
            if unused:
                warnings.warn(
                    f"pyro.module prior did not find params {sorted(unused)}; the params "
                    f"seen were {sorted(self._param_misses)}",
                    stacklevel=2,
                )
        return super().__exit__(*args)

    def process_message(self, msg: Message) -> None:
        if msg.type != "param" or msg.name is None:
            return
        name = str(msg.name)
        user_name = user_param_name(name)
        stop = False
        if isinstance(self.prior, Mapping):
            if user_name not in self.prior:
                self._param_misses.add(user_name)
                return
            self._param_hits.add(user_name)
            prior = self.prior[user_name]
        elif isinstance(self.prior, Distribution):
            prior = self.prior
        elif callable(self.prior):
            prior, stop = self.prior, True
        else:
            return
        init = msg.kwargs.get("init_tensor")
        if callable(init) and not hasattr(init, "shape"):
            init = init()
        if isinstance(prior, Distribution):
            shape = getattr(init, "shape", None)
            if shape is not None and len(prior.batch_shape) + len(prior.event_shape) < len(shape):
                prior = prior.expand(shape[: len(shape) - len(prior.event_shape)])
            msg.args = ()
        else:  # a stochastic function, called with the param's initial tensor
            msg.args = () if init is None else (init,)
        msg.type = "sample"
        msg.fn = prior
        msg.kwargs = {}
        msg.infer = {}
        if name in self._samples_cache:  # a repeated read: reuse the first draw
            msg.value = self._samples_cache[name].value
            msg.is_observed = True
            msg.stop = True
            return
        self._samples_cache[name] = msg
        msg.is_observed = False
        if stop:
            msg.stop = True


lift = make_handler(LiftMessenger)
