"""``markov``: declare that a loop is a Markov chain, so enumeration can recycle dims.

Inside ``for t in markov(range(T))`` a site at step ``t`` may depend only on the
sites of the last ``history`` steps. ``markov`` records, for each sample site, which
earlier sites are in its window (``infer["_markov_scope"]``, a ``Counter`` of site
names) and how deeply nested its markov contexts are (``infer["_markov_depth"]``).
:class:`~ppl.poutine.enum_messenger.EnumMessenger` reads both: an enumerated site
only has to avoid the enumeration dims of the sites in its window, so a chain of any
length needs ``history + 1`` enumeration dims instead of one per step.

The handler is re-entrant: iterating enters the same handler once per step without
leaving it (the steps nest), and every step is left at the end of the loop. Each
entry is one position in a stack of name sets; a site sees the sets of the last
``history`` positions and its own. With ``keep=True`` the sets of exited positions
are kept, so sibling branches at one level see each other.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> with ppl.poutine.trace() as tr:
    ...     x = 0
    ...     for t in markov(range(3)):
    ...         x = ppl.sample(f"x_{t}", dist.Bernoulli(0.5))
    >>> sorted(tr.trace.nodes["x_2"]["infer"]["_markov_scope"])
    ['x_1']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from types import TracebackType
from typing import Any

from typing_extensions import Self

from .messenger import Messenger
from .runtime import Message


class MarkovMessenger(Messenger):
    """Markov dependency declaration (Pyro's ``MarkovMessenger``).

    Args:
        history: how many previous contexts a site may depend on (>= 0; 0 behaves
            like an independence declaration).
        keep: keep the contexts of exited branches, so neighbouring branches at the
            same level may depend on each other.
        dim, name: Pyro's reserved arguments for vectorized markov; only None works.

    Raises:
        ValueError: if ``history`` is negative.
        NotImplementedError: if ``dim`` or ``name`` is given.
    """

    def __init__(
        self, history: int = 1, keep: bool = False, dim: int | None = None, name: str | None = None
    ) -> None:
        super().__init__()
        if history < 0:
            raise ValueError(f"markov: history must be >= 0, got {history}")
        if dim is not None or name is not None:
            raise NotImplementedError(
                "markov: vectorized markov (dim=/name=) is not implemented; leave both None"
            )
        self.history = history
        self.keep = keep
        self.dim = dim
        self.name = name
        self._iterable: Iterable[Any] | None = None
        self._pos = -1
        self._stack: list[set[str]] = []
        self._ref_count = 0

    def generator(self, iterable: Iterable[Any]) -> Self:
        """Make this handler iterate over ``iterable`` (one nested context per item)."""
        self._iterable = iterable
        return self

    def __iter__(self) -> Iterator[Any]:
        if self._iterable is None:
            raise TypeError("markov: this handler has no iterable; use markov(range(T))")
        with ExitStack() as stack:
            for value in self._iterable:
                stack.enter_context(self)
                yield value

    def __enter__(self) -> Self:
        self._pos += 1
        if len(self._stack) <= self._pos:
            self._stack.append(set())
        self._ref_count += 1
        if self._ref_count == 1:
            super().__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.keep:
            self._stack.pop()
        self._pos -= 1
        self._ref_count -= 1
        if self._ref_count == 0:
            super().__exit__(exc_type, exc_value, traceback)

    def process_message(self, msg: Message) -> None:
        if msg.type != "sample" or msg.done or msg.infer.get("is_subsample"):
            return
        infer = msg.infer
        scope = infer.get("_markov_scope")
        if scope is None:
            scope = infer["_markov_scope"] = Counter()
        for pos in range(max(0, self._pos - self.history), self._pos + 1):
            scope.update(self._stack[pos])
        infer["_markov_depth"] = 1 + infer.get("_markov_depth", 0)
        self._stack[self._pos].add(str(msg.name))


def markov(
    fn: Callable[..., Any] | Iterable[Any] | None = None,
    history: int = 1,
    keep: bool = False,
    dim: int | None = None,
    name: str | None = None,
) -> Any:
    """Context manager, decorator (``markov(fn)``) or iterator (``markov(range(T))``).

    Example:
        >>> [t for t in markov(range(3))]
        [0, 1, 2]
    """
    msngr = MarkovMessenger(history=history, keep=keep, dim=dim, name=name)
    if fn is None:
        return msngr
    if callable(fn):
        return msngr(fn)
    return msngr.generator(fn)
