"""Compiled ELBO estimators: ``JitTrace_ELBO`` (``torch.jit.trace``) and
``CompiledTrace_ELBO`` (``torch.compile``), for any eager ELBO.

Design notes
------------
A compiled estimator is an eager ELBO class with one of two mixins in front of it;
:func:`jit_variant` and :func:`compiled_variant` build the class, so a new estimator
(``TraceGraph_ELBO``, ``TraceEnum_ELBO``, ...) gets both by implementing the eager
``_particle_loss`` only. The mixin replaces ``ELBO._evaluate`` by a call through a
:class:`~ppl.infer.compile.cache.GraphCache` (first call eager, second compiles, later
ones run the graph; see there for the life cycle and fallbacks). Compiled calls keep no
traces: :class:`CompiledELBOStep` replays a non-finite step eagerly with the same draws
to name its sites.

The two back ends differ in what they freeze:

* ``JitTrace_*`` (Pyro's names) record one run as a TorchScript graph of ops: Python
  control flow, the set of params and validation checks are frozen at trace time, and
  sampling ops are replayed from the global generator, so a seeded run draws the same
  values as the eager ELBO.
* ``CompiledTrace_*`` hand the whole estimator (model, guide, handlers, ELBO arithmetic)
  to ``torch.compile``. Dynamo guards on the Python state it read (the ParamStore
  entries, the validation flag, non-tensor arguments), so a change recompiles instead
  of silently reusing a stale graph, and a construct it cannot trace becomes a graph
  break rather than an error. Random ops are left to ATen (``fallback_random=True``),
  so a seeded run draws what eager mode draws and resumes exactly from a checkpoint.
  Validation checks are collected inside the graph and read once per call.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer.compile import JitTrace_ELBO
    >>> ppl.clear_param_store()
    >>> model = lambda: ppl.sample("z", dist.Normal(0.0, 1.0))
    >>> guide = lambda: ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(1.0)), 1.0))
    >>> elbo = JitTrace_ELBO(num_particles=4000, vectorize_particles=True, ignore_jit_warnings=True)
    >>> [round(elbo.loss(model, guide), 1) for _ in range(3)]  # eager, compiled, compiled
    [0.5, 0.5, 0.5]
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import Any

import torch

from ... import settings
from ...poutine.runtime import quiet_tracer
from ...poutine.trace_struct import Trace
from ..elbo import ELBO
from ..step import EagerStep, StepLoss
from .cache import GraphCache
from .checks import ValidationFailed, all_of
from .layout import cuda_devices, layout_key, tensor_inputs, with_tensor_inputs
from .options import inductor_options, without_cse

__all__ = [
    "CompiledELBOStep",
    "CompilingELBOMixin",
    "compiled_variant",
    "eager_evaluate",
    "is_compiling_elbo",
    "jit_variant",
]

# (*unconstrained leaves, *tensor args) -> (loss, param names touched, or None if frozen)
Graph = Callable[..., tuple[torch.Tensor, "tuple[str, ...] | None"]]
LossFn = Callable[..., tuple[torch.Tensor, tuple[str, ...]]]


class CompilingELBOMixin:
    """Compile-once-per-layout evaluation for an eager ELBO (mix in before it).

    Subclasses implement :meth:`_build`, turning
    ``loss_fn(*leaves, *tensor_args) -> (loss, names)`` into a graph.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._graphs: GraphCache = GraphCache(type(self).__name__, "the eager estimator")

    def _build(self, loss_fn: LossFn, inputs: tuple[torch.Tensor, ...]) -> Graph:
        raise NotImplementedError

    def _evaluate(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, list[tuple[Trace, Trace]], dict[str, None]]:
        eager = super()._evaluate  # type: ignore[misc]

        def run_eager() -> tuple[Any, dict[str, None]]:
            result = eager(model, guide, args, kwargs)
            return result, result[2]

        def build(names: tuple[str, ...], leaves: dict[str, torch.Tensor]) -> Graph:
            n_leaves = len(names)

            def loss_fn(*flat: torch.Tensor) -> tuple[torch.Tensor, tuple[str, ...]]:
                new_args, new_kwargs = with_tensor_inputs(args, kwargs, flat[n_leaves:])
                loss, _, run_names = eager(model, guide, new_args, new_kwargs)
                return loss, tuple(run_names)

            inputs = (*leaves.values(), *tensor_inputs(args, kwargs))
            with torch.random.fork_rng(devices=cuda_devices(inputs)):
                return self._build(loss_fn, inputs)  # a tracing run must not use up draws

        def call(graph: Graph, leaves: dict[str, torch.Tensor]) -> Any:
            loss, run_names = graph(*leaves.values(), *tensor_inputs(args, kwargs))
            names = tuple(leaves) if run_names is None else run_names
            return loss, [], dict.fromkeys(names)

        def replay() -> None:
            eager(model, guide, args, kwargs)

        key = layout_key(model, guide, args, kwargs)
        return self._graphs.run(key, run_eager, build, call, replay)

    @property
    def last_snapshot(self) -> Any:
        """The RNG state before the last compiled call (None if it ran eagerly)."""
        return self._graphs.last_snapshot


