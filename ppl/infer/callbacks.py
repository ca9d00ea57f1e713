"""Callbacks for long optimisation loops: convergence checks and trackers.

Design notes
------------
A callback is any callable ``cb(obj, losses, step)`` run after every optimisation step,
where ``obj`` is what is being fitted (an approximation inside :func:`ppl.infer.vi.fit`,
the ``SVI`` object inside ``SVI.run``), ``losses`` the sequence of losses so far and
``step`` the number of steps taken so far (1-based, as ``SVI.run`` and ``fit`` pass
it). Raising ``StopIteration`` ends the loop early; its message is printed by the
loop. The same objects therefore serve PyMC users
(``pm.callbacks.CheckParametersConvergence``) and Pyro users (``SVI.run``).

Which parameters a convergence check watches: if ``obj`` has a ``flat_params()`` method
(every ppl approximation does) its result is used; otherwise the whole ParamStore is
flattened, in its *unconstrained* coordinates. Unconstrained values are what the
optimiser moves, so a change there is the honest measure of progress (PyMC also checks
its raw ``mu``/``rho``).

``CheckLossConvergence`` compares the mean loss of the last ``window`` steps with the
mean of the ``window`` steps before. Averaging over a window is what makes it robust to
minibatch noise: single-step losses jump around, window means do not.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..params.flat import flatten_params
from .loop import Callback

__all__ = [
    "Callback",
    "CheckLossConvergence",
    "CheckParametersConvergence",
    "Tracker",
    "parameter_vector",
]


def parameter_vector(obj: Any) -> torch.Tensor:
    """The flat, detached, unconstrained parameter vector of ``obj``.

    Args:
        obj: an approximation (anything with ``flat_params()``) or any other object,
            in which case the global ParamStore is flattened.

    Returns:
        A 1-D tensor (a copy).

    Example:
        >>> import ppl, torch
        >>> ppl.clear_param_store()
        >>> _ = ppl.param("a", torch.ones(2))
        >>> parameter_vector(object())
        tensor([1., 1.])
    """
    flat = getattr(obj, "flat_params", None)
    if callable(flat):
        return flat().detach().clone()
    vector, _ = flatten_params()
    return vector


def _check_positive_int(value: Any, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be >= 1, got {value}")
    return value


def _check_tolerance(value: Any, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: tolerance must be a number, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{owner}: tolerance must be > 0, got {value}")
    return float(value)


class CheckParametersConvergence(Callback):
    """Stop when the parameters change by less than ``tolerance`` over ``every`` steps.

    Every ``every`` steps the current unconstrained parameter vector is compared with
    the one saved at the previous check; if ``norm(diff, ord) < tolerance`` the loop is
    stopped with ``StopIteration("Convergence achieved at <step>")``.

    Args:
        every: check frequency in steps.
        tolerance: stop when the norm of the difference falls below this.
        diff: ``"absolute"`` (``current - previous``) or ``"relative"``
            (``|current - previous| / (|previous| + 1e-6)`` element-wise; unstable when
            parameters are near zero, as the seed notebook shows).
        ord: the norm order of ``torch.linalg.vector_norm`` (``inf`` by default).

    Raises:
        ValueError: ``every < 1``, ``tolerance <= 0`` or an unknown ``diff``.
        TypeError: wrong argument types.

    Example:
        >>> cb = CheckParametersConvergence(every=50, diff="absolute", tolerance=1e-4)
    """

    def __init__(
        self,
        every: int = 100,
        tolerance: float = 1e-3,
        diff: str = "relative",
        ord: float = math.inf,
    ) -> None:
        owner = "CheckParametersConvergence"
        self.every = _check_positive_int(every, "every", owner)
        self.tolerance = _check_tolerance(tolerance, owner)
        if diff not in ("relative", "absolute"):
            raise ValueError(f"{owner}: diff must be 'relative' or 'absolute', got {diff!r}")
        self.diff = diff
        self.ord = ord
        self._prev: torch.Tensor | None = None

    def _difference(self, current: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        delta = current - prev
        if self.diff == "absolute":
            return delta
        return delta.abs() / (prev.abs() + 1e-6)

    def __call__(self, obj: Any, losses: Sequence[float], step: int) -> None:
        if self._prev is None:
            self._prev = parameter_vector(obj)
            return
        if step % self.every != 0:
            return
        current = parameter_vector(obj)
        prev = self._prev
        self._prev = current
        if current.shape != prev.shape:  # new parameters appeared: restart the comparison
            return
        norm = float(torch.linalg.vector_norm(self._difference(current, prev), ord=self.ord))
        if norm < self.tolerance:
            raise StopIteration(f"Convergence achieved at {step}")


class CheckLossConvergence(Callback):
    """Stop when the windowed mean loss stops improving (robust to minibatch noise).

    Every ``every`` steps, once ``2 * window`` losses exist, compare the mean of the
    last ``window`` losses (``m1``) with the mean of the ``window`` before (``m0``). The
    check passes when ``|m1 - m0| / (|m0| + 1e-8) < tolerance``; after ``patience``
    consecutive passing checks the loop stops with ``StopIteration``.

    Args:
        every: check frequency in steps.
        window: number of losses averaged on each side.
        tolerance: relative change of the window means under which a check passes.
        patience: consecutive passing checks needed to stop.

    Raises:
        ValueError, TypeError: non-positive or non-integer ``every``/``window``/
            ``patience``, non-positive ``tolerance``.

    Example:
        >>> cb = CheckLossConvergence(every=100, window=200, tolerance=1e-3)
    """

    def __init__(
        self, every: int = 100, window: int = 200, tolerance: float = 1e-3, patience: int = 1
    ) -> None:
        owner = "CheckLossConvergence"
        self.every = _check_positive_int(every, "every", owner)
        self.window = _check_positive_int(window, "window", owner)
        self.patience = _check_positive_int(patience, "patience", owner)
        self.tolerance = _check_tolerance(tolerance, owner)
        self._passed = 0

    def __call__(self, obj: Any, losses: Sequence[float], step: int) -> None:
        w = self.window
        if step % self.every != 0 or len(losses) < 2 * w:
            return
        recent = losses[-2 * w :]
        m0 = math.fsum(recent[:w]) / w
        m1 = math.fsum(recent[w:]) / w
        change = abs(m1 - m0) / (abs(m0) + 1e-8)
        self._passed = self._passed + 1 if change < self.tolerance else 0
        if self._passed >= self.patience:
            raise StopIteration(
                f"Loss convergence achieved at {step}: window mean changed by {change:.3g} "
                f"(relative) < tolerance {self.tolerance}"
            )


def _wants_obj(fn: Callable[..., Any]) -> bool:
    """True if ``fn`` needs one positional argument (it is then given the fitted object)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in kinds and p.default is inspect.Parameter.empty for p in params)


