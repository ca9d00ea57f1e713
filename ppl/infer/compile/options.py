"""``torch.compile`` options and the warning every compiled path gives when it falls back.

Example:
    >>> inductor_options("inductor", None, None)
    {'fallback_random': True}
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch

__all__ = ["inductor_options", "warn_compile_fallback", "without_cse"]


def inductor_options(
    backend: Any, mode: str | None, options: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``torch.compile`` options; with inductor's default mode, random ops stay in ATen
    (``fallback_random``) so compiled runs draw what eager runs draw."""
    result = dict(options or {})
    if backend == "inductor" and mode is None:
        result.setdefault("fallback_random", True)
    return result or None


def warn_compile_fallback(who: str, error: Exception, instead: str) -> None:
    """One ``RuntimeWarning``: ``who`` could not compile, and runs ``instead``."""
    first_line = next(iter(str(error).strip().splitlines()), "")
    warnings.warn(
        f"{who} could not compile the model and guide "
        f"({type(error).__name__}: {first_line}); falling back to {instead}",
        RuntimeWarning,
        stacklevel=6,
    )


def without_cse() -> Any:
    """A context manager turning AOTAutograd's CSE pass off (a no-op if torch has none).

    Without it, AOTAutograd's common-subexpression pass merges two calls of an autograd
    function with equal arguments (e.g. the Dirichlet sampler's) into one draw.
    """
    config = getattr(torch._functorch, "config", None)
    if config is None or not hasattr(config, "cse"):
        return contextlib.nullcontext()
    return config.patch(cse=False)
