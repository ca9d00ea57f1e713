"""``equalize``: give every matching site the value of the first one.

Sites are matched by full regular-expression match of their names (and by type,
``"sample"`` by default). The first matching site runs as usual; each later one
takes its value. For sample sites the later ones either become masked point masses
(their density is dropped: the model has fewer free variables), or, with
``keep_dist=True``, keep their distribution and are scored as observed at the shared
value, i.e. the model is conditioned on the sites being equal.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> def model():
    ...     a = ppl.sample("a_std", dist.Normal(0.0, 1.0))
    ...     return a, ppl.sample("b_std", dist.Normal(0.0, 1.0))
    >>> a, b = equalize(model, ".+_std")()
    >>> bool(a == b)
    True
"""

from __future__ import annotations

import re
from typing import Any

from ppl.distributions import Delta

from .messenger import Messenger, make_handler
from .runtime import Message


class EqualizeMessenger(Messenger):
    """Share the first matching site's value with every later matching site.

    Args:
        sites: a regular expression or a list of them, matched against whole names.
        type: the site type to match (``"sample"`` or ``"param"``).
        keep_dist: keep later sample sites' distributions (condition on equality)
            instead of replacing them by masked point masses.
    """

    def __init__(
        self, sites: str | list[str], type: str | None = "sample", keep_dist: bool | None = False
    ) -> None:
        super().__init__()
        patterns = [sites] if isinstance(sites, str) else list(sites)
        self.sites = patterns
        self._patterns = [re.compile(p) for p in patterns]
        self.type = type
        self.keep_dist = bool(keep_dist)
        self.value: Any = None

    def __enter__(self) -> EqualizeMessenger:
        self.value = None
        return super().__enter__()  # type: ignore[return-value]

    def _matches(self, msg: Message) -> bool:
        return (
            msg.type == self.type
            and msg.name is not None
            and any(p.fullmatch(msg.name) for p in self._patterns)
        )

    def process_message(self, msg: Message) -> None:
        if self.value is None or not self._matches(msg):
            return
        msg.value = self.value
        if msg.type == "sample":
            msg.is_observed = True
            if not self.keep_dist:
                msg.infer = {"_deterministic": True}
                event_dim = getattr(msg.fn, "event_dim", len(getattr(msg.fn, "event_shape", ())))
                msg.fn = Delta(self.value, event_dim=event_dim).mask(False)

    def postprocess_message(self, msg: Message) -> None:
        if self.value is None and self._matches(msg):
            self.value = msg.value


equalize = make_handler(EqualizeMessenger)
