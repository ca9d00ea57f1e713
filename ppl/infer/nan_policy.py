"""NaN policies of ``SVI.run``: one registry, and ``"rollback"``.

Design notes
------------
What ``SVI.run(..., on_nan=name)`` does with a non-finite step is a *policy* looked up
by name in one registry (:func:`register_nan_policy`): ``"raise"`` (the default; the
error names the step and every model/guide site whose log-density is not finite),
``"skip"`` (drop the step, record ``nan``) or ``"rollback"`` (below). A policy is a
function ``(svi, step_loss, step) -> None`` called before any param is updated; it
raises to stop or returns to skip; one that restores an earlier state
(``svi.load_state_dict``) rewinds the run, which then redoes the lost steps. A policy
object may also have ``start(svi)``/``stop(svi)`` methods, called when ``run`` begins
and ends.

A long run that meets a NaN at step 23,432 usually diverged because the learning
rate was too high for the region it reached. The rollback policy of ``SVI.run``
answers that the way a person would: go back to the last good state, halve the
learning rate, carry on; give up (raise the usual ``NonFiniteLossError``) after
``max_rollbacks`` attempts in one run.

* **The last good state** is an in-memory snapshot made with
  :func:`ppl.infer.checkpoint.capture_state` (ParamStore, optimizer and scheduler,
  SVI step count and losses, RNG): one at the start of ``run`` and a fresh one each
  time a :class:`~ppl.infer.checkpoint.Checkpoint` callback saves during the run (it
  notifies this module), so "the last checkpointed state" is what comes back without
  reading the file again. Without a ``Checkpoint`` callback the run rolls back to its
  start. A snapshot costs one copy of the parameters and optimizer state.
* **Restoring** uses :func:`ppl.infer.checkpoint.restore_state`, the same code that
  loads a checkpoint file, so a rollback is exactly a resume from that state: the
  step count and loss history are rewound and ``run`` redoes the lost steps.
  Parameters created after the snapshot (a guide set up lazily at the first step)
  are deleted, and the guide re-creates them from their init values.
* **Halving the learning rate** multiplies ``lr`` of every param group (and the
  scheduler's ``base_lrs``/``initial_lr``, so schedules that recompute from them keep
  the reduction) by ``factor`` (0.5) per rollback, cumulatively, relative to the
  snapshot's own learning rate.
* The policy is one object per name in SVI's policy registry; it keeps per-run state
  in a ``WeakKeyDictionary`` keyed by the SVI object, so concurrent SVI objects do not
  interfere and nothing outlives them.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .checkpoint import add_save_listener, capture_state, restore_state

__all__ = ["RollbackPolicy", "nan_policy", "register_nan_policy", "scale_learning_rate"]

NanPolicy = Callable[[Any, Any, int], None]  # (svi, step_loss, step) -> None


def scale_learning_rate(optim: Any, factor: float) -> list[float]:
    """Multiply the learning rate of every param group of a ``ppl.optim`` wrapper by ``factor``.

    Also scales the group's ``initial_lr`` and the scheduler's ``base_lrs`` when present,
    so a schedule that recomputes ``lr`` from them keeps the reduction.

    Args:
        optim: a ``ppl.optim`` optimizer or scheduler wrapper that has taken a step.
        factor: a positive number.

    Returns:
        The new learning rates, one per param group.

    Raises:
        ValueError: ``factor`` is not positive, or the wrapper has no torch optimizer
            yet (no step was taken).
        TypeError: ``optim`` is not a ``ppl.optim`` wrapper.

    Example:
        >>> import torch, ppl
        >>> opt = ppl.optim.SGD({"lr": 1.0})
        >>> w = torch.zeros(1, requires_grad=True); w.grad = torch.ones(1)
        >>> opt.step({"w": w})
        >>> scale_learning_rate(opt, 0.5)
        [0.5]
    """
    if not factor > 0:
        raise ValueError(f"scale_learning_rate: factor must be > 0, got {factor}")
    if not hasattr(optim, "optimizer"):
        raise TypeError(
            f"scale_learning_rate: expected a ppl.optim wrapper, got {type(optim).__name__}"
        )
    optimizer = optim.optimizer
    if optimizer is None:
        raise ValueError(
            "scale_learning_rate: the optimizer has not taken a step yet, so it has no "
            "learning rate to scale"
        )
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * factor
        if "initial_lr" in group:
            group["initial_lr"] = group["initial_lr"] * factor
    scheduler: Any = getattr(optim, "scheduler", None)
    if scheduler is not None:
        if isinstance(getattr(scheduler, "base_lrs", None), list):
            scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
        if isinstance(getattr(scheduler, "_last_lr", None), list):  # what get_last_lr() reads
            scheduler._last_lr = [float(g["lr"]) for g in optimizer.param_groups]
    return [float(g["lr"]) for g in optimizer.param_groups]


@dataclass
class _RunState:
    snapshot: dict[str, Any]
    snapshot_scale: float = 1.0
    scale: float = 1.0
    rollbacks: int = 0


class RollbackPolicy:
    """The ``"rollback"`` NaN policy of ``SVI.run`` (see the module notes).

    Args:
        max_rollbacks: how many rollbacks one run may make before it raises.
        factor: the learning-rate multiplier applied at each rollback (0 < factor < 1).

    Raises:
        TypeError, ValueError: for a non-int/negative ``max_rollbacks`` or a ``factor``
            outside (0, 1).

    Example:
        >>> policy = RollbackPolicy(max_rollbacks=3)
        >>> policy.max_rollbacks, policy.factor
        (3, 0.5)
    """

    def __init__(self, max_rollbacks: int = 3, factor: float = 0.5) -> None:
        if isinstance(max_rollbacks, bool) or not isinstance(max_rollbacks, int):
            raise TypeError(f"RollbackPolicy: max_rollbacks must be an int, got {max_rollbacks!r}")
        if max_rollbacks < 0:
            raise ValueError(f"RollbackPolicy: max_rollbacks must be >= 0, got {max_rollbacks}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"RollbackPolicy: factor must be in (0, 1), got {factor}")
        self.max_rollbacks = max_rollbacks
        self.factor = float(factor)
        self._runs: weakref.WeakKeyDictionary[Any, _RunState] = weakref.WeakKeyDictionary()
        add_save_listener(self.checkpointed)

    def start(self, svi: Any) -> None:
        """Called by ``SVI.run`` before the first step: snapshot the starting state."""
        self._runs[svi] = _RunState(capture_state(svi, copy=True))

    def stop(self, svi: Any) -> None:
        """Called by ``SVI.run`` when it ends: forget the run's snapshot."""
        self._runs.pop(svi, None)

    def checkpointed(self, svi: Any) -> None:
        """A ``Checkpoint`` callback saved ``svi``: it is the new state to roll back to."""
        run = self._runs.get(svi)
        if run is not None:
            run.snapshot = capture_state(svi, copy=True)
            run.snapshot_scale = run.scale

    def rollbacks(self, svi: Any) -> int:
        """How many rollbacks the current run of ``svi`` has made (0 outside a run)."""
        run = self._runs.get(svi)
        return 0 if run is None else run.rollbacks

    def __call__(self, svi: Any, step_loss: Any, step: int) -> None:
        """Roll ``svi`` back to the last good state and lower the learning rate.

        Raises:
            NonFiniteLossError: after ``max_rollbacks`` rollbacks in this run (the
                message says so), or when called outside ``SVI.run``.
        """
        run = self._runs.get(svi)
        error = svi.nonfinite_error(step_loss, step)
        if run is None:
            raise type(error)(f"{error} (on_nan='rollback' works only inside SVI.run)")
        if run.rollbacks >= self.max_rollbacks:
            raise type(error)(
                f"{error} Gave up after {run.rollbacks} rollback(s) with the learning rate "
                f"scaled by {run.scale:g}."
            )
        run.rollbacks += 1
        run.scale *= self.factor
        restore_state(run.snapshot, svi, strict=True, prune=True)
        lrs = scale_learning_rate(svi.optim, run.scale / run.snapshot_scale)
        warnings.warn(
            f"SVI step {step}: the loss or a gradient is not finite; rolled back to step "
            f"{svi.step_count} and scaled the learning rate to {lrs} (rollback "
            f"{run.rollbacks} of at most {self.max_rollbacks})",
            RuntimeWarning,
            stacklevel=2,
        )


