"""``plate``: conditional independence along a batch dimension, with subsampling.

A plate does four things to the sites inside it:

1. it owns one batch dim (allocated right to left, -1 first, unless ``dim=`` is
   given) and adds a :class:`~ppl.poutine.runtime.CondIndepStackFrame` to each
   site's ``cond_indep_stack``; the runtime then broadcasts the site's
   distribution over all its plates (see :func:`broadcast_to_plates`);
2. with ``subsample_size`` it draws a random subset of indices once per entry,
   recorded as a sample site named like the plate, so that replaying a guide's
   trace gives the model the same minibatch;
3. it multiplies the log-density of inner sample sites by
   ``size / subsample_size``, so the minibatch estimate is unbiased for the full
   data (PyMC's ``total_size``);
4. a ``ppl.param(..., event_dim=k)`` inside it is sliced to the subsample.

Iterating over a plate (``for i in plate("n", 3)``) gives a sequential plate:
no batch dim, one frame per index.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> with ppl.poutine.trace() as tm, PlateMessenger("data", 100, subsample_size=10) as idx:
    ...     x = ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> tuple(idx.shape), tuple(x.shape), tm.trace.nodes["x"]["scale"]
    ((10,), (10,), 10.0)
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import torch
from torch.distributions import Distribution, constraints

from .. import settings as _settings
from ..params import get_param_store
from .messenger import Messenger
from .runtime import (
    CondIndepStackFrame,
    Message,
    am_i_wrapped,
    apply_stack,
    broadcast_to_plates,
    handler_stack,
    pop_handler,
    push_handler,
)


class DimAllocator:
    """Hands out negative batch dims to vectorized plates, rightmost free dim first."""

    def __init__(self) -> None:
        self._names: list[str | None] = []  # index i holds the plate using dim -(i + 1)

    def allocate(self, name: str, dim: int | None) -> int:
        """Reserve ``dim`` (or the rightmost free one) for plate ``name``.

        Raises:
            ValueError: if ``dim`` is not negative or is already used by another plate.
        """
        if name in self._names:
            raise ValueError(f"plate {name!r} is already active; nested plates need distinct names")
        if dim is None:
            i = 0
            while i < len(self._names) and self._names[i] is not None:
                i += 1
        else:
            if dim >= 0:
                raise ValueError(f"plate {name!r}: dim must be negative, got {dim}")
            i = -dim - 1
            if i < len(self._names) and self._names[i] is not None:
                raise ValueError(
                    f"plates {self._names[i]!r} and {name!r} collide at dim={dim}: plate "
                    f"{name!r} asks for a dim already in use; give nested plates different dims"
                )
        while len(self._names) <= i:
            self._names.append(None)
        self._names[i] = name
        return -(i + 1)

    @property
    def _stack(self) -> list[str | None]:
        """The plate names by dim, ``-1`` first (Pyro's attribute; read it, do not edit)."""
        return self._names

    def free(self, name: str, dim: int) -> None:
        """Release ``dim`` held by ``name``."""
        i = -dim - 1
        if i < len(self._names) and self._names[i] == name:
            self._names[i] = None
            while self._names and self._names[-1] is None:
                self._names.pop()


_DIM_ALLOCATOR = DimAllocator()
_CPU = torch.device("cpu")


def _default_device() -> torch.device:
    """``torch.get_default_device()``, without its cost in the common case.

    A plate is entered at every model run; ``torch.get_default_device`` walks the
    torch-function mode stack and may allocate a tensor. When no mode is active and
    ``torch.set_default_device`` was never used, the answer is the CPU.
    """
    if torch._C._len_torch_function_stack() == 0 and (
        getattr(torch._GLOBAL_DEVICE_CONTEXT, "device_context", None) is None
    ):
        return _CPU
    return torch.get_default_device()


_ARANGE_CACHE: dict[tuple[int, torch.device], torch.Tensor] = {}


def _arange(size: int, device: torch.device) -> torch.Tensor:
    """``torch.arange(size)`` on ``device``, cached (plates without subsampling)."""
    key = (size, device)
    out = _ARANGE_CACHE.get(key)
    if out is None:
        if len(_ARANGE_CACHE) > 64:
            _ARANGE_CACHE.clear()
        out = _ARANGE_CACHE[key] = torch.arange(size, device=device)
    return out


class Subsample(Distribution):
    """Uniform random subset of ``subsample_size`` indices out of ``size`` (log_prob 0)."""

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, size: int, subsample_size: int, device: torch.device) -> None:
        self.size = size
        self.subsample_size = subsample_size
        self.device = device
        super().__init__(torch.Size(), torch.Size((subsample_size,)), validate_args=False)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.integer_interval(0, self.size - 1)

    def sample(self, sample_shape: torch.Size | list[int] | tuple[int, ...] = ()) -> torch.Tensor:
        if tuple(sample_shape):
            raise ValueError("a plate subsample is drawn one set at a time")
        if self.size < 0:  # a plate without a size has no indices
            return torch.arange(0, device=self.device)
        if self.subsample_size >= self.size:
            return _arange(self.size, self.device)
        return torch.randperm(self.size, device=self.device)[: self.subsample_size]

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), device=value.device)


