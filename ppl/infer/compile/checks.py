"""Validation checks deferred into a compiled graph, read on the host once per call.

Inside a graph a failed check cannot raise (that needs a host read per check), so
``ppl.settings`` collects each check's verdict as a tensor while :func:`deferred_checks`
is active; the graph returns their conjunction. A failed conjunction raises
:class:`ValidationFailed`, and the caller replays the call eagerly with the same draws,
which raises the usual error naming the site.

Example:
    >>> import torch
    >>> all_of([torch.tensor(True), torch.tensor(False)])
    tensor(False)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ... import settings

__all__ = ["ValidationFailed", "all_of", "deferred_checks"]


class ValidationFailed(Exception):
    """A validation check deferred inside a compiled graph failed (internal signal)."""


@contextmanager
def deferred_checks() -> Iterator[list[torch.Tensor]]:
    """Collect the verdicts of validation checks run inside the block (as tensors)."""
    outer = settings._DEFERRED_CHECKS
    checks = settings.start_deferring()
    try:
        yield checks
    finally:
        settings.stop_deferring(outer)


def all_of(checks: list[torch.Tensor]) -> torch.Tensor | None:
    """The conjunction of deferred validation verdicts (None when there were none)."""
    if not checks:
        return None
    ok = checks[0]
    for more in checks[1:]:
        ok = ok & more.to(ok.device)
    return ok
