"""``ppl.contrib.minipyro``: a whole probabilistic programming language in one file.

Why
---
Pyro ships ``pyro.contrib.minipyro`` as a teaching aid: the few ideas a PPL is made of
(an effect stack of handlers, ``sample``/``param`` messages, ``trace``/``replay``
handlers, an ELBO and an SVI loop) without ppl's validation, plates with subsampling,
enumeration or compilation. Pyro's ``examples/minipyro.py`` and ``pyro.generic``
(pyroapi) pick it as the ``"minipyro"`` backend, so this module keeps Pyro's names:
``get_param_store``, ``Messenger``, ``trace``, ``replay``, ``block``, ``seed``,
``PlateMessenger``, ``apply_stack``, ``sample``, ``param``, ``plate``, ``Adam``,
``SVI``, ``elbo``, ``Trace_ELBO`` and ``JitTrace_ELBO``.

It depends on torch only and shares nothing with ppl's runtime: its own handler stack
(:data:`HANDLER_STACK`) and its own parameter store (:data:`PARAM_STORE`, a plain dict
of ``name -> (unconstrained leaf, constraint)``).

How a message flows
-------------------
``sample``/``param`` build a message dict and hand it to :func:`apply_stack`, which
offers it to every active handler from the innermost outwards (``process_message``),
stopping early at a handler that sets ``msg["stop"]``; if no handler supplied a value,
the message's ``fn`` computes one; then the handlers that saw the message get
``postprocess_message`` in the opposite order (outermost last).

Example:
    >>> import torch
    >>> from torch.distributions import Normal
    >>> from ppl.contrib import minipyro
    >>> minipyro.get_param_store().clear(); _ = torch.manual_seed(0)
    >>> data = torch.randn(100) + 3.0
    >>> def model(data):
    ...     loc = minipyro.sample("loc", Normal(0.0, 1.0))
    ...     with minipyro.plate("data", len(data), dim=-1):
    ...         minipyro.sample("obs", Normal(loc, 1.0), obs=data)
    >>> def guide(data):
    ...     loc = minipyro.param("guide_loc", torch.tensor(0.0))
    ...     scale = minipyro.param("guide_scale", torch.tensor(1.0),
    ...                            constraint=torch.distributions.constraints.positive)
    ...     minipyro.sample("loc", Normal(loc, scale))
    >>> svi = minipyro.SVI(model, guide, minipyro.Adam({"lr": 0.05}), minipyro.Trace_ELBO())
    >>> for _ in range(500):
    ...     _ = svi.step(data)
    >>> exact_mean = float(data.sum() / (len(data) + 1))  # conjugate Normal posterior
    >>> abs(float(minipyro.param("guide_loc")) - exact_mean) < 0.05
    True
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.distributions import constraints, transform_to

Message = dict[str, Any]

# Handlers currently active, outermost first.
HANDLER_STACK: list[Messenger] = []
# name -> (unconstrained leaf tensor, constraint)
PARAM_STORE: dict[str, tuple[torch.Tensor, constraints.Constraint]] = {}


def get_param_store() -> dict[str, tuple[torch.Tensor, constraints.Constraint]]:
    """The global parameter store: a dict of ``name -> (unconstrained leaf, constraint)``."""
    return PARAM_STORE


class Messenger:
    """Base handler: while active (as a context or wrapping ``fn``), sees every message.

    Subclasses override :meth:`process_message` (before the value exists) and/or
    :meth:`postprocess_message` (after).
    """

    def __init__(self, fn: Callable[..., Any] | None = None) -> None:
        self.fn = fn

    def __enter__(self) -> Messenger:
        HANDLER_STACK.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not HANDLER_STACK or HANDLER_STACK[-1] is not self:
            raise RuntimeError(f"minipyro: {type(self).__name__} exited out of order")
        HANDLER_STACK.pop()

    def process_message(self, msg: Message) -> None:
        """Called on the way in, innermost handler first."""

    def postprocess_message(self, msg: Message) -> None:
        """Called on the way out, outermost handler last."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fn is None:
            raise TypeError(f"minipyro: {type(self).__name__} wraps no function")
        with self:
            return self.fn(*args, **kwargs)


