"""Pyro's ``pyro.util`` helpers under ppl's name: RNG seeding, NaN/Inf checks, shape checks.

Why: Pyro scripts and tests import these from ``pyro.util``; after ``import ppl as pyro``
they must find them at ``ppl.util``. Seeding delegates to :mod:`ppl.rng`, and the
model/guide match check to the ELBO's own check, so there is one implementation of each.

Example:
    >>> import torch
    >>> from ppl.util import torch_isnan, warn_if_nan
    >>> bool(torch_isnan(float("nan")))
    True
    >>> warn_if_nan(torch.tensor(1.0)).item()
    1.0
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ppl.rng import get_rng_state, set_rng_seed, set_rng_state

__all__ = [
    "ExperimentalWarning",
    "check_model_guide_match",
    "check_site_shape",
    "get_rng_state",
    "ignore_experimental_warning",
    "ignore_jit_warnings",
    "jit_iter",
    "optional",
    "set_rng_seed",
    "set_rng_state",
    "timed",
    "torch_float",
    "torch_isinf",
    "torch_isnan",
    "warn_if_inf",
    "warn_if_nan",
]


def torch_isnan(x: torch.Tensor | numbers.Number) -> torch.Tensor | bool:
    """Whether ``x`` holds any NaN: a 0-dim bool tensor for tensors, a bool for numbers."""
    if isinstance(x, numbers.Number):
        return x != x
    return torch.isnan(x).any()


def torch_isinf(x: torch.Tensor | numbers.Number) -> torch.Tensor | bool:
    """Whether ``x`` holds any +/-inf: a 0-dim bool tensor for tensors, a bool for numbers."""
    if isinstance(x, numbers.Number):
        return x in (math.inf, -math.inf)
    return torch.isinf(x).any()


def _warn_if(value: Any, bad: Any, msg: str, what: str, allow_inf: bool) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            _warn_if(item, bad, f"{msg} {key!r}", what, allow_inf)
        return value
    if isinstance(value, numbers.Number) and bad(value):
        warnings.warn(f"Encountered {what} {msg}".rstrip(), stacklevel=3)
    elif isinstance(value, torch.Tensor) and bool(torch.as_tensor(bad(value)).any()):
        warnings.warn(f"Encountered {what} {msg}".rstrip(), stacklevel=3)
    return value


def warn_if_nan(value: Any, msg: str = "", *, filename: str | None = None,
                lineno: int | None = None) -> Any:
    """Warn when ``value`` (a number, tensor or dict of them) holds a NaN; return it.

    Args:
        value: what to check.
        msg: appended to the warning text, e.g. the name of the loss.
        filename, lineno: accepted for Pyro compatibility.
    Returns:
        ``value`` unchanged, so the call can wrap an expression.
    """
    del filename, lineno
    return _warn_if(value, torch_isnan, msg, "NaN:", allow_inf=True)


def warn_if_inf(value: Any, msg: str = "", allow_posinf: bool = False,
                allow_neginf: bool = False, *, filename: str | None = None,
                lineno: int | None = None) -> Any:
    """Warn when ``value`` holds an infinity not allowed by the flags; return it."""
    del filename, lineno

    def bad(x: Any) -> Any:
        if isinstance(x, numbers.Number):
            return (x == math.inf and not allow_posinf) or (x == -math.inf and not allow_neginf)
        out = torch.zeros_like(x, dtype=torch.bool)
        if not allow_posinf:
            out = out | (x == math.inf)
        if not allow_neginf:
            out = out | (x == -math.inf)
        return out

    return _warn_if(value, bad, msg, "+/-Inf:", allow_inf=False)


def check_model_guide_match(
    model_trace: Any, guide_trace: Any, max_plate_nesting: float = math.inf
) -> None:
    """Raise ``ValueError`` when the guide's sample sites do not match the model's.

    ``max_plate_nesting`` is accepted for Pyro compatibility.
    """
    del max_plate_nesting
    from ppl.infer.elbo import check_model_guide_match as check

    check(model_trace, guide_trace)


def check_site_shape(site: Any, max_plate_nesting: int) -> None:
    """Check a sample site's ``log_prob`` shape against its enclosing plates.

    Each plate at ``dim`` must see a log-prob dimension of the plate's size (or 1),
    and no batch dimension may sit left of ``max_plate_nesting``.

    Raises:
        ValueError: naming the site, the plate, the expected and the actual size.
    """
    actual = site["log_prob"].shape if "log_prob" in site else site["fn"].batch_shape
    actual = tuple(actual)
    expected: list[int | None] = [None] * max_plate_nesting
    for frame in site.get("cond_indep_stack", ()):
        if frame.vectorized and frame.dim is not None:
            if -frame.dim > max_plate_nesting:
                raise ValueError(
                    f"at site {site['name']!r}, plate {frame.name!r} uses dim {frame.dim}, "
                    f"beyond max_plate_nesting={max_plate_nesting}"
                )
            expected[frame.dim] = frame.size
    if len(actual) > max_plate_nesting:
        extra = actual[: len(actual) - max_plate_nesting]
        if any(size != 1 for size in extra):
            raise ValueError(
                f"at site {site['name']!r}, log_prob shape {actual} has batch dims left of "
                f"max_plate_nesting={max_plate_nesting}; declare them with a plate"
            )
    for dim in range(-min(len(actual), max_plate_nesting), 0):
        size, want = actual[dim], expected[dim]
        if want is None:
            if size != 1:
                raise ValueError(
                    f"at site {site['name']!r}, dim {dim} of log_prob shape {actual} has size "
                    f"{size} but no plate is declared at that dim"
                )
        elif size not in (1, want):
            raise ValueError(
                f"at site {site['name']!r}, dim {dim} of log_prob shape {actual} has size "
                f"{size}, expected {want} from its plate"
            )


@contextmanager
def ignore_jit_warnings(filter: list | None = None) -> Iterator[None]:
    """Silence ``torch.jit.TracerWarning`` (or the given warning filters) in a block."""
    with warnings.catch_warnings():
        if filter is None:
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        else:
            for item in filter:
                if isinstance(item, tuple):
                    warnings.filterwarnings("ignore", category=item[0], message=item[1])
                else:
                    warnings.filterwarnings("ignore", category=item)
        yield


def jit_iter(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The slices of ``tensor`` along dim 0, as a list (safe under the JIT tracer)."""
    with ignore_jit_warnings():
        return list(tensor)


class optional:
    """Enter ``context_manager`` only when ``condition`` is true."""

    def __init__(self, context_manager: Any, condition: bool) -> None:
        self.context_manager = context_manager
        self.condition = condition

    def __enter__(self) -> Any:
        if self.condition:
            return self.context_manager.__enter__()
        return None

    def __exit__(self, *args: Any) -> Any:
        if self.condition:
            return self.context_manager.__exit__(*args)
        return None


class ExperimentalWarning(UserWarning):
    """Warns that a feature is experimental."""


@contextmanager
def ignore_experimental_warning() -> Iterator[None]:
    """Silence :class:`ExperimentalWarning` inside a block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ExperimentalWarning)
        yield


class timed:
    """Context manager that records its wall-clock duration in ``.elapsed`` seconds."""

    def __enter__(self, timer: Any = time.perf_counter) -> timed:
        self.start = timer()
        return self

    def __exit__(self, *args: Any) -> None:
        self.end = time.perf_counter()
        self.elapsed = self.end - self.start


def torch_float(x: torch.Tensor | float | int) -> torch.Tensor | float:
    """Cast to floating point: ``x.float()`` for tensors, ``float(x)`` for numbers."""
    return x.float() if isinstance(x, torch.Tensor) else float(x)
