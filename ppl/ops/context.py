"""Small context-manager helpers with no dependencies (Pyro's ``pyro.util.optional``).

Example:
    >>> import contextlib
    >>> with optional(contextlib.suppress(KeyError), True):
    ...     raise KeyError("ignored")
"""

from __future__ import annotations

from typing import Any

__all__ = ["optional"]


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
