"""``DistributedOptimizer``: data-parallel SVI by averaging gradients across ranks.

Design notes
------------
Data-parallel SVI runs the same model and guide on every rank, each on its own shard of
the data, and keeps the parameters equal everywhere by giving every rank the *same*
update: before each optimizer step the gradients are averaged over the ranks. Wrapping
the optimizer is the one change a script needs::

    optim = ppl.distributed.DistributedOptimizer(ppl.optim.Adam({"lr": 1e-2}))
    svi = SVI(model, guide, optim, Trace_ELBO())

What one ``step(named_params)`` does, on every rank, in this order:

1. **Agree.** The names, shapes and dtypes of the parameters to step are hashed (CRC32
   of their description, the same in every process) and compared across ranks with one
   tiny ``all_reduce(MAX)`` of ``[h, -h, any_grad_missing]``; a disagreement raises the
   same ``ValueError`` on every rank instead of a hang or a silent mix-up.
2. **Broadcast new parameters.** A name never seen before is overwritten with rank
   ``src``'s value, so all ranks continue from the same point. Parameters created by a
   guide's eager ``setup(*args)`` should be broadcast *before* the first gradient with
   :meth:`DistributedOptimizer.setup`; otherwise the first step's gradients were taken at
   different values on each rank (later steps are exact).
3. **Average gradients.** The gradients, in sorted name order, are packed into flat
   buckets and all-reduced (see :mod:`ppl.distributed.buckets`), then divided by the world
   size. A gradient that is None on some ranks but not on others counts as zero there
   (one extra all-reduce of presence flags, only on steps where some rank lacks one); a
   gradient that is None everywhere stays None, so the parameter is not stepped.
4. **Step** the wrapped ``ppl.optim`` optimizer, which clears the gradients.

Because every rank applies the same averaged gradient to the same values with the same
optimizer state, the parameters stay identical without ever being broadcast again.
Averaging (not summing) keeps every rank's global terms (priors, the guide's entropy)
at their single-process weight; :func:`ppl.distributed.sharded_plate` scales the
likelihood so the average equals the single-process gradient of the union batch.

Without a process group (a plain ``python script.py``) or in a world of one the wrapper
is a pass-through: no collective is made.
Anything else (``state_dict``, ``get_last_lr``, ``optimizer``...) is delegated to the
wrapped optimizer; ``save`` writes only on rank ``src``, ``load`` reads on every rank.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.distributed as dist

from ..optim.optim import PPLOptimizer, named_store_params
from ..params.param_store import get_param_store
from .buckets import DEFAULT_CAP_BYTES, all_reduce_mean_, broadcast_, comm_device

__all__ = ["DistributedOptimizer"]


def _signature(names: list[str], tensors: list[torch.Tensor]) -> int:
    """A process-independent 31-bit hash of the names, shapes and dtypes (not Python's hash)."""
    text = ";".join(f"{n}:{tuple(t.shape)}:{t.dtype}" for n, t in zip(names, tensors))
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


class DistributedOptimizer:
    """Average gradients over all ranks before each step of a ``ppl.optim`` optimizer.

    Args:
        optimizer: the optimizer to wrap, e.g. ``ppl.optim.Adam({"lr": 1e-3})`` (any
            ``PPLOptimizer``, schedulers included).
        group: the process group (default: the whole job).
        src: global rank whose parameter values are broadcast to the others.
        bucket_cap_mb: the largest flat buffer for one collective, in MiB.
        check_consistency: compare the parameter set across ranks at every step (one tiny
            collective); turn off only when the model is known to be identical everywhere.

    Raises:
        TypeError: if ``optimizer`` is not a ``PPLOptimizer`` (or is already distributed).
        ValueError: if ``bucket_cap_mb`` is not positive or ``src`` is negative.

    Example:
        >>> import ppl.optim
        >>> opt = DistributedOptimizer(ppl.optim.SGD({"lr": 0.5}))  # no torchrun: a world of 1
        >>> w = torch.zeros(2, requires_grad=True)
        >>> w.grad = torch.ones(2)
        >>> opt.step({"w": w})
        >>> w
        tensor([-0.5000, -0.5000], requires_grad=True)
    """

    def __init__(
        self,
        optimizer: PPLOptimizer,
        *,
        group: dist.ProcessGroup | None = None,
        src: int = 0,
        bucket_cap_mb: float = DEFAULT_CAP_BYTES / 2**20,
        check_consistency: bool = True,
    ) -> None:
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("DistributedOptimizer: the optimizer is already distributed")
        if not isinstance(optimizer, PPLOptimizer):
            raise TypeError(
                "DistributedOptimizer: expected a ppl.optim optimizer such as "
                f"ppl.optim.Adam({{'lr': 1e-3}}), got {type(optimizer).__name__}"
            )
        if not (isinstance(bucket_cap_mb, (int, float)) and bucket_cap_mb > 0):
            raise ValueError(
                f"DistributedOptimizer: bucket_cap_mb must be a positive number, got "
                f"{bucket_cap_mb!r}"
            )
        if not (isinstance(src, int) and src >= 0):
            raise ValueError(f"DistributedOptimizer: src must be a rank >= 0, got {src!r}")
        self.inner = optimizer
        self.group = group
        self.src = src
        self.cap_bytes = max(1, int(bucket_cap_mb * 2**20))
        self.check_consistency = check_consistency
        self._seen: set[str] = set()
        self.comm_seconds = 0.0
        """Total wall time spent in collectives by ``step``/``setup`` (seconds)."""
        self.num_steps = 0
        """Number of distributed optimizer steps taken."""

    # ------------------------------------------------------------------ world
    @property
    def world_size(self) -> int:
        """Number of ranks averaged over (1 without a process group)."""
        initialized = dist.is_available() and dist.is_initialized()
        return dist.get_world_size(self.group) if initialized else 1

    @property
    def rank(self) -> int:
        """This process's rank in the group (0 without a process group)."""
        initialized = dist.is_available() and dist.is_initialized()
        return dist.get_rank(self.group) if initialized else 0

    def _active(self) -> bool:
        """True when there are other ranks to talk to (a group of one needs no collective)."""
        return dist.is_available() and dist.is_initialized() and dist.get_world_size(self.group) > 1

    def _is_src(self) -> bool:
        return not self._active() or dist.get_rank() == self.src

    # ------------------------------------------------------------------ setup
    def setup(self, named_params: Mapping[str, torch.Tensor] | None = None) -> None:
        """Broadcast parameter values from rank ``src`` so every rank starts equal.

        Call it once all parameters exist (after a guide's eager ``setup(*args)``) and
        before the first step; the same parameters must exist on every rank.

        Args:
            named_params: ``{name: unconstrained leaf}``; default: the whole ParamStore.

        Raises:
            TypeError: if ``named_params`` is not a mapping of names to tensors.
            ValueError: if the ranks hold different parameter sets.
        """
        if named_params is None:
            named_params = dict(get_param_store().named_parameters())
        names, tensors = self._sorted(named_params, "setup")
        if not self._active():
            self._seen.update(names)
            return
        start = time.perf_counter()
        self._agree(names, tensors, "setup")
        self._broadcast(names, tensors)
        self.comm_seconds += time.perf_counter() - start

    def _broadcast(self, names: list[str], tensors: list[torch.Tensor]) -> None:
        with torch.no_grad():
            broadcast_(
                [t.detach() for t in tensors],
                src=self.src,
                group=self.group,
                cap_bytes=self.cap_bytes,
            )
        self._seen.update(names)

    # ------------------------------------------------------------------ step
    def step(self, *args: Any, **kwargs: Any) -> Any:
        """Average the gradients of ``named_params`` over all ranks, then step them.

        ``step(named_params, closure=None)`` is the optimizer step described in the
        module notes. With a ``closure`` (L-BFGS), each evaluation of the closure is
        followed by the gradient average and the returned loss is averaged too, so every
        rank's line search sees the same numbers. Any other call (``step()`` or
        ``step(loss)`` of a scheduler wrapper) is passed on; a loss given to
        ``ReduceLROnPlateau`` is averaged over the ranks first so all schedules agree.

        Args:
            named_params: ``{name: unconstrained leaf tensor}`` (same names on every rank).
            closure: re-evaluates the loss and its gradients (L-BFGS).

        Returns:
            What the wrapped optimizer's ``step`` returns.

        Raises:
            TypeError: if ``named_params`` maps a name to something that is not a tensor.
            ValueError: if the ranks step different parameter sets (names, shapes or
                dtypes differ), or a gradient is sparse.
        """
        if not args or not isinstance(args[0], Mapping):
            if self._active() and args and isinstance(args[0], (int, float, torch.Tensor)):
                args = (self._average_scalar(args[0]), *args[1:])
            return self.inner.step(*args, **kwargs)
        named_params: Mapping[str, torch.Tensor] = args[0]
        closure: Callable[[], Any] | None = kwargs.pop(
            "closure", args[1] if len(args) > 1 else None
        )
        self.num_steps += 1
        if not self._active():
            return self.inner.step(named_params, closure)
        names, tensors = self._sorted(named_params, "step")
        start = time.perf_counter()
        any_missing = self._agree(names, tensors, "step")
        new = [i for i, n in enumerate(names) if n not in self._seen]
        if new:
            self._broadcast([names[i] for i in new], [tensors[i] for i in new])
        if closure is None:
            self._average_grads(tensors, any_missing)
        self.comm_seconds += time.perf_counter() - start
        if closure is None:
            return self.inner.step(named_params)
        return self.inner.step(named_params, self._wrap_closure(closure, names, tensors))

    def all_finite(self, finite: bool) -> bool:
        """True only if ``finite`` is True on every rank (one tiny collective).

        A rank whose loss or gradients are not finite must not skip the step alone: the
        other ranks would wait for it in the next all-reduce. ``SVI`` asks this before it
        decides to step, raise or skip, so every rank decides the same.

        Example:
            >>> import ppl.optim
            >>> DistributedOptimizer(ppl.optim.Adam({"lr": 0.1})).all_finite(True)
            True
        """
        if not self._active():
            return bool(finite)
        flag = torch.tensor([int(bool(finite))], dtype=torch.int64, device=comm_device(self.group))
        dist.all_reduce(flag, op=dist.ReduceOp.MIN, group=self.group)
        return bool(flag.item())

    def __call__(self, params: Iterable[torch.Tensor], *args: Any, **kwargs: Any) -> Any:
        """Pyro's call style: step the given unconstrained tensors of the ParamStore.

        Raises:
            ValueError: if a tensor is not in the ParamStore.
        """
        return self.step(named_store_params(params, "DistributedOptimizer"), *args, **kwargs)

    def _sorted(
        self, named_params: Mapping[str, torch.Tensor], where: str
    ) -> tuple[list[str], list[torch.Tensor]]:
        if not isinstance(named_params, Mapping):
            raise TypeError(
                f"DistributedOptimizer.{where}: expected a mapping {{name: tensor}}, got "
                f"{type(named_params).__name__}"
            )
        names = sorted(named_params)
        tensors = [named_params[n] for n in names]
        for name, t in zip(names, tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(
                    f"DistributedOptimizer.{where}: parameter {name!r} must be a tensor, got "
                    f"{type(t).__name__}"
                )
        return names, tensors

    def _agree(self, names: list[str], tensors: list[torch.Tensor], where: str) -> bool:
        """Check that all ranks hold the same parameter set; return "some grad is missing"."""
        missing = int(any(t.grad is None for t in tensors))
        if not self.check_consistency:
            if not missing:
                return False
            # still needed: whether any rank lacks a gradient decides the next collective
            flag = torch.tensor([missing], dtype=torch.int64, device=comm_device(self.group))
            dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.group)
            return bool(flag.item())
        sig = _signature(names, tensors)
        meta = torch.tensor([sig, -sig, missing], dtype=torch.int64, device=comm_device(self.group))
        dist.all_reduce(meta, op=dist.ReduceOp.MAX, group=self.group)
        top, neg_bottom, any_missing = meta.tolist()
        if top != -neg_bottom:
            shown = ", ".join(f"{n}{tuple(t.shape)}" for n, t in zip(names[:5], tensors))
            raise ValueError(
                f"DistributedOptimizer.{where}: the ranks disagree on the parameters to step "
                f"(rank {self.rank} has {len(names)}: {shown}{' ...' if len(names) > 5 else ''}"
                "). Every rank must run the same model and "
                "guide so the same parameters (names, shapes, dtypes) get gradients; create "
                "them eagerly (guide.setup(*args)) and call setup() before the first step"
            )
        return bool(any_missing)

    def _average_grads(self, tensors: list[torch.Tensor], any_missing: bool) -> None:
        if any_missing:
            present = torch.tensor(
                [t.grad is not None for t in tensors],
                dtype=torch.int64,
                device=comm_device(self.group),
            )
            dist.all_reduce(present, op=dist.ReduceOp.MAX, group=self.group)
            for t, somewhere in zip(tensors, present.tolist()):
                if somewhere and t.grad is None:
                    t.grad = torch.zeros_like(t)
        grads = [t.grad for t in tensors if t.grad is not None]
        if grads:
            all_reduce_mean_(grads, group=self.group, cap_bytes=self.cap_bytes)

    def _wrap_closure(
        self, closure: Callable[[], Any], names: list[str], tensors: list[torch.Tensor]
    ) -> Callable[[], Any]:
        def averaged() -> Any:
            loss = closure()
            start = time.perf_counter()
            missing = self._agree(names, tensors, "step")
            self._average_grads(tensors, missing)
            if isinstance(loss, (int, float, torch.Tensor)):
                loss = self._average_scalar(loss)
            self.comm_seconds += time.perf_counter() - start
            return loss

        return averaged

    def _average_scalar(self, value: Any) -> Any:
        """Average a Python number or tensor over the ranks (same type back)."""
        if isinstance(value, torch.Tensor):
            out = value.detach().to(comm_device(self.group), torch.float64).clone()
            dist.all_reduce(out, group=self.group)
            return (out / dist.get_world_size(self.group)).to(value.device, value.dtype)
        out = torch.tensor(float(value), dtype=torch.float64, device=comm_device(self.group))
        dist.all_reduce(out, group=self.group)
        return float(out) / dist.get_world_size(self.group)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimizer's ``state_dict()`` (identical on every rank)."""
        return self.inner.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any], map_location: Any = None) -> None:
        """Load into the wrapped optimizer (every rank loads the same state)."""
        self.inner.load_state_dict(state_dict, map_location=map_location)

    def get_state(self) -> dict[str, Any]:
        """Pyro's name for ``state_dict()``."""
        return self.state_dict()

    def set_state(self, state_dict: Mapping[str, Any]) -> None:
        """Pyro's name for ``load_state_dict(state_dict)``."""
        self.load_state_dict(state_dict)

    def save(self, filename: str | os.PathLike[str]) -> None:
        """Save the optimizer state, on rank ``src`` only (the state is the same everywhere)."""
        if self._is_src():
            self.inner.save(filename)

    def load(self, filename: str | os.PathLike[str], map_location: Any = None) -> None:
        """Load a file written by ``save``; every rank reads it."""
        self.inner.load(filename, map_location=map_location)

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found normally: delegate to the wrapped optimizer
        # (``optimizer``, ``param_names``, ``get_last_lr``, ``scheduler``...).
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"DistributedOptimizer({self.inner!r}, world_size={self.world_size})"