class trace(Messenger):
    """Record every message (or only ``param`` ones) by site name, in order."""

    def __init__(self, fn: Callable[..., Any] | None = None, param_only: bool = False) -> None:
        super().__init__(fn)
        self.param_only = param_only
        self.trace: OrderedDict[str, Message] = OrderedDict()

    def __enter__(self) -> trace:
        super().__enter__()
        self.trace = OrderedDict()
        return self

    def postprocess_message(self, msg: Message) -> None:
        if self.param_only and msg["type"] != "param":
            return
        if msg["type"] == "sample" and msg["name"] in self.trace:
            raise RuntimeError(f"minipyro: sample site {msg['name']!r} appears twice")
        self.trace[msg["name"]] = msg.copy()

    def get_trace(self, *args: Any, **kwargs: Any) -> OrderedDict[str, Message]:
        """Run the wrapped function and return what it recorded."""
        self(*args, **kwargs)
        return self.trace

    # A trace used as a context reads like the dict it holds.
    def values(self) -> Any:
        return self.trace.values()

    def __iter__(self) -> Iterator[str]:
        return iter(self.trace)


class replay(Messenger):
    """Give each sample site the value the same-named site has in ``guide_trace``."""

    def __init__(self, fn: Callable[..., Any], guide_trace: dict[str, Message]) -> None:
        super().__init__(fn)
        self.guide_trace = guide_trace

    def process_message(self, msg: Message) -> None:
        if msg["type"] == "sample" and msg["name"] in self.guide_trace:
            msg["value"] = self.guide_trace[msg["name"]]["value"]


class block(Messenger):
    """Hide the messages ``hide_fn`` selects (all by default) from the handlers outside."""

    def __init__(
        self,
        fn: Callable[..., Any] | None = None,
        hide_fn: Callable[[Message], bool] = lambda msg: True,
    ) -> None:
        super().__init__(fn)
        self.hide_fn = hide_fn

    def process_message(self, msg: Message) -> None:
        if self.hide_fn(msg):
            msg["stop"] = True


class seed(Messenger):
    """Seed torch's generator on entry and give the caller's random state back on exit."""

    def __init__(self, fn: Callable[..., Any] | None = None, rng_seed: int | None = None) -> None:
        super().__init__(fn)
        self.rng_seed = rng_seed
        self._saved: torch.Tensor | None = None

    def __enter__(self) -> seed:
        self._saved = torch.get_rng_state()
        if self.rng_seed is not None:
            torch.manual_seed(self.rng_seed)
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, *exc_info: object) -> None:
        super().__exit__(*exc_info)
        if self._saved is not None:
            torch.set_rng_state(self._saved)


class PlateMessenger(Messenger):
    """Make every sample site inside have ``size`` independent copies along batch ``dim``."""

    def __init__(self, fn: Callable[..., Any] | None, size: int, dim: int) -> None:
        if dim >= 0:
            raise ValueError(f"minipyro: a plate dim counts from the right (< 0), got {dim}")
        super().__init__(fn)
        self.size = size
        self.dim = dim

    def process_message(self, msg: Message) -> None:
        if msg["type"] != "sample":
            return
        shape = list(msg["fn"].batch_shape)
        if len(shape) < -self.dim:
            shape = [1] * (-self.dim - len(shape)) + shape
        if shape[self.dim] != self.size:
            shape[self.dim] = self.size
            msg["fn"] = msg["fn"].expand(torch.Size(shape))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.size))