# --------------------------------------------------------------------------- registry
_NAN_POLICIES: dict[str, NanPolicy] = {}


def register_nan_policy(name: str, policy: NanPolicy | None = None) -> Any:
    """Register what ``SVI.run(..., on_nan=name)`` does with a non-finite step.

    A policy is called as ``policy(svi, step_loss, step)`` before any param is
    updated (gradients of the step are still in ``.grad``); it raises to stop the
    run or returns to skip the step. Usable as a decorator.

    Raises:
        TypeError: if ``name`` is not a str or ``policy`` is not callable.

    Example:
        >>> @register_nan_policy("count")
        ... def count(svi, step_loss, step):
        ...     svi.skipped = getattr(svi, "skipped", 0) + 1
    """
    if not isinstance(name, str):
        raise TypeError(f"register_nan_policy: name must be a str, got {type(name).__name__}")

    def add(fn: NanPolicy) -> NanPolicy:
        if not callable(fn):
            raise TypeError(f"register_nan_policy({name!r}): policy must be callable, got {fn!r}")
        _NAN_POLICIES[name] = fn
        return fn

    return add if policy is None else add(policy)


def nan_policy(on_nan: str) -> NanPolicy:
    """The policy registered as ``on_nan``.

    Raises:
        ValueError: no policy has that name (the message lists the known ones).

    Example:
        >>> nan_policy("skip")(None, None, 1) is None
        True
    """
    policy = _NAN_POLICIES.get(on_nan) if isinstance(on_nan, str) else None
    if policy is None:
        raise ValueError(
            f"on_nan must be one of {sorted(_NAN_POLICIES)}, got {on_nan!r}; register a new "
            "one with ppl.infer.nan_policy.register_nan_policy"
        )
    return policy


@register_nan_policy("raise")
def _raise(svi: Any, step_loss: Any, step: int) -> None:
    raise svi.nonfinite_error(step_loss, step)


@register_nan_policy("skip")
def _skip(svi: Any, step_loss: Any, step: int) -> None:
    return None


register_nan_policy("rollback", RollbackPolicy())