class _TorchScriptTracing(CompilingELBOMixin):
    """``_build`` by ``torch.jit.trace`` (Pyro's ``JitTrace_*`` behaviour)."""

    ignore_jit_warnings: bool
    jit_options: dict[str, Any] | None

    def _loss_from_traces(self, traces: list[tuple[Trace, Trace]]) -> torch.Tensor:
        # ppl's estimator arithmetic compares traced sizes: constants of this layout
        with quiet_tracer():
            return super()._loss_from_traces(traces)  # type: ignore[misc]

    def _build(self, loss_fn: LossFn, inputs: tuple[torch.Tensor, ...]) -> Graph:
        def loss_only(*flat: torch.Tensor) -> torch.Tensor:
            return loss_fn(*flat)[0]

        # validation ran in the eager first call; as in Pyro, the tracing run skips it
        # (its checks read tensors on the host, which a trace cannot record)
        with warnings.catch_warnings(), settings.validation_enabled(False):
            if self.ignore_jit_warnings:
                warnings.simplefilter("ignore")
            traced = torch.jit.trace(
                loss_only, inputs, check_trace=False, **(self.jit_options or {})
            )

        def run(*flat: torch.Tensor) -> tuple[torch.Tensor, None]:
            return traced(*flat), None  # the param set is frozen at trace time

        return run


