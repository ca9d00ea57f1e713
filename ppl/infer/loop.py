"""The one training loop: progress bar, callbacks, early stops and rewinds.

Design notes
------------
``SVI.run``, the PyMC-style ``fit``/``ADVI`` objects and any later sampler drive their
steps through :func:`run_steps`; they differ only in what one step is and how the
bar describes progress. The loop owns:

* **Steps.** ``step()`` takes one step (or several, as ``SVI``'s K-steps calls) and
  records its value (a loss; ``nan`` for a skipped step) at the end of the caller's
  *history*, a sequence the loop reads back
  through ``history()``. The loop counts this run's steps off that history, so a
  step that *rewinds* it (a NaN policy or a callback restoring an earlier state,
  which shortens or replaces the history) is noticed and the lost steps are redone.
* **Callbacks**, each called as ``cb(target, losses, step)`` after every step, with
  ``losses`` this run's values (a list) and ``step`` their number. A callback (or the
  step) raising ``StopIteration`` ends the run: its message, if any, is printed, then
  ``Interrupted at step N [p%]: Average Loss = L``. With ``catch_interrupt``,
  ``KeyboardInterrupt`` ends the run the same way, keeping what was fitted.
* **The progress bar** (tqdm), refreshed once per window of steps from the history,
  with a postfix chosen by the caller (:func:`numpyro_postfix`, :func:`pymc_postfix`).
* **Argument checks** for the number of steps and the callbacks, with errors that
  name the caller.

Example:
    >>> history = []
    >>> report = run_steps(lambda: history.append(1.0), 3, history=lambda: history,
    ...                    progress_bar=False)
    >>> report.losses, report.steps, report.stopped
    ([1.0, 1.0, 1.0], 3, None)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Callback",
    "LoopReport",
    "average_loss",
    "check_callbacks",
    "check_num_steps",
    "numpyro_postfix",
    "pymc_postfix",
    "run_steps",
]

# (this run's values, steps done, window) -> the bar's postfix text
Postfix = Callable[[Sequence[float], int, int], str]


class Callback(Protocol):
    """What ``run``/``fit`` call after every step: ``cb(target, losses, step)``.

    ``target`` is the object being fitted (the ``SVI`` object or the approximation),
    ``losses`` this run's losses so far (a list), ``step`` their number. Raise
    ``StopIteration`` to end the run.
    """

    def __call__(self, target: Any, losses: Sequence[float], step: int) -> Any: ...


@dataclass(frozen=True)
class LoopReport:
    """How a run of :func:`run_steps` ended.

    Attributes:
        losses: this run's recorded values, one per step taken.
        steps: the number of steps taken (``len(losses)``).
        stopped: None if the run took every step; else the stop message (``""`` for a
            bare ``StopIteration``, ``"KeyboardInterrupt"``).
    """

    losses: list[float]
    steps: int
    stopped: str | None


def check_num_steps(num_steps: Any, owner: str) -> int:
    """``num_steps`` as an int >= 1, or a ``TypeError``/``ValueError`` naming ``owner``."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(f"{owner}: num_steps must be an int, got {type(num_steps).__name__}")
    if num_steps < 1:
        raise ValueError(f"{owner}: num_steps must be >= 1, got {num_steps}")
    return num_steps


def check_callbacks(callbacks: Any, owner: str) -> tuple[Callback, ...]:
    """``callbacks`` as a tuple of callables, or a ``TypeError`` naming ``owner``."""
    if callable(callbacks):
        raise TypeError(
            f"{owner}: callbacks must be a list of callables, got a single callable; "
            "wrap it in a list: callbacks=[cb]"
        )
    try:
        out = tuple(callbacks)
    except TypeError:
        raise TypeError(
            f"{owner}: callbacks must be a list of callables, got {type(callbacks).__name__}"
        ) from None
    for cb in out:
        if not callable(cb):
            raise TypeError(f"{owner}: every callback must be callable, got {cb!r}")
    return out


