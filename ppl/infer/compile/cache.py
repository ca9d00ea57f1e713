"""``GraphCache``: compiled graphs by layout, with the one life cycle they all share.

Design notes
------------
Every compiled path (``JitTrace_ELBO``, ``CompiledTrace_ELBO``, ``SVI(compile=True)``)
keeps one graph per *layout* (:mod:`~ppl.infer.compile.layout`) and moves each layout
through the same states:

1. **unseen** -- the call runs eagerly: params are created and validation runs; the
   names of the params it touched are remembered (*pending*).
2. **pending** -- the next call builds the graph over those params' unconstrained
   leaves (the builder traces and compiles; the tracing run's draws are undone, so a
   seeded run draws what eager mode draws). If the traced run touched other params,
   the layout stays pending with the new names and this call runs eagerly. A builder
   that raises sends the layout to *failed* with one ``RuntimeWarning``.
3. **compiled** -- each call first checks that the params are still in the store with
   the same shapes and dtypes (else back to *unseen*), then runs the graph. If the very
   first call of a graph fails, the layout is *failed*; a later failure (e.g. an index
   check on bad data) replays the call eagerly with the same draws, which raises the
   error eager mode gives, naming the site.
4. **failed** -- eager for good.

A deferred validation check that failed inside the graph
(:class:`~ppl.infer.compile.checks.ValidationFailed`) is replayed eagerly the same way.
At most ``max_layouts`` layouts are kept (the oldest is dropped, with a warning once).

Example:
    >>> import torch
    >>> cache = GraphCache("demo", "eager")
    >>> eager = lambda: (torch.tensor(1.0), ())
    >>> build = lambda names, leaves: (lambda *inputs: torch.tensor(2.0))
    >>> [float(cache.run("k", eager, build, lambda g, leaves: g(), lambda: None))
    ...  for _ in range(3)]
    [1.0, 2.0, 2.0]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch

from ...rng import RngSnapshot
from ..util import unconstrained_params
from .checks import ValidationFailed
from .options import warn_compile_fallback

__all__ = ["GraphCache", "Retrace"]

R = TypeVar("R")
LeafMeta = tuple[torch.Size, torch.dtype, torch.device]


@dataclass
class _Pending:
    names: tuple[str, ...]  # params the last eager run touched


@dataclass
class _Compiled:
    names: tuple[str, ...]  # params the graph reads, in input order
    graph: Any
    meta: tuple[LeafMeta, ...]
    checked: list[bool] = field(default_factory=lambda: [False])  # first call succeeded


class _Failed:
    pass


_FAILED = _Failed()


@dataclass(frozen=True)
class Retrace:
    """What a builder returns when the traced run touched other params than expected."""

    names: tuple[str, ...]


class GraphCache(Generic[R]):
    """Compiled graphs keyed by layout; :meth:`run` drives the life cycle above.

    Args:
        who: the name warnings use (e.g. ``"SVI(compile=True)"``).
        instead: what runs when compiling fails (e.g. ``"eager steps"``).
        max_layouts: layouts kept compiled at once.
        quiet: no warning when compiling fails; the reason is kept in ``failure``
            instead (the automatic mode, :mod:`~ppl.infer.compile.auto`, falls back
            silently: eager was what the user asked for).
    """

    def __init__(self, who: str, instead: str, max_layouts: int = 16, quiet: bool = False) -> None:
        self.who = who
        self.instead = instead
        self.max_layouts = max_layouts
        self.quiet = quiet
        self.failure: str | None = None  # why the last layout failed to compile
        self._entries: dict[Hashable, _Pending | _Compiled | _Failed] = {}
        self._warned: set[str] = set()
        self.last_snapshot: RngSnapshot | None = None  # before the last compiled call

    def run(
        self,
        key: Hashable | None,
        eager: Callable[[], tuple[R, Iterable[str]]],
        build: Callable[[tuple[str, ...], dict[str, torch.Tensor]], Any],
        call: Callable[[Any, dict[str, torch.Tensor]], R],
        replay: Callable[[], None],
    ) -> R:
        """One call through the cache.

        Args:
            key: the call's layout (None: not compilable, run eagerly).
            eager: runs the call eagerly; returns ``(result, touched param names)``.
            build: ``(names, leaves) -> graph`` or :class:`Retrace`; may raise.
            call: ``(graph, leaves) -> result``; may raise ``ValidationFailed``.
            replay: reruns the call eagerly (under the RNG snapshot taken before the
                compiled call) so that the eager error is raised.
        """
        self.last_snapshot = None
        if key is None:
            return eager()[0]
        entry = self._entries.get(key)
        if entry is None:
            return self._remember(key, eager)
        if isinstance(entry, _Failed):
            return eager()[0]
        if isinstance(entry, _Pending):
            entry = self._build(key, entry.names, build)
            if not isinstance(entry, _Compiled):
                return self._remember(key, eager) if entry is not _FAILED else eager()[0]
        leaves = unconstrained_params(entry.names)
        if len(leaves) != len(entry.names) or any(
            (leaf.shape, leaf.dtype, leaf.device) != meta
            for leaf, meta in zip(leaves.values(), entry.meta)
        ):  # a param was deleted or replaced by another shape/dtype: trace again
            return self._remember(key, eager)
        snapshot = self.last_snapshot = RngSnapshot.take()
        try:
            result = call(entry.graph, leaves)
        except ValidationFailed:
            self._replay(snapshot, replay)
            raise ValueError(
                f"a validation check failed inside {self.who}'s compiled graph, but not when "
                "the call was replayed eagerly; run without compiling to find the site"
            ) from None
        except Exception as e:
            if entry.checked[0]:
                self._replay(snapshot, replay)  # raises the eager error if there is one
                raise
            self._entries[key] = _FAILED  # the first compiled call failed: stay eager
            self._fallback(e)
            self.last_snapshot = None
            return eager()[0]
        entry.checked[0] = True
        return result

    def states(self) -> list[str]:
        """The state of each layout, oldest first: ``"pending"``, ``"compiled"`` (built,
        not yet run), ``"running"`` (a compiled call succeeded) or ``"failed"``."""
        out = []
        for entry in self._entries.values():
            if isinstance(entry, _Pending):
                out.append("pending")
            elif isinstance(entry, _Compiled):
                out.append("running" if entry.checked[0] else "compiled")
            else:
                out.append("failed")
        return out

    def expect(self, key: Hashable, names: Iterable[str]) -> None:
        """Mark an unseen layout *pending* with known param names, so its next call
        builds the graph at once instead of running eagerly first (a resumed run that
        was compiled when it was saved continues compiled from its first step)."""
        if key is not None and key not in self._entries:
            self._entries[key] = _Pending(tuple(names))

    def clear(self) -> None:
        """Forget every compiled graph (the next call of each layout runs eagerly)."""
        self._entries.clear()

    def warn_once(self, topic: str, message: str) -> None:
        """A ``RuntimeWarning`` given at most once per ``topic`` for this cache."""
        if topic not in self._warned:
            self._warned.add(topic)
            warnings.warn(message, RuntimeWarning, stacklevel=6)

    # ------------------------------------------------------------------ states
    def _remember(self, key: Hashable, eager: Callable[[], tuple[R, Iterable[str]]]) -> R:
        if key not in self._entries and len(self._entries) >= self.max_layouts:
            self.warn_once(
                "layouts",
                f"{self.who}: more than {self.max_layouts} argument layouts (shapes, dtypes "
                "or non-tensor values) seen; each new one is traced and compiled again",
            )
            del self._entries[next(iter(self._entries))]
        result, names = eager()
        self._entries[key] = _Pending(tuple(names))
        return result

    def _build(
        self,
        key: Hashable,
        names: tuple[str, ...],
        build: Callable[[tuple[str, ...], dict[str, torch.Tensor]], Any],
    ) -> _Compiled | _Pending | _Failed:
        leaves = unconstrained_params(names)
        if len(leaves) != len(names):  # the store changed since the eager run
            entry: _Compiled | _Pending | _Failed = _Pending(())
        else:
            try:
                graph = build(tuple(leaves), leaves)
            except Exception as e:  # noqa: BLE001  (anything untraceable means: eager)
                self._fallback(e)
                graph = _FAILED
            if graph is _FAILED or graph is None:
                entry = _FAILED
            elif isinstance(graph, Retrace):
                entry = _Pending(graph.names)
            else:
                meta = tuple((v.shape, v.dtype, v.device) for v in leaves.values())
                entry = _Compiled(tuple(leaves), graph, meta)
        self._entries[key] = entry
        return entry

    def _fallback(self, error: Exception) -> None:
        first_line = next(iter(str(error).strip().splitlines()), "")
        self.failure = f"{type(error).__name__}: {first_line}"
        if not self.quiet:
            warn_compile_fallback(self.who, error, self.instead)

    @staticmethod
    def _replay(snapshot: RngSnapshot, replay: Callable[[], None]) -> None:
        with snapshot.replay(), torch.no_grad():
            replay()