# Pyro's class name: Pyro code and tests recognise plate sites by type(fn).__name__
Subsample.__name__ = Subsample.__qualname__ = "_Subsample"


class PlateMessenger(Messenger):
    """The handler behind ``ppl.plate`` (see the module docstring).

    Args:
        name: unique plate name.
        size: full size of the data along this plate.
        subsample_size: size of the random minibatch (default: ``size``).
        subsample: explicit indices to use instead of a random minibatch.
        dim: the batch dim to use (negative); allocated automatically if None.
        device: device of the subsample indices (default: torch's default device).

    Raises:
        ValueError: for a missing or non-positive size, or ``subsample_size > size``.
    """

    _blocked = False  # set by block_plate

    def __init__(
        self,
        name: str,
        size: int | None = None,
        subsample_size: int | None = None,
        subsample: torch.Tensor | None = None,
        dim: int | None = None,
        use_cuda: bool | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(name, str):
            raise TypeError(f"plate name must be a str, got {type(name).__name__}")
        if subsample is not None:
            subsample = torch.as_tensor(subsample)
            if subsample_size is not None and subsample_size != len(subsample):
                raise ValueError(
                    f"plate {name!r}: subsample_size={subsample_size} but len(subsample)="
                    f"{len(subsample)}"
                )
            subsample_size = len(subsample)
            if size is None:
                size = subsample_size
        if size is None:
            if subsample_size is not None:
                raise ValueError(
                    f"plate {name!r}: subsample_size={subsample_size} needs a size to draw from"
                )
            # As in Pyro, a plate without a size (size -1) claims a dim whose size the
            # data decide by broadcasting: no expansion, no scaling, no indices.
            size = subsample_size = -1
        size = int(size)
        if size <= 0 and size != -1:
            raise ValueError(f"plate {name!r}: size must be positive, got {size}")
        asked_size = subsample_size
        if subsample_size is None:
            subsample_size = size
        if size != -1 and not 0 < subsample_size <= size:
            raise ValueError(
                f"plate {name!r}: subsample_size must be in [1, size={size}], got {subsample_size}"
            )
        if dim is not None and dim >= 0:
            raise ValueError(f"plate {name!r}: dim must be negative, got {dim}")
        self.name = name
        self.size = size
        self.subsample_size = int(subsample_size)
        self._user_dim = dim
        self._user_subsample = subsample
        if device is None:
            device = torch.device("cuda") if use_cuda else _default_device()
        self.device = torch.device(device)
        self.dim: int | None = None
        self._frame: CondIndepStackFrame | None = None
        self._scale = float(size) / self.subsample_size
        # As in Pyro, the indices are chosen (and recorded as the plate's site) once, when
        # the plate is built; every entry of this plate object uses them.
        self._indices: torch.Tensor = self._draw_indices()
        drawn = self._indices.numel() if self._indices.dim() == 1 else self.subsample_size
        if asked_size is None and subsample is None and drawn != self.subsample_size:
            # a model's full plate replaying a guide's subsampled one (as Pyro): it takes
            # the guide's minibatch and its scale
            self.subsample_size = drawn
            self._scale = float(size) / drawn

    # --- subsampling -------------------------------------------------------------
    @property
    def indices(self) -> torch.Tensor:
        """The indices this plate selects (chosen when the plate was built)."""
        return self._indices

    def _draw_indices(self) -> torch.Tensor:
        """The indices, recorded as the plate's sample site when handlers are active.

        The site (type ``"sample"``, ``fn`` a :class:`Subsample`, value the indices,
        ``arange(size)`` without subsampling) is what Pyro records for every plate; a
        guide's subsampled plate site is replayed by the model, so both see one minibatch.
        """
        if not am_i_wrapped():
            if self._user_subsample is not None:
                return self._user_subsample
            if self.subsample_size == self.size:
                return _arange(max(self.size, 0), self.device)
            return Subsample(self.size, self.subsample_size, self.device).sample()
        fn = Subsample(self.size, self.subsample_size, self.device)
        msg = Message(
            type="sample",
            name=self.name,
            fn=fn,
            value=self._user_subsample,
            infer={"is_subsample": True},
        )
        apply_stack(msg)
        return msg.value

    def with_dim(self, dim: int | None) -> PlateMessenger:
        """This plate (same indices, no new site) placed at batch dim ``dim``."""
        clone = copy.copy(self)
        clone._user_dim = dim
        clone.dim = None
        clone._frame = None
        return clone

    # --- entering and leaving ---------------------------------------------------------
    def __enter__(self) -> torch.Tensor:  # type: ignore[override]
        self.dim = _DIM_ALLOCATOR.allocate(self.name, self._user_dim)
        self._frame = CondIndepStackFrame(self.name, self.dim, self.subsample_size, 0, self.size)
        try:
            push_handler(self)
        except BaseException:
            _DIM_ALLOCATOR.free(self.name, self.dim)
            raise
        return self.indices

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pop_handler(self)
        if self.dim is not None:
            _DIM_ALLOCATOR.free(self.name, self.dim)

    def __iter__(self) -> Iterator[int]:
        """Sequential use: one frame (no batch dim) per index."""
        random_subsample = self._user_subsample is None and self.subsample_size != self.size
        if random_subsample and _settings.is_static_tracing():
            raise RuntimeError(
                f"plate {self.name!r}: a sequential plate with a random subsample cannot be "
                "recorded as a static graph (its Python loop would replay one minibatch); "
                "use it as a vectorized `with plate(...)`, or run this model eagerly"
            )
        indices = self.indices
        self.dim = None
        for counter, index in enumerate(indices.tolist()):
            self._frame = CondIndepStackFrame(
                self.name, None, self.subsample_size, counter, self.size
            )
            push_handler(self)
            try:
                yield index
            finally:
                pop_handler(self)

    def __len__(self) -> int:
        return self.subsample_size

    # --- the two hooks --------------------------------------------------------------
    def process_message(self, msg: Message) -> None:
        if self._blocked:  # inside block_plate: sites here do not see this plate
            return
        frame = self._frame
        assert frame is not None  # internal: set on entry, before this handler is pushed
        msg.cond_indep_stack = (frame,) + msg.cond_indep_stack
        if msg.type == "sample" and self._scale != 1.0:
            msg.scale = self._scale * msg.scale

    def postprocess_message(self, msg: Message) -> None:
        if self._blocked:
            return
        # a local param (event_dim given) or ppl.subsample(data) is sliced to the minibatch
        # (the size check runs under validation even without subsampling, as Pyro's does)
        if msg.type not in ("param", "subsample") or self.dim is None:
            return
        event_dim = msg.kwargs.get("event_dim")
        value = msg.value
        if event_dim is None or not isinstance(value, torch.Tensor):
            return
        dim = self.dim - event_dim
        if value.dim() >= -dim and value.shape[dim] != 1:
            if value.shape[dim] != self.size and _settings.is_validation_enabled():
                what = (
                    f"pyro.param({msg.name}, ..., event_dim={event_dim})"
                    if msg.type == "param"
                    else f"pyro.subsample(..., event_dim={event_dim})"
                )
                raise ValueError(
                    f"Inside plate {self.name!r} of size {self.size} (dim={self.dim}) "
                    f"invalid shape of {what}: expected size {self.size} at dim {dim}, "
                    f"got shape {tuple(value.shape)}"
                )
            if self.subsample_size == self.size:
                return
            indices = self.indices.to(value.device)
            msg.value = value.index_select(dim, indices)
            if msg.type == "param":
                self._mark_subsampled_leaf(str(msg.name), dim, indices)

    @staticmethod
    def _mark_subsampled_leaf(name: str, dim: int, indices: torch.Tensor) -> None:
        """Record on the param's unconstrained leaf which entries this minibatch uses
        (``leaf._pyro_subsample = {dim: indices}``, Pyro's attribute), so a
        subsample-aware optimizer (``DCTAdam(subsample_aware=True)``) updates only them."""
        leaf = dict(get_param_store().named_parameters()).get(name)
        if leaf is None:
            return
        marks = getattr(leaf, "_pyro_subsample", None)
        if marks is None:
            marks = {}
            leaf._pyro_subsample = marks  # type: ignore[attr-defined]
        marks[dim] = indices


class BroadcastMessenger(Messenger):
    """``broadcast``: expand sample sites to their plates (plates already do this; kept
    for Pyro compatibility)."""

    def process_message(self, msg: Message) -> None:
        if msg.type == "sample" and not msg.done:
            broadcast_to_plates(msg)


def broadcast(fn: Any = None) -> Any:
    """Pyro's ``poutine.broadcast`` (a no-op beyond what plates do)."""
    msngr = BroadcastMessenger()
    return msngr(fn) if fn is not None else msngr


@contextlib.contextmanager
def block_plate(
    name: str | None = None, dim: int | None = None, *, strict: bool = True
) -> Iterator[None]:
    """Hide one enclosing plate from the sites sampled inside (Pyro's ``block_plate``).

    Why: an auxiliary or global variable needed inside a plate (a reparameterizer's
    shared latent, a lazily drawn global) must not be broadcast along that plate.

    Args:
        name: the name of the plate to hide; or
        dim: its batch dim (negative). Give exactly one of the two.
        strict: raise if no enclosing plate matches (default True).

    Raises:
        ValueError: if not exactly one of ``name``/``dim`` is given, ``dim`` is not
            negative, or (``strict``) the number of matching plates is not one.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> with ppl.plate("data", 3):
        ...     with block_plate("data"):
        ...         scale = ppl.sample("scale", dist.LogNormal(0.0, 1.0))
        >>> tuple(scale.shape)
        ()
    """
    if (name is None) == (dim is None):
        raise ValueError("block_plate: give exactly one of name= or dim=")
    if dim is not None and not (isinstance(dim, int) and dim < 0):
        raise ValueError(f"block_plate: dim must be a negative int, got {dim!r}")
    matches = [
        h
        for h in handler_stack()
        if isinstance(h, PlateMessenger)
        and not h._blocked
        and (h.name == name if name is not None else h.dim == dim)
    ]
    if strict and len(matches) != 1:
        which = f"name={name!r}" if name is not None else f"dim={dim}"
        raise ValueError(
            f"block_plate matched {len(matches)} messengers (enclosing plates with {which}), "
            "expected 1; "
            "remove the block_plate or pass strict=False"
        )
    for plate in matches:
        plate._blocked = True
    try:
        yield
    finally:
        for plate in matches:
            plate._blocked = False
_Subsample = Subsample  # the name pickle looks the class up by
