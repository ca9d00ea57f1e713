"""``block``: hide sites from the handlers outside it.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> def model():
    ...     ppl.sample("a", dist.Normal(0.0, 1.0))
    ...     ppl.sample("b", dist.Normal(0.0, 1.0))
    >>> tr = ppl.poutine.trace(ppl.poutine.block(model, hide=["a"])).get_trace()
    >>> tr.stochastic_nodes
    ['b']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from .messenger import Messenger, make_handler
from .runtime import Message


class BlockMessenger(Messenger):
    """Stop chosen messages at this handler, so outer handlers (e.g. ``trace``) never see them.

    Choose by predicate (``hide_fn`` / ``expose_fn``), by name (``hide`` /
    ``expose``), by type (``hide_types`` / ``expose_types``), or everything
    (``hide_all``, the default when nothing else is given; ``expose_all``).
    """

    def __init__(
        self,
        hide_fn: Callable[[Message], bool] | None = None,
        expose_fn: Callable[[Message], bool] | None = None,
        hide_all: bool = True,
        expose_all: bool = False,
        hide: Iterable[str] | None = None,
        expose: Iterable[str] | None = None,
        hide_types: Iterable[str] | None = None,
        expose_types: Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        if not (hide_fn is None or expose_fn is None):
            raise ValueError("block: give hide_fn or expose_fn, not both")
        self.hide_fn = self._make_predicate(
            hide_fn, expose_fn, hide_all, expose_all, hide, expose, hide_types, expose_types
        )

    @staticmethod
    def _make_predicate(
        hide_fn, expose_fn, hide_all, expose_all, hide, expose, hide_types, expose_types
    ):
        # module-level functions under functools.partial (not lambdas), so that a
        # blocked model can be pickled
        if hide_fn is not None:
            return hide_fn
        if expose_fn is not None:
            return functools.partial(_negated, expose_fn)
        if hide is not None or hide_types is not None:
            return functools.partial(_named, frozenset(hide or ()), frozenset(hide_types or ()))
        if expose is not None or expose_types is not None:
            named = functools.partial(
                _named, frozenset(expose or ()), frozenset(expose_types or ())
            )
            return functools.partial(_negated, named)
        if expose_all:
            return functools.partial(_constant, False)
        return functools.partial(_constant, bool(hide_all))

    def process_message(self, msg: Message) -> None:
        if self.hide_fn(msg):
            msg.stop = True


def _negated(fn: Callable[[Message], bool], msg: Message) -> bool:
    return not fn(msg)


def _named(names: frozenset, types: frozenset, msg: Message) -> bool:
    # As in Pyro, an observed sample site has the type "observe" here, so
    # ``hide_types=["observe"]`` hides the data and ``["sample"]`` only the latents.
    kind = "observe" if msg.type == "sample" and msg.is_observed else msg.type
    return msg.name in names or kind in types


def _constant(value: bool, msg: Message) -> bool:
    return value


block = make_handler(BlockMessenger)