def apply_stack(msg: Message) -> Message:
    """Send ``msg`` through the active handlers and compute its value if none gave one."""
    seen = 0
    for handler in reversed(HANDLER_STACK):
        handler.process_message(msg)
        seen += 1
        if msg.get("stop"):
            break
    if msg["value"] is None:
        compute = _draw if msg["type"] == "sample" else _call
        msg["value"] = compute(msg["fn"], *msg["args"], **msg["kwargs"])
    for handler in HANDLER_STACK[len(HANDLER_STACK) - seen :]:
        handler.postprocess_message(msg)
    return msg


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def _draw(fn: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
    # ppl's (and Pyro's) distributions draw when called (reparameterized when they can);
    # torch's own have no __call__, so do what the call would.
    if callable(fn):
        return fn(*args, **kwargs)
    return fn.rsample(*args, **kwargs) if fn.has_rsample else fn.sample(*args, **kwargs)


def sample(name: str, fn: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
    """Draw from distribution ``fn`` at site ``name`` (or take ``obs=`` as its value)."""
    obs = kwargs.pop("obs", None)
    if not HANDLER_STACK:
        return obs if obs is not None else _draw(fn, *args, **kwargs)
    msg: Message = {
        "type": "sample",
        "name": name,
        "fn": fn,
        "args": args,
        "kwargs": kwargs,
        "value": obs,
        "is_observed": obs is not None,
    }
    return apply_stack(msg)["value"]


def param(
    name: str,
    init_value: torch.Tensor | Callable[[], torch.Tensor] | None = None,
    constraint: constraints.Constraint = constraints.real,
    event_dim: int | None = None,
) -> torch.Tensor:
    """The value of parameter ``name``, created from ``init_value`` on first use.

    The store keeps an unconstrained leaf ``u`` and the value is
    ``transform_to(constraint)(u)``; the value carries ``.unconstrained()``, returning
    the leaf the optimizer updates. ``event_dim`` is accepted for Pyro's signature;
    minipyro has no local (plate-sliced) params.
    """

    def fetch(init_value: Any, constraint: constraints.Constraint) -> torch.Tensor:
        if name not in PARAM_STORE:
            if init_value is None:
                raise KeyError(f"minipyro: param {name!r} has no value yet and no init_value")
            if callable(init_value):
                init_value = init_value()
            init = torch.as_tensor(init_value)
            with torch.no_grad():
                leaf = transform_to(constraint).inv(init).clone()
            PARAM_STORE[name] = (leaf.requires_grad_(), constraint)
        leaf, constraint = PARAM_STORE[name]
        value = transform_to(constraint)(leaf)
        value.unconstrained = weakref.ref(leaf)  # type: ignore[attr-defined]
        return value

    if not HANDLER_STACK:
        return fetch(init_value, constraint)
    msg: Message = {
        "type": "param",
        "name": name,
        "fn": fetch,
        "args": (init_value, constraint),
        "kwargs": {},
        "value": None,
    }
    return apply_stack(msg)["value"]


def plate(name: str, size: int, dim: int | None = None) -> PlateMessenger:
    """A context whose sample sites are batched ``size`` times along ``dim``.

    Without ``dim``, the plate takes the first batch dim (from the right) that no
    enclosing plate uses.
    """
    if dim is None:
        used = {h.dim for h in HANDLER_STACK if isinstance(h, PlateMessenger)}
        dim = -1
        while dim in used:
            dim -= 1
    return PlateMessenger(fn=None, size=size, dim=dim)


class Adam:
    """``torch.optim.Adam`` per parameter, created the first time a parameter is seen."""

    def __init__(self, optim_args: dict[str, Any]) -> None:
        self.optim_args = dict(optim_args)
        self.optims: dict[torch.Tensor, torch.optim.Adam] = {}

    def __call__(self, params: list[torch.Tensor]) -> None:
        for p in params:
            if p not in self.optims:
                self.optims[p] = torch.optim.Adam([p], **self.optim_args)
            self.optims[p].step()


class SVI:
    """Stochastic variational inference: one gradient step of ``loss`` per :meth:`step`."""

    def __init__(
        self, model: Callable[..., Any], guide: Callable[..., Any], optim: Adam, loss: Any
    ):
        self.model = model
        self.guide = guide
        self.optim = optim
        self.loss = loss

    def step(self, *args: Any, **kwargs: Any) -> float:
        """Evaluate the loss, take a gradient step on every param it used, return it."""
        with trace(param_only=True) as used:
            loss = self.loss(self.model, self.guide, *args, **kwargs)
            loss.backward()
        leaves = [site["value"].unconstrained() for site in used.values()]
        self.optim(leaves)
        for leaf in leaves:
            leaf.grad = None
        return float(loss.detach())


def elbo(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> torch.Tensor:
    """Minus the single-sample ELBO: ``log q(z) - log p(x, z)`` with ``z ~ guide``."""
    guide_trace = trace(guide).get_trace(*args, **kwargs)
    model_trace = trace(replay(model, guide_trace)).get_trace(*args, **kwargs)
    total = torch.zeros(())
    for site in model_trace.values():
        if site["type"] == "sample":
            total = total + site["fn"].log_prob(site["value"]).sum()
    for site in guide_trace.values():
        if site["type"] == "sample":
            total = total - site["fn"].log_prob(site["value"]).sum()
    return -total


def Trace_ELBO(**kwargs: Any) -> Callable[..., torch.Tensor]:
    """The ELBO as a loss function (Pyro's options are accepted and unused)."""
    return elbo


class JitTrace_ELBO:
    """:func:`elbo` compiled by ``torch.jit.trace`` on its first call.

    The traced function takes the params' unconstrained leaves and the tensor
    arguments as inputs; the sampling ops stay in the graph, so every call draws anew.
    Non-tensor arguments are frozen into the graph (a new value retraces).
    """

    def __init__(self, **kwargs: Any) -> None:
        self.ignore_jit_warnings = bool(kwargs.pop("ignore_jit_warnings", False))
        self._compiled: Any = None
        self._names: list[str] = []
        self._key: Any = None

    def __call__(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any
    ) -> torch.Tensor:
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        key = tuple(repr(a) for a in args if not isinstance(a, torch.Tensor))
        if self._compiled is None or key != self._key:
            self._trace(model, guide, args, tensor_pos)
            self._key = key
        for name in self._names:  # let the caller's handlers (SVI's capture) see the params
            param(name)
        leaves = [PARAM_STORE[name][0] for name in self._names]
        return self._compiled(*leaves, *(args[i] for i in tensor_pos))

    def _trace(self, model: Any, guide: Any, args: tuple[Any, ...], tensor_pos: list[int]) -> None:
        with block(), trace(param_only=True) as used:  # creates the params; hidden outside
            elbo(model, guide, *args)
        self._names = list(used)
        names = self._names

        def flat_elbo(*inputs: torch.Tensor) -> torch.Tensor:
            saved = {name: PARAM_STORE[name] for name in names}
            call_args = list(args)
            for i, value in zip(tensor_pos, inputs[len(names) :]):
                call_args[i] = value
            try:
                for name, leaf in zip(names, inputs):
                    PARAM_STORE[name] = (leaf, saved[name][1])
                return elbo(model, guide, *call_args)
            finally:
                PARAM_STORE.update(saved)

        leaves = tuple(PARAM_STORE[name][0] for name in names)
        example = leaves + tuple(args[i] for i in tensor_pos)
        with warnings.catch_warnings():
            if self.ignore_jit_warnings:
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            self._compiled = torch.jit.trace(flat_elbo, example, check_trace=False)


__all__ = [
    "HANDLER_STACK",
    "PARAM_STORE",
    "Adam",
    "JitTrace_ELBO",
    "Messenger",
    "PlateMessenger",
    "SVI",
    "Trace_ELBO",
    "apply_stack",
    "block",
    "elbo",
    "get_param_store",
    "param",
    "plate",
    "replay",
    "sample",
    "seed",
    "trace",
]
