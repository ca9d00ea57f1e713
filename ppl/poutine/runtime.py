"""The effect-handler runtime: the message, the handler stack and ``apply_stack``.

Every ``ppl.sample`` / ``ppl.param`` statement becomes one :class:`Message`, sent
through the stack of active handlers:

1. from the innermost handler outwards, each handler's ``process_message`` may
   change the message (fix its value, scale it, add a plate frame ...); a handler
   that sets ``msg.stop`` hides the message from the handlers outside it;
2. if no handler supplied a value, the default behaviour runs:
   ``msg.value = msg.fn(*msg.args, **msg.kwargs)`` (draw a sample, read a param);
3. the handlers that saw the message get ``postprocess_message`` in stack
   order, from the outermost one that saw it to the innermost, as in Pyro
   (``trace`` records the finished message here).

The stack is private to this module: handlers enter and leave it through
:func:`push_handler` / :func:`pop_handler`, which keep it consistent even when a
model raises.

A message is a ``dataclass(slots=True)``: fast to build and typed, yet it also
answers the mapping protocol (``msg["value"]``, ``msg.get("infer")``,
``"value" in msg``) because Pyro code reads trace sites as dicts.

Example:
    >>> msg = Message(type="sample", name="x", fn=lambda: 3)
    >>> apply_stack(msg)
    >>> msg["value"]
    3
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch.distributions import Distribution

if TYPE_CHECKING:
    from .messenger import Messenger


class CondIndepStackFrame(NamedTuple):
    """One plate a site sits in: its name, batch dim (None if sequential), sizes.

    ``size`` is the number of elements actually present (the subsample size),
    ``full_size`` the size of the whole data set along that plate.
    """

    name: str
    dim: int | None
    size: int
    counter: int = 0
    full_size: int | None = None

    @property
    def vectorized(self) -> bool:
        """True for a vectorized plate (one with a batch dim)."""
        return self.dim is not None

    def _key(self) -> tuple[str, int | None, int, int]:
        # a size traced by torch.jit is a 0-dim tensor: compare and hash it as its int
        size = self.size
        if isinstance(size, torch.Tensor):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                size = int(size.item())
        return self.name, self.dim, size, self.counter

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CondIndepStackFrame):
            return False
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(slots=True, eq=False)
class Message:
    """One ``sample``/``param``/``plate`` statement on its way through the handlers.

    Fields mirror Pyro's site dict keys; extra per-site data (``log_prob``,
    ``unscaled_log_prob``, ``score_parts`` ...) that inference code attaches goes
    in ``extras`` and is reachable with the same ``msg[key]`` syntax.
    """

    type: str
    name: str | None
    fn: Any  # a Distribution for sample sites, a callable otherwise
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    value: Any = None
    is_observed: bool = False
    scale: Any = 1.0
    mask: Any = None
    cond_indep_stack: tuple[CondIndepStackFrame, ...] = ()
    infer: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    stop: bool = False
    continuation: Callable[[Message], None] | None = None
    extras: dict[str, Any] | None = None

    # --- the mapping protocol Pyro users and tests rely on -----------------------
    def __getitem__(self, key: str) -> Any:
        if key in _FIELD_NAMES:
            return getattr(self, key)
        if self.extras is not None and key in self.extras:
            return self.extras[key]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _FIELD_NAMES:
            setattr(self, key, value)
        else:
            if self.extras is None:
                self.extras = {}
            self.extras[key] = value

    def __delitem__(self, key: str) -> None:
        if self.extras is None or key not in self.extras:
            raise KeyError(key)
        del self.extras[key]

    def __contains__(self, key: object) -> bool:
        return key in _FIELD_NAMES or (self.extras is not None and key in self.extras)

    def get(self, key: str, default: Any = None) -> Any:
        """``dict.get``: the field or extra named ``key``, else ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``dict.setdefault`` over fields and extras."""
        if key not in self:
            self[key] = default
        return self[key]

    def keys(self) -> list[str]:
        """Field names followed by the names of extras."""
        extra = list(self.extras) if self.extras else []
        return [k for k in _FIELD_NAMES if k != "extras"] + extra

    def items(self) -> Iterator[tuple[str, Any]]:
        """(key, value) pairs, as a dict would give them."""
        for k in self.keys():
            yield k, self[k]

    def copy(self) -> Message:
        """A shallow copy whose ``infer``/``kwargs``/``extras`` dicts are new objects."""
        new = Message(
            type=self.type,
            name=self.name,
            fn=self.fn,
            args=self.args,
            kwargs=dict(self.kwargs),
            value=self.value,
            is_observed=self.is_observed,
            scale=self.scale,
            mask=self.mask,
            cond_indep_stack=self.cond_indep_stack,
            infer=dict(self.infer),
            done=self.done,
            stop=self.stop,
            continuation=self.continuation,
            extras=dict(self.extras) if self.extras is not None else None,
        )
        return new

    def __repr__(self) -> str:
        return f"Message(type={self.type!r}, name={self.name!r}, value={self.value!r})"


_FIELD_NAMES = frozenset(f.name for f in fields(Message))

# ---------------------------------------------------------------------------------
# The handler stack (private). Index 0 is the outermost handler, -1 the innermost.
# ---------------------------------------------------------------------------------
_HANDLER_STACK: list[Messenger] = []


def am_i_wrapped() -> bool:
    """True when at least one handler is active (primitives take a fast path otherwise)."""
    return bool(_HANDLER_STACK)


def push_handler(handler: Messenger) -> None:
    """Install ``handler`` as the new innermost handler.

    Raises:
        RuntimeError: if the same handler object is already installed.
    """
    if any(h is handler for h in _HANDLER_STACK):
        raise RuntimeError(
            f"{type(handler).__name__} is already active; a handler instance cannot be "
            "entered twice. Create a new handler (e.g. call poutine.trace(fn) again)."
        )
    _HANDLER_STACK.append(handler)


def pop_handler(handler: Messenger) -> None:
    """Remove ``handler`` and every handler installed inside it.

    Handlers inside it can only still be there if an exception skipped their exit;
    dropping them too keeps the stack consistent after any error.
    """
    for i in range(len(_HANDLER_STACK) - 1, -1, -1):
        if _HANDLER_STACK[i] is handler:
            del _HANDLER_STACK[i:]
            return
    raise RuntimeError(f"{type(handler).__name__} is not on the handler stack")


def handler_stack() -> tuple[Messenger, ...]:
    """A snapshot of the active handlers, outermost first (for inspection and tests)."""
    return tuple(_HANDLER_STACK)


def default_process_message(msg: Message) -> None:
    """Run the statement itself unless a handler already supplied the value.

    A distribution (ppl's or a plain torch one) is sampled with ``rsample`` when it
    can be, so that gradients flow through reparameterizable sites.
    """
    if msg.done or msg.is_observed or msg.value is not None:
        msg.done = True
        return
    fn = msg.fn
    if isinstance(fn, Distribution):
        shape = msg.kwargs.get("sample_shape", ())
        msg.value = fn.rsample(shape) if fn.has_rsample else fn.sample(shape)
    elif callable(fn):
        msg.value = fn(*msg.args, **msg.kwargs)
    else:
        raise TypeError(
            f"at site {msg.name!r}: expected a distribution, got {type(fn).__name__}, and no "
            "handler supplied a value. Use e.g. "
            "ppl.sample(name, ppl.distributions.Normal(0., 1.))."
        )
    msg.done = True


def apply_stack(msg: Message) -> None:
    """Send ``msg`` through the active handlers (see the module docstring).

    Handlers are visited innermost first; a handler that sets ``msg.stop`` ends
    the walk, so the handlers outside it never see the message.

    Under ``torch.jit.trace`` the handlers' shape comparisons see traced sizes; they
    are constants of a trace kept per argument layout, so their tracer warnings are
    silenced here (as Pyro does handler by handler).
    """
    with quiet_tracer():
        _apply_stack(msg)


@contextmanager
def quiet_tracer() -> Iterator[None]:
    """Silence ``torch.jit.TracerWarning`` inside ppl's own code while ``torch.jit.trace`` runs.

    ppl compares shapes and sizes in Python (plates, packing, validation); under the
    tracer those sizes are tensors and every comparison warns. A trace is kept per
    argument layout, so these values are constants of the graph. Outside tracing this
    is a no-op.

    Example:
        >>> with quiet_tracer():
        ...     pass
    """
    if not torch.jit.is_tracing():
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


def _apply_stack(msg: Message) -> None:
    stack = _HANDLER_STACK
    seen = 0
    for handler in reversed(stack):
        seen += 1
        handler.process_message(msg)
        if msg.stop:
            break
    if msg.cond_indep_stack and msg.type == "sample" and "is_subsample" not in msg.infer:
        broadcast_to_plates(msg)  # (a plate's own index draw is never broadcast)
    default_process_message(msg)
    for handler in stack[len(stack) - seen :]:
        handler.postprocess_message(msg)
    if msg.continuation is not None:
        msg.continuation(msg)


def broadcast_to_plates(msg: Message) -> None:
    """Expand ``msg.fn`` so its batch shape covers every vectorized plate of the site.

    Called by :func:`apply_stack` once per sample site, after all handlers processed it.

    Raises:
        ValueError: naming the site, the plate, the dim and both sizes, when the
            distribution's batch shape has a size other than 1 or the plate's size
            at the plate's dim.
    """
    fn = msg.fn
    batch_shape = getattr(fn, "batch_shape", None)
    if batch_shape is None:
        return
    target: list[int] | None = None
    for frame in msg.cond_indep_stack:
        dim = frame.dim
        if dim is None or frame.size == -1:  # sequential, or a plate without a size
            continue
        shape = batch_shape if target is None else target
        if -dim > len(shape):
            target = [1] * (-dim - len(shape)) + list(shape)
            shape = target
        current = shape[dim]
        if current == frame.size:
            continue
        if current != 1:
            raise ValueError(
                f"Shape mismatch inside plate({frame.name!r}) at site {msg.name!r} dim {dim}, "
                f"{frame.size} vs {current}: batch shape {tuple(batch_shape)} of "
                f"{type(fn).__name__} has size {current} at dim {dim}, but plate "
                f"{frame.name!r} at dim {dim} has size {frame.size}. Make the distribution's "
                f"size at dim {dim} either 1 or {frame.size}, or move the site out of the plate."
            )
        if target is None:
            target = list(shape)
        target[dim] = frame.size
    if target is not None:
        expanded = fn.expand(torch.Size(target))
        # expand() builds a fresh instance: keep a per-instance has_rsample_(...) choice
        has_rsample = getattr(fn, "has_rsample", None)
        if has_rsample is not None and getattr(expanded, "has_rsample", None) != has_rsample:
            expanded.has_rsample = has_rsample
        msg.fn = expanded


def effectful(fn: Callable[..., Any] | None = None, type: str | None = None) -> Any:
    """Turn ``fn`` into a statement handlers can intercept (Pyro's ``effectful``).

    The wrapped function takes optional ``name=``, ``infer=`` and ``obs=`` keywords
    (``obs`` fixes the value, as for an observed sample); without active handlers it
    just calls ``fn``. Called without ``fn`` (``@effectful(type="apply")``) it returns
    the decorator; wrapping an already effectful function returns it unchanged.

    Raises:
        ValueError: if ``type`` is missing or is the reserved ``"message"``.

    Example:
        >>> double = effectful(lambda x: 2 * x, type="my_op")
        >>> double(3)
        6
        >>> @effectful(type="my_op")
        ... def triple(x):
        ...     return 3 * x
        >>> triple(2)
        6
    """
    if fn is None:
        return functools.partial(effectful, type=type)
    if getattr(fn, "_is_effectful", False):
        return fn
    if type is None or type == "message":
        raise ValueError(
            f"effectful({getattr(fn, '__name__', fn)!r}): expected a type label such as "
            f"type='apply' (not 'message'), got type={type!r}"
        )
    op_type: str = type

    @functools.wraps(fn)
    def wrapped(
        *args: Any,
        name: str | None = None,
        infer: dict | None = None,
        obs: Any = None,
        **kwargs: Any,
    ) -> Any:
        if not _HANDLER_STACK:
            return fn(*args, **kwargs)
        msg = Message(
            type=op_type,
            name=name,
            fn=fn,
            args=args,
            kwargs=kwargs,
            value=obs,
            is_observed=obs is not None,
            infer=infer or {},
        )
        apply_stack(msg)
        return msg.value

    wrapped._is_effectful = True  # type: ignore[attr-defined]
    return wrapped


def get_plates() -> tuple[CondIndepStackFrame, ...]:
    """The frames of the plates around the caller, outermost first (Pyro's ``get_plates``).

    An ``inspect`` message is passed through the active handlers, innermost first, so
    exactly the plates a ``sample`` statement here would see are reported (a ``block``
    that stops messages hides the plates outside it, as for a real site).

    Example:
        >>> import ppl
        >>> with ppl.plate("data", 3):
        ...     [frame.name for frame in get_plates()]
        ['data']
    """
    msg = Message(type="inspect", name="_ppl_inspect", fn=None, done=True)
    for handler in reversed(_HANDLER_STACK):
        handler.process_message(msg)
        if msg.stop:
            break
    return msg.cond_indep_stack


def get_mask() -> Any:
    """The combined mask of the enclosing ``poutine.mask`` handlers, or None (Pyro's path).

    Defined with the mask handler (:func:`ppl.poutine.mask_messenger.get_mask`); this is
    the name Pyro code imports from ``pyro.poutine.runtime``.

    Example:
        >>> get_mask() is None
        True
    """
    from ppl.poutine.mask_messenger import get_mask as combined_mask

    return combined_mask()


#: Pyro's name for the handler stack (the same list object, outermost first).
_PYRO_STACK = _HANDLER_STACK


def __getattr__(name: str) -> Any:
    # Pyro code imports these from the runtime; they live in modules that import this
    # one (the escape handler, the plate handler) or in the params layer, so they are
    # resolved lazily.
    if name == "NonlocalExit":
        from ppl.poutine.escape_messenger import NonlocalExit

        return NonlocalExit
    if name == "_DIM_ALLOCATOR":
        from ppl.poutine.plate_messenger import _DIM_ALLOCATOR

        return _DIM_ALLOCATOR
    if name == "_PYRO_PARAM_STORE":
        from ppl.params import get_param_store

        return get_param_store()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
