"""``reparam``: rewrite chosen sample sites as auxiliary sites plus a deterministic map.

A reparameterizer (see :mod:`ppl.infer.reparam`) takes one sample site, draws one or
more *auxiliary* sites with a friendlier geometry and returns the original site as a
function of them (usually a masked ``Delta`` that only records the value). The
handler decides which sites to rewrite from ``config``: a dict ``site -> Reparam``
or a callable ``msg -> Reparam | None`` (e.g. a strategy such as
:class:`~ppl.infer.reparam.strategies.AutoReparam`).

Design notes:

* The reparameterizer sees a small dict (``name``, ``fn``, ``value``,
  ``is_observed``) and answers ``fn``, ``value``, ``is_observed``; the handler copies
  the answer into the message. Everything else (plates, scale, mask) is untouched.
* Initialization commutes with reparameterization: an enclosing init handler (one
  that answers the ``get_init_messengers`` statement, e.g. ``InitMessenger``) is
  applied to the site *before* it is rewritten, so the auxiliary sites are started
  where the original site would have been. A reparameterizer that cannot honour a
  custom initial value warns ("does not commute with initialization").
* Some reparameterizers read the model's ``*args, **kwargs``; they are passed along
  when the handler wraps the model (``reparam(model, config)``), not when it is
  used as a bare context manager.
* A config dict naming a site that the model never sampled is most likely a typo;
  the handler warns once, naming the missing sites.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> from ppl.infer.reparam import LocScaleReparam
    >>> def model():
    ...     return ppl.sample("x", dist.Normal(1.0, 2.0))
    >>> tr = ppl.poutine.trace(reparam(model, {"x": LocScaleReparam(0.0)})).get_trace()
    >>> tr.stochastic_nodes
    ['x_decentered']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

import torch
from typing_extensions import ParamSpec

from .messenger import Messenger
from .runtime import Message, am_i_wrapped, apply_stack


class Reparam(Protocol):
    """What the handler needs of a reparameterizer (see :mod:`ppl.infer.reparam`)."""

    args_kwargs: Any  # the wrapped model's (args, kwargs) while apply() runs

    def apply(self, msg: Any) -> Any:
        """Rewrite one site: ``{name, fn, value, is_observed} -> {fn, value, is_observed}``."""
        ...


P = ParamSpec("P")
R = TypeVar("R")

Config: TypeAlias = "Mapping[str, Reparam] | Callable[[Message], Reparam | None]"

__all__ = ["ReparamHandler", "ReparamMessenger", "reparam"]


def _get_init_messengers() -> list[Messenger]:
    """The init handlers enclosing the caller, innermost first.

    Sent as a ``get_init_messengers`` statement; each init handler appends itself to
    the message's value (handlers that do not know the statement ignore it).
    """
    if not am_i_wrapped():
        return []
    msg = Message(type="get_init_messengers", name=None, fn=list, value=[])
    apply_stack(msg)
    return list(msg.value)


def _is_default_init(value: Any) -> bool:
    """True if ``value`` was made by a generic init strategy (no user intent to keep)."""
    return getattr(value, "_pyro_custom_init", True) is False


class ReparamMessenger(Messenger):
    """Rewrite the sample sites chosen by ``config`` with their reparameterizers.

    Args:
        config: a dict mapping site names to
            :class:`~ppl.infer.reparam.reparam.Reparam` objects, or a callable
            ``msg -> Reparam | None`` called at every sample site.

    Raises:
        TypeError: if ``config`` is neither a mapping nor callable.
    """

    def __init__(self, config: Config) -> None:
        super().__init__()
        if not (isinstance(config, Mapping) or callable(config)):
            raise TypeError(
                "reparam: config must be a dict {site name: Reparam} or a callable "
                f"msg -> Reparam | None, got {type(config).__name__}"
            )
        self.config = config
        self._args_kwargs: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._seen: set[str] = set()
        self._warned = False

    def __call__(self, fn: Callable[P, R]) -> ReparamHandler[P, R]:  # type: ignore[override]
        if not callable(fn):
            raise TypeError(f"reparam wraps a callable (a model), got {type(fn).__name__}")
        return ReparamHandler(self, fn)

    def __enter__(self) -> ReparamMessenger:
        self._seen = set()
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        if exc[0] is None and isinstance(self.config, Mapping) and not self._warned:
            missing = sorted(set(self.config) - self._seen)
            if missing:
                self._warned = True
                warnings.warn(
                    f"poutine.reparam: config names site(s) {missing} that the model never "
                    f"sampled (sites seen: {sorted(self._seen)}); check the names",
                    UserWarning,
                    stacklevel=2,
                )

    def _choose(self, msg: Message) -> Reparam | None:
        if isinstance(self.config, Mapping):
            return self.config.get(msg.name)  # type: ignore[arg-type]
        return self.config(msg)

    def process_message(self, msg: Message) -> None:
        if msg.type != "sample" or msg.name is None or msg.infer.get("is_subsample", False):
            return
        self._seen.add(msg.name)
        reparam = self._choose(msg)
        if reparam is None:
            return
        if not hasattr(reparam, "apply"):
            raise TypeError(
                f"at site {msg.name!r}: reparam config gave a {type(reparam).__name__}, "
                "expected a ppl.infer.reparam.Reparam (an object with .apply(msg))"
            )

        # Apply enclosing init handlers now, so that the auxiliary sites start where the
        # original site would have started (they do not overwrite a value later).
        for init in _get_init_messengers():
            try:
                init.process_message(msg)
            except NotImplementedError:
                # the strategy cannot initialize this family (e.g. no bijection to its
                # support): the auxiliary sites are initialized when they are sampled
                msg.value, msg.done = None, False

        reparam.args_kwargs = self._args_kwargs  # side channel (Pyro's)
        try:
            result = reparam.apply(
                {
                    "name": msg.name,
                    "fn": msg.fn,
                    "value": msg.value,
                    "is_observed": msg.is_observed,
                }
            )
        finally:
            reparam.args_kwargs = None

        new_value = result["value"]
        if new_value is not None:
            if getattr(msg.fn, "_validate_args", False) and hasattr(msg.fn, "_validate_sample"):
                msg.fn._validate_sample(new_value)
            old_value = msg.value
            if old_value is not None and old_value is not new_value:
                if (
                    isinstance(new_value, torch.Tensor)
                    and isinstance(old_value, torch.Tensor)
                    and not torch.jit.is_tracing()
                    and new_value.shape != old_value.shape
                ):
                    raise ValueError(
                        f"at site {msg.name!r}: {type(reparam).__name__} changed the shape "
                        f"of the initial value from {tuple(old_value.shape)} to "
                        f"{tuple(new_value.shape)}"
                    )
                if not _is_default_init(old_value):
                    warnings.warn(
                        f"At ppl.sample({msg.name!r},...), {type(reparam).__name__} does not "
                        "commute with initialization; falling back to default initialization.",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        msg.fn = result["fn"]
        msg.value = new_value
        msg.is_observed = bool(result["is_observed"])


class ReparamHandler(Generic[P, R]):
    """``fn`` run inside a :class:`ReparamMessenger`, which sees ``fn``'s arguments."""

    def __init__(self, msngr: ReparamMessenger, fn: Callable[P, R]) -> None:
        self.msngr = msngr
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        self.msngr._args_kwargs = (args, kwargs)
        try:
            with self.msngr:
                return self.fn(*args, **kwargs)
        finally:
            self.msngr._args_kwargs = None

    def __repr__(self) -> str:
        return f"<ReparamMessenger handling {self.__name__!r}>"


def reparam(fn: Callable[..., Any] | None = None, config: Config | None = None) -> Any:
    """Reparameterize the sample sites of ``fn`` chosen by ``config`` (Pyro's ``poutine.reparam``).

    Args:
        fn: the model; without it the messenger is returned (a context manager or
            decorator).
        config: ``{site name: Reparam}`` or a callable ``msg -> Reparam | None``.

    Returns:
        The wrapped model, or a :class:`ReparamMessenger`.

    Raises:
        TypeError: if ``config`` is missing or of the wrong type.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> from ppl.infer.reparam import LocScaleReparam
        >>> with ppl.poutine.trace() as tr, reparam(config={"x": LocScaleReparam(0.0)}):
        ...     _ = ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> tr.trace.nodes["x_decentered"]["fn"].__class__.__name__
        'Normal'
    """
    if config is None:
        if isinstance(fn, Mapping):
            fn, config = None, fn  # reparam(config) written positionally
        else:
            raise TypeError("reparam needs config= (a dict {site: Reparam} or a callable)")
    msngr = ReparamMessenger(config)
    return msngr(fn) if fn is not None else msngr