class _TorchCompile(CompilingELBOMixin):
    """``_build`` by ``torch.compile`` over the whole eager estimator."""

    def __init__(
        self,
        *args: Any,
        backend: str | Callable[..., Any] = "inductor",
        mode: str | None = None,
        fullgraph: bool = False,
        compile_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.backend = backend
        self.mode = mode
        self.fullgraph = fullgraph
        self.compile_options = inductor_options(backend, mode, compile_options)

    def _build(self, loss_fn: LossFn, inputs: tuple[torch.Tensor, ...]) -> Graph:
        # The leaves in ``inputs`` are also read from the ParamStore inside the graph;
        # dynamo lifts them as inputs either way. A fresh code object per layout gives
        # each compiled estimator its own dynamo cache, so many models in one process
        # never exhaust the recompile limit.
        def checked_loss_fn(
            *flat: torch.Tensor,
        ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[str, ...]]:
            outer = settings._DEFERRED_CHECKS
            checks = settings.start_deferring()
            try:
                loss, names = loss_fn(*flat)
            finally:
                settings.stop_deferring(outer)
            return loss, all_of(checks), names

        fresh = types.FunctionType(
            checked_loss_fn.__code__.replace(),
            checked_loss_fn.__globals__,
            checked_loss_fn.__name__,
            checked_loss_fn.__defaults__,
            checked_loss_fn.__closure__,
        )
        compiled = torch.compile(
            fresh,
            backend=self.backend,
            mode=self.mode,
            fullgraph=self.fullgraph,
            dynamic=False,
            options=self.compile_options,
        )
        no_cse = without_cse()

        def run(*flat: torch.Tensor) -> tuple[torch.Tensor, tuple[str, ...]]:
            with no_cse:
                loss, ok, names = compiled(*flat)
            if ok is not None and not bool(ok):  # one host read for all checks
                raise ValidationFailed
            return loss, names

        return run


def is_compiling_elbo(elbo: Any) -> bool:
    """Whether ``elbo`` evaluates through compiled graphs (a ``jit``/``compiled`` variant)."""
    return isinstance(elbo, CompilingELBOMixin)


def eager_evaluate(elbo: ELBO) -> Callable[..., Any]:
    """``elbo._evaluate`` without a compiling mixin (a joint trace replaces it)."""
    if isinstance(elbo, CompilingELBOMixin):
        return super(CompilingELBOMixin, elbo)._evaluate  # type: ignore[misc]
    return elbo._evaluate


def _variant(mixin: type, prefix: str, elbo_cls: type[ELBO], doc: str, module: str | None) -> Any:
    name = f"{prefix}{elbo_cls.__name__}"
    namespace = {"__doc__": doc, "__module__": module or elbo_cls.__module__, "__qualname__": name}
    return type(name, (mixin, elbo_cls), namespace)


def jit_variant(elbo_cls: type[ELBO], module: str | None = None) -> Any:
    """The ``torch.jit.trace`` variant of an eager ELBO class (Pyro's ``Jit*`` estimators).

    The first call for a (model, guide, argument layout) runs eagerly, the second traces
    ``differentiable_loss`` as a function of the touched params' unconstrained leaves and
    the tensor arguments, later calls run the traced graph. Non-tensor arguments are
    constants of the graph (a new value traces anew); Python control flow on sampled
    values and the param set are frozen at trace time, as in Pyro. The tracing run's
    draws are undone, so a seeded run draws what the eager ELBO draws.
    ``ignore_jit_warnings=True`` silences the tracer, ``jit_options`` go to
    ``torch.jit.trace``.

    Args:
        elbo_cls: the eager estimator class.
        module: the ``__module__`` the new class reports (where it is defined, for pickle).

    Example:
        >>> from ppl.infer.trace_elbo import Trace_ELBO
        >>> jit_variant(Trace_ELBO).__name__
        'JitTrace_ELBO'
    """
    doc = (
        f"``{elbo_cls.__name__}`` compiled by ``torch.jit.trace``: same values, draw for "
        "draw (see :func:`ppl.infer.compile.jit_variant`)."
    )
    return _variant(_TorchScriptTracing, "Jit", elbo_cls, doc, module)


def compiled_variant(elbo_cls: type[ELBO], module: str | None = None) -> Any:
    """The ``torch.compile`` variant of an eager ELBO class (``Compiled*`` estimators).

    Same estimator and, with the default inductor back end, the same draws as the eager
    class for the same seed (values agree to floating-point rounding). Extra keyword
    arguments: ``backend``, ``mode``, ``fullgraph``, ``compile_options``.

    Example:
        >>> from ppl.infer.trace_elbo import Trace_ELBO
        >>> compiled_variant(Trace_ELBO)(backend="aot_eager").backend
        'aot_eager'
    """
    doc = (
        f"``{elbo_cls.__name__}`` compiled by ``torch.compile`` (see "
        ":func:`ppl.infer.compile.compiled_variant`)."
    )
    return _variant(_TorchCompile, "Compiled", elbo_cls, doc, module)


class CompiledELBOStep(EagerStep):
    """The step estimator of a compiled ELBO: replays a bad compiled step to explain it.

    Example:
        >>> from ppl.infer.compile import JitTrace_ELBO
        >>> CompiledELBOStep(JitTrace_ELBO()).elbo.num_particles
        1
    """

    def step_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> StepLoss:
        out = self.elbo.step_loss(model, guide, args, kwargs)
        self._snapshot = None if out.traces else self.elbo.last_snapshot
        return out

    def explain(
        self,
        out: StepLoss,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
    ) -> StepLoss:
        snapshot = getattr(self, "_snapshot", None)
        return replay_traces(out, snapshot, eager_evaluate(self.elbo), model, guide, args, kwargs)


def replay_traces(
    out: StepLoss,
    snapshot: Any,
    evaluate: Callable[..., Any],
    model: Callable[..., Any],
    guide: Callable[..., Any],
    args: tuple,
    kwargs: dict,
) -> StepLoss:
    """``out`` with the traces of an eager replay of its call under ``snapshot``."""
    import dataclasses

    if out.traces or snapshot is None:
        return out
    try:
        with snapshot.replay(), torch.no_grad():
            traces = evaluate(model, guide, args, kwargs)[1]
    except ValueError:
        raise  # validation named the bad site: that is the error eager mode gives
    except Exception:  # noqa: BLE001  (a replay failing only loses the site names)
        traces = []
    return dataclasses.replace(out, traces=traces)
