"""``markov``: mark a time loop as a Markov chain (Pyro's name; no enumeration yet).

ppl does not enumerate discrete latents, so ``markov`` only has to keep Pyro's
call forms working: a context manager, a decorator, and an iterator wrapper
(``for t in markov(range(T))``). It changes nothing about the sites inside.

Example:
    >>> [t for t in markov(range(3))]
    [0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .messenger import Messenger


class MarkovMessenger(Messenger):
    """A no-op handler standing for Pyro's ``MarkovMessenger`` (history/keep are accepted)."""

    def __init__(
        self, history: int = 1, keep: bool = False, dim: int | None = None, name: str | None = None
    ) -> None:
        super().__init__()
        if history < 0:
            raise ValueError(f"markov: history must be >= 0, got {history}")
        self.history = history
        self.keep = keep


class _MarkovIterator:
    def __init__(self, iterable: Iterable[Any], msngr: MarkovMessenger) -> None:
        self.iterable = iterable
        self.msngr = msngr

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable:
            with self.msngr:
                yield item


def markov(
    fn: Callable[..., Any] | Iterable[Any] | None = None,
    history: int = 1,
    keep: bool = False,
    dim: int | None = None,
    name: str | None = None,
) -> Any:
    """Context manager, decorator (``markov(fn)``) or iterator (``markov(range(T))``)."""
    msngr = MarkovMessenger(history=history, keep=keep, dim=dim, name=name)
    if fn is None:
        return msngr
    if callable(fn):
        return msngr(fn)
    return _MarkovIterator(fn, msngr)