def average_loss(losses: Sequence[float]) -> float:
    """The mean of the finite values among the last tenth (at least one) of ``losses``."""
    if not losses:
        return math.nan
    window = [v for v in losses[-max(len(losses) // 10, 1) :] if math.isfinite(v)]
    return math.fsum(window) / len(window) if window else math.nan


def numpyro_postfix(losses: Sequence[float], step: int, window: int) -> str:
    """NumPyro's bar text: ``init loss: X, avg. loss [a-b]: Y`` over the last window."""
    recent = [v for v in losses[step - window : step] if math.isfinite(v)]
    avg = sum(recent) / len(recent) if recent else math.nan
    return f"init loss: {losses[0]:.4f}, avg. loss [{step - window + 1}-{step}]: {avg:.4f}"


def pymc_postfix(losses: Sequence[float], step: int, window: int) -> str:
    """PyMC's bar text: ``Average Loss = L`` (over the last tenth of the run)."""
    return f"Average Loss = {average_loss(losses[:step]):.5g}"


class _ProgressBar:
    """tqdm bar whose postfix is refreshed once per ``window`` steps."""

    def __init__(self, num_steps: int, postfix: Postfix, window: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=num_steps)
        self.postfix = postfix
        self.window = window
        self._pending = 0

    def update(self, losses: Sequence[float], step: int) -> None:
        self._pending += 1
        if step % self.window == 0:
            self.bar.set_postfix_str(self.postfix(losses, step, self.window), refresh=False)
            self._flush()
        elif self._pending >= 64:
            self._flush()

    def rewind(self, step: int) -> None:
        self._pending = 0
        self.bar.n = step
        self.bar.refresh()

    def close(self) -> None:
        self._flush()
        self.bar.close()

    def _flush(self) -> None:
        if self._pending:
            self.bar.update(self._pending)
            self._pending = 0


def run_steps(
    step: Callable[[], Any],
    num_steps: int,
    *,
    history: Callable[[], Sequence[float]],
    callbacks: Sequence[Callback] = (),
    target: Any = None,
    progress_bar: bool = True,
    postfix: Postfix = numpyro_postfix,
    window: int | None = None,
    catch_interrupt: bool = False,
    finished_message: bool = False,
    owner: str = "run",
) -> LoopReport:
    """Take ``num_steps`` steps with a progress bar and callbacks (see the module notes).

    Args:
        step: takes one step and appends its value to the history.
        num_steps: the number of steps this run takes.
        history: returns the caller's history (read after every step; a new object or
            a shorter one means the step rewound the run).
        callbacks: called as ``cb(target, losses, step)`` after every step.
        target: what the callbacks receive first.
        progress_bar: show a tqdm bar.
        postfix: the bar's text (:func:`numpyro_postfix` or :func:`pymc_postfix`).
        window: steps between bar refreshes (default ``max(num_steps // 20, 1)``).
        catch_interrupt: end the run on ``KeyboardInterrupt`` instead of raising.
        finished_message: print ``Finished [100%]: Average Loss = L`` at the end of a
            run that took every step (PyMC's summary line; only with the bar).
        owner: the caller's name, for error messages.

    Returns:
        A :class:`LoopReport`.

    Raises:
        TypeError, ValueError: bad ``num_steps`` or ``callbacks``.
    """
    num_steps = check_num_steps(num_steps, owner)
    cbs = check_callbacks(callbacks, owner)
    hist = history()
    first = len(hist)
    losses: list[float] = []
    bar = (
        _ProgressBar(num_steps, postfix, window or max(num_steps // 20, 1))
        if progress_bar
        else None
    )
    stopped: str | None = None

    def resync(now: Sequence[float]) -> None:
        # the history was rewound (restored from an earlier state): redo the lost steps
        nonlocal hist, first
        hist, first = now, min(first, len(now))
        losses[:] = list(now[first:])
        if bar is not None:
            bar.rewind(len(losses))

    try:
        while len(losses) < num_steps:
            step()
            now = history()
            taken = len(now) - first - len(losses)  # 1, or K for a K-steps call
            if now is not hist or taken < 1:
                resync(now)
                continue
            for value in now[len(now) - taken :]:
                losses.append(value)
                if bar is not None:
                    bar.update(losses, len(losses))
                for cb in cbs:
                    cb(target, losses, len(losses))
                now = history()
                if now is not hist or len(now) < first + len(losses):
                    resync(now)  # a callback loaded a checkpoint
                    break
    except StopIteration as stop:
        stopped = str(stop)
    except KeyboardInterrupt:
        if not catch_interrupt:
            raise
        stopped = "KeyboardInterrupt"
    finally:
        if bar is not None:
            bar.close()
    if stopped is not None:
        if stopped:
            print(stopped)
        n = len(losses)
        print(
            f"Interrupted at step {n} [{100 * n // num_steps}%]: "
            f"Average Loss = {average_loss(losses):.6g}"
        )
    elif finished_message and progress_bar:
        print(f"Finished [100%]: Average Loss = {average_loss(losses):.6g}")
    return LoopReport(list(losses), len(losses), stopped)
