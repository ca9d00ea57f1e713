"""``trace``: record every site of a run into a :class:`~ppl.poutine.trace_struct.Trace`.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> tr = ppl.poutine.trace(lambda: ppl.sample("x", dist.Normal(0.0, 1.0))).get_trace()
    >>> tr.nodes["x"]["type"]
    'sample'
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from typing_extensions import ParamSpec

from .messenger import Messenger
from .runtime import Message
from .trace_struct import Trace

P = ParamSpec("P")
R = TypeVar("R")

_SHAPE_TABLE_MARK = "\nTrace Shapes:"


class TraceMessenger(Messenger):
    """Records sites into ``self.trace`` (a fresh :class:`Trace` at each entry).

    Args:
        graph_type: "flat" (no edges) or "dense": each sample site gets an edge from
            every earlier sample site it may depend on (see :func:`identify_dense_edges`).
        param_only: record only ``param`` sites.

    A ``ValueError`` raised inside the traced code gets the shape table of the
    sites recorded so far appended, which usually points at the offending site.
    """

    def __init__(self, graph_type: str | None = None, param_only: bool | None = None) -> None:
        super().__init__()
        if graph_type not in (None, "flat", "dense"):
            raise ValueError(f"graph_type must be 'flat' or 'dense', got {graph_type!r}")
        self.graph_type = graph_type or "flat"
        self.param_only = bool(param_only)
        self.trace = Trace(self.graph_type)
        self._plate_sizes: dict[str, tuple[int, int | None]] = {}

    def __enter__(self) -> TraceMessenger:
        self.trace = Trace(self.graph_type)
        self._plate_sizes = {}
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        if self.graph_type == "dense":
            identify_dense_edges(self.trace)
        if isinstance(exc_value, ValueError) and self.trace.nodes and exc_value.args:
            text = str(exc_value.args[0])
            if _SHAPE_TABLE_MARK not in text:
                exc_value.args = (text + "\n" + self.trace.format_shapes(),) + exc_value.args[1:]

    def _reset(self) -> None:
        """Start a fresh trace, keeping the ``_INPUT`` site of the current run."""
        fresh = Trace(self.graph_type)
        inputs = self.trace.nodes.get("_INPUT")
        if inputs is not None:
            fresh.add_message(inputs)
        self.trace = fresh
        self._plate_sizes = {}

    def postprocess_message(self, msg: Message) -> None:
        if msg.name is None or (self.param_only and msg.type != "param"):
            return
        if msg.infer.get("_do_not_trace"):  # e.g. ConjugateReparam's auxiliary draw
            return
        if msg.type == "sample":
            self._check_plates(msg)
        self.trace.add_message(msg)

    def _check_plates(self, msg: Message) -> None:
        """A plate name must keep one size and one dim within a trace."""
        for frame in msg.cond_indep_stack:
            seen = self._plate_sizes.get(frame.name)
            now = (frame.full_size if frame.full_size is not None else frame.size, frame.dim)
            if seen is None:
                self._plate_sizes[frame.name] = now
            elif seen != now:
                raise ValueError(
                    f"plate {frame.name!r} was entered with size {seen[0]} at dim {seen[1]} and "
                    f"again with size {now[0]} at dim {now[1]} (site {msg.name!r}); a plate "
                    "name must keep one size and dim within a model. Rename one of the plates."
                )

    def get_trace(self) -> Trace:
        """The trace recorded by the last run."""
        return self.trace

    def __call__(self, fn: Callable[P, R]) -> TraceHandler[P, R]:  # type: ignore[override]
        return TraceHandler(self, fn)


class TraceHandler(Generic[P, R]):
    """``trace(fn)``: call it like ``fn``, or use ``get_trace(*args)`` for the trace.

    The trace also holds ``_INPUT`` (args) and ``_RETURN`` (return value) pseudo-sites.
    """

    def __init__(self, msngr: TraceMessenger, fn: Callable[P, R]) -> None:
        if not callable(fn):
            raise TypeError(f"trace wraps a callable (a model or guide), got {type(fn).__name__}")
        self.msngr = msngr
        self.fn = fn

    @property
    def trace(self) -> Trace:
        return self.msngr.trace

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.msngr as tm:
            if not tm.param_only:  # a params-only trace holds param sites alone, as Pyro's
                tm.trace.add_node("_INPUT", type="args", value=None, args=args, kwargs=kwargs)
            ret = self.fn(*args, **kwargs)
        if not tm.param_only:
            tm.trace.add_node("_RETURN", type="return", value=ret)
        return ret

    def get_trace(self, *args: P.args, **kwargs: P.kwargs) -> Trace:
        """Run ``fn(*args, **kwargs)`` and return its trace."""
        self(*args, **kwargs)
        return self.msngr.trace


def trace(
    fn: Callable[..., Any] | None = None,
    graph_type: str | None = None,
    param_only: bool | None = None,
) -> Any:
    """Record the sites of ``fn`` (see :class:`TraceMessenger`)."""
    msngr = TraceMessenger(graph_type=graph_type, param_only=param_only)
    return msngr(fn) if fn is not None else msngr


def identify_dense_edges(trace: Trace) -> None:
    """Add an edge ``earlier -> later`` between every pair of sample sites that may depend.

    Two sites are known to be independent only when they sit in different iterations
    of the same sequential plate at the same nesting level; every other earlier site
    is a potential parent. Plates' subsample index sites get no edges.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def model():
        ...     x = ppl.sample("x", dist.Normal(0.0, 1.0))
        ...     ppl.sample("y", dist.Normal(x, 1.0))
        >>> tr = ppl.poutine.trace(model, graph_type="dense").get_trace()
        >>> sorted(tr.edges)
        [('x', 'y')]
    """
    sites = [
        (name, site)
        for name, site in trace.nodes.items()
        if site.type == "sample" and not site.infer.get("is_subsample", False)
    ]
    for i, (name, site) in enumerate(sites):
        for past_name, past in sites[:i]:
            independent = any(
                a.name == b.name and a.counter != b.counter
                for a, b in zip(site.cond_indep_stack, past.cond_indep_stack)
            )
            if not independent:
                trace.add_edge(past_name, name)
