"""Global switches of ppl: validation.

Validation is one flag, read by ``ppl.sample`` on every call. When it is on, each
sample site checks its distribution's arguments against their constraints and an
observed value against the support, and a failure names the site. The check lives
at the site (not in the distribution constructor, where torch puts it) precisely so
the error can say *which* site is wrong; torch's own constructor check is therefore
switched off while ppl's validation is on, and both are off when it is off (the
fast path for benchmarks and production runs).

Example:
    >>> import ppl
    >>> ppl.enable_validation(False)
    >>> ppl.is_validation_enabled()
    False
    >>> ppl.enable_validation(True)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

_VALIDATION_ENABLED = True
# While a compiled estimator runs, the verdicts of validation checks are collected
# here as bool tensors instead of being read on the host one by one.
_DEFERRED_CHECKS: list[torch.Tensor] | None = None
# True while a compiled step records one run as a static graph (make_fx): code whose
# Python depends on random values (a sequential subsampled plate) must refuse.
_STATIC_TRACE = False


def enable_validation(is_validate: bool = True) -> None:
    """Turn site-level validation of distributions and observations on or off."""
    global _VALIDATION_ENABLED
    _VALIDATION_ENABLED = bool(is_validate)
    # torch's constructor-time check cannot name the site; ppl checks at the site.
    torch.distributions.Distribution.set_default_validate_args(False)


def is_validation_enabled() -> bool:
    """Whether ``ppl.sample`` validates arguments and observed values."""
    return _VALIDATION_ENABLED


@contextmanager
def validation_enabled(is_validate: bool = True) -> Iterator[None]:
    """Turn validation on (or off) inside a ``with`` block, restoring it after.

    Example:
        >>> with validation_enabled(False):
        ...     is_validation_enabled()
        False
    """
    old = is_validation_enabled()
    enable_validation(is_validate)
    try:
        yield
    finally:
        enable_validation(old)


def check(ok: torch.Tensor) -> bool:
    """Whether a validation check passed (``ok`` is a bool tensor; all must be true).

    Normally this reads ``ok.all()`` on the host. Between :func:`start_deferring` and
    :func:`stop_deferring` (a compiled estimator's graph) it records the verdict and
    returns True, so the graph needs no host read; the caller reads all verdicts at
    once afterwards and, on a failure, reruns eagerly to name the site.

    Example:
        >>> check(torch.tensor([True, True]))
        True
    """
    if _DEFERRED_CHECKS is not None:
        _DEFERRED_CHECKS.append(ok.all())
        return True
    return bool(ok.all())


def start_deferring() -> list[torch.Tensor]:
    """Collect validation verdicts (see :func:`check`) in a new list, returned."""
    global _DEFERRED_CHECKS
    checks: list[torch.Tensor] = []
    _DEFERRED_CHECKS = checks
    return checks


def stop_deferring(previous: list[torch.Tensor] | None = None) -> None:
    """Stop collecting: back to ``previous`` (an outer collection) or host reads."""
    global _DEFERRED_CHECKS
    _DEFERRED_CHECKS = previous


def is_static_tracing() -> bool:
    """Whether a run is being recorded as a static graph (``torch.jit.trace`` or a
    compiled SVI step), where Python control flow on random values would be frozen."""
    return _STATIC_TRACE or torch.jit.is_tracing()


def set_static_tracing(active: bool) -> bool:
    """Mark (or unmark) a static-graph recording; returns the previous mark."""
    global _STATIC_TRACE
    previous, _STATIC_TRACE = _STATIC_TRACE, bool(active)
    return previous


enable_validation(True)