def _snapshot(value: Any) -> Any:
    """A copy of ``value`` that later in-place updates cannot change."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return value


class Tracker(Callback):
    """Record arbitrary statistics at every step: ``Tracker(name=callable, ...)``.

    Each callable is called after every step, with no argument, or with the fitted
    object (the approximation, or ``SVI``) when it takes one positional argument. Its
    result (tensors are detached and copied) is appended to ``tracker[name]``.

    Args:
        **callables: ``name -> fn()`` or ``name -> fn(obj)``.

    Raises:
        TypeError: if a value is not callable.
        KeyError: ``tracker[name]`` for a name that is not tracked.

    Example:
        >>> t = Tracker(step_loss=lambda approx: 0.0)
        >>> t(None, [1.0], 0); t["step_loss"]
        [0.0]
    """

    def __init__(self, **callables: Callable[..., Any]) -> None:
        for name, fn in callables.items():
            if not callable(fn):
                raise TypeError(
                    f"Tracker: {name!r} must be a callable (e.g. lambda: approx.mean['x']), "
                    f"got {type(fn).__name__}"
                )
        self.callables = dict(callables)
        self._pass_obj = {name: _wants_obj(fn) for name, fn in callables.items()}
        self.hist: dict[str, list[Any]] = {name: [] for name in callables}

    def record(self, obj: Any = None) -> None:
        """Call every tracked function once and append its value."""
        for name, fn in self.callables.items():
            value = fn(obj) if self._pass_obj[name] else fn()
            self.hist[name].append(_snapshot(value))

    def clear(self) -> None:
        """Forget every recorded value."""
        for values in self.hist.values():
            values.clear()

    def __call__(self, obj: Any, losses: Sequence[float], step: int) -> None:
        self.record(obj)

    def __getitem__(self, name: str) -> list[Any]:
        try:
            return self.hist[name]
        except KeyError:
            raise KeyError(
                f"Tracker: {name!r} is not tracked; tracked names: {list(self.hist)}"
            ) from None

    def keys(self) -> list[str]:
        """The tracked names."""
        return list(self.hist)

    def __repr__(self) -> str:
        lengths = ", ".join(f"{k}: {len(v)}" for k, v in self.hist.items())
        return f"Tracker({lengths})"
