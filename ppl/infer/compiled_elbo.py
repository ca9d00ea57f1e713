"""Compiled ELBO estimators: ``JitTrace_ELBO`` (``torch.jit.trace``) and
``CompiledTrace_ELBO`` (``torch.compile``).

Design notes
------------
Both wrap an eager estimator (``Trace_ELBO`` or ``TraceMeanField_ELBO``) and share
one life cycle, owned by :class:`CompilingELBOMixin`:

1. The first call for a *layout* (model, guide, the shapes/dtypes/devices of the
   tensor arguments and the values of the others) runs eagerly: params are created,
   validation runs, and the call returns the eager traces.
2. The estimator is then compiled for that layout by the subclass's ``_build``.
   Later calls with the same layout run the compiled function; they keep no traces,
   so a non-finite loss is reported without site names.
3. If building or the first compiled call fails, the layout falls back to eager
   mode for good, with one ``RuntimeWarning`` naming the error.

The two back ends differ in what they freeze:

* ``JitTrace_ELBO`` (Pyro's name) records one run as a TorchScript graph of ops:
  Python control flow, the set of params and validation checks are frozen at trace
  time, and sampling ops are replayed from the global generator, so a seeded run
  draws the same values as ``Trace_ELBO``.
* ``CompiledTrace_ELBO`` hands the whole estimator (model, guide, handlers, ELBO
  arithmetic) to ``torch.compile``. Dynamo guards on the Python state it read (the
  ParamStore entries, the validation flag, non-tensor arguments), so a change
  recompiles instead of silently reusing a stale graph, and a Python construct it
  cannot trace becomes a graph break rather than an error. Inductor fuses the
  forward and backward passes into a few kernels, which removes most of the
  per-op overhead that dominates small models. Random ops are left to ATen
  (``fallback_random=True``), so a seeded run draws the same values as
  ``Trace_ELBO`` and checkpoints that store the global RNG state resume exactly.
  The first compiled call takes seconds (code generation, cached on disk by torch
  afterwards); it pays off over thousands of steps.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.clear_param_store()
    >>> model = lambda: ppl.sample("z", dist.Normal(0.0, 1.0))
    >>> guide = lambda: ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(1.0)), 1.0))
    >>> elbo = JitTrace_ELBO(num_particles=4000, vectorize_particles=True, ignore_jit_warnings=True)
    >>> [round(elbo.loss(model, guide), 1) for _ in range(2)]  # eager, then compiled
    [0.5, 0.5]
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from .. import settings
from ..poutine.trace_struct import Trace
from ..rng import RngSnapshot
from .elbo import StepLoss
from .trace_elbo import Trace_ELBO
from .trace_mean_field_elbo import TraceMeanField_ELBO
from .util import unconstrained_params

__all__ = [
    "CompiledTraceMeanField_ELBO",
    "CompiledTrace_ELBO",
    "CompilingELBOMixin",
    "JitTraceMeanField_ELBO",
    "JitTrace_ELBO",
]

LossFn = Callable[..., tuple[torch.Tensor, tuple[str, ...]]]  # -> (loss, param names)
# -> (loss, param names the run touched, or None when the back end cannot tell)
CompiledFn = Callable[..., tuple[torch.Tensor, "tuple[str, ...] | None"]]


class _Compiled(NamedTuple):
    names: tuple[str, ...]  # the params the compiled layout reads, in order
    fn: CompiledFn  # (*unconstrained leaves, *tensor arguments) -> (loss, param names)
    checked: list[bool]  # [True] once the first compiled call succeeded


class CompilingELBOMixin:
    """Compile-once-per-layout machinery shared by the compiled estimators.

    Mix in before an eager ELBO class; subclasses implement :meth:`_build`, which
    turns ``loss_fn(*leaves, *tensor_args) -> loss`` into a compiled callable (or
    raises, which means "stay eager").
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiled: dict[Any, _Compiled | None] = {}
        self._snapshot: RngSnapshot | None = None  # before the last compiled call

    def step_loss(self, *args: Any, **kwargs: Any) -> StepLoss:
        """As the eager ``step_loss``; a compiled call's result carries the RNG snapshot
        taken before it, so ``SVI`` can replay a non-finite step to name its sites."""
        self._snapshot = None
        out = super().step_loss(*args, **kwargs)  # type: ignore[misc]
        return out if out.traces else out._replace(snapshot=self._snapshot)

    def _build(self, loss_fn: LossFn, inputs: tuple[torch.Tensor, ...]) -> CompiledFn:
        raise NotImplementedError

    def _evaluate(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, list[tuple[Trace, Trace]], dict[str, None]]:
        eager = super()._evaluate  # type: ignore[misc]
        key = _layout_key(model, guide, args, kwargs)
        if key is None:
            return eager(model, guide, args, kwargs)
        if key not in self._compiled:
            loss, traces, names = eager(model, guide, args, kwargs)
            self._compiled[key] = self._compile(eager, model, guide, args, kwargs, names)
            return loss, traces, names
        compiled = self._compiled[key]
        if compiled is None:  # compiling failed once: stay eager
            return eager(model, guide, args, kwargs)
        leaves = unconstrained_params(compiled.names)
        if len(leaves) != len(compiled.names):
            del self._compiled[key]  # a param was deleted: recompile next time
            return eager(model, guide, args, kwargs)
        inputs = (*leaves.values(), *_tensor_inputs(args, kwargs))
        snapshot = self._snapshot = RngSnapshot.take()  # to replay this call eagerly
        try:
            loss, run_names = compiled.fn(*inputs)
        except ValidationFailed:
            # a deferred check failed: the eager replay raises the error naming the site
            replay_eagerly(snapshot, eager, model, guide, args, kwargs)
            raise ValueError(
                "a validation check failed inside the compiled estimator, but not when the "
                "call was replayed eagerly; run Trace_ELBO to find the site"
            ) from None
        except Exception as e:
            if compiled.checked[0]:
                # e.g. a kernel's index check on data that validation would have refused
                replay_eagerly(snapshot, eager, model, guide, args, kwargs)
                raise
            self._compiled[key] = None  # the first compiled call failed: run eagerly
            self._warn_fallback(e)
            return eager(model, guide, args, kwargs)
        compiled.checked[0] = True
        names = compiled.names if run_names is None else run_names
        return loss, [], dict.fromkeys(names)

    def _compile(
        self,
        eager: Callable[..., Any],
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        names: dict[str, None],
    ) -> _Compiled | None:
        leaves = unconstrained_params(names)
        n_leaves = len(leaves)

        def loss_fn(*flat: torch.Tensor) -> tuple[torch.Tensor, tuple[str, ...]]:
            new_args, new_kwargs = _with_tensor_inputs(args, kwargs, flat[n_leaves:])
            loss, _, run_names = eager(model, guide, new_args, new_kwargs)
            return loss, tuple(run_names)

        inputs = (*leaves.values(), *_tensor_inputs(args, kwargs))
        cuda = sorted({t.device.index or 0 for t in inputs if t.is_cuda})
        try:
            with torch.random.fork_rng(devices=cuda):  # a tracing run must not use up draws
                fn = self._build(loss_fn, inputs)
        except Exception as e:  # noqa: BLE001
            self._warn_fallback(e)
            return None
        return _Compiled(tuple(leaves), fn, [False])

    def _warn_fallback(self, error: Exception) -> None:
        warn_compile_fallback(type(self).__name__, error, "the eager estimator")


class _TorchScriptTracing(CompilingELBOMixin):
    """``_build`` by ``torch.jit.trace`` (Pyro's ``JitTrace_*`` behaviour)."""

    ignore_jit_warnings: bool
    jit_options: dict[str, Any] | None

    def _build(self, loss_fn: LossFn, inputs: tuple[torch.Tensor, ...]) -> CompiledFn:
        def loss_only(*flat: torch.Tensor) -> torch.Tensor:
            return loss_fn(*flat)[0]

        with warnings.catch_warnings():
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

    def _build(self, loss_fn: LossFn, inputs: tuple[torch.Tensor, ...]) -> CompiledFn:
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
            return loss, _all_of(checks), names

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
        # Without this, AOTAutograd's common-subexpression pass merges two calls of the
        # Dirichlet sampler's autograd function with equal arguments into one draw.
        no_cse = _without_cse()

        def run(*inputs: torch.Tensor) -> tuple[torch.Tensor, tuple[str, ...]]:
            with no_cse:
                loss, ok, names = compiled(*inputs)
            if ok is not None and not bool(ok):  # one host read for all checks
                raise ValidationFailed
            return loss, names

        return run


def _without_cse() -> Any:
    """A context manager turning AOTAutograd's CSE pass off (a no-op if torch has none)."""
    import contextlib

    config = getattr(torch._functorch, "config", None)
    if config is None or not hasattr(config, "cse"):
        return contextlib.nullcontext()
    return config.patch(cse=False)


def replay_eagerly(
    snapshot: RngSnapshot,
    eager: Callable[..., Any],
    model: Callable[..., Any],
    guide: Callable[..., Any],
    args: tuple,
    kwargs: dict,
) -> None:
    """Rerun a failed compiled call eagerly with the same draws (validation raises)."""
    with snapshot.replay(), torch.no_grad():
        eager(model, guide, args, kwargs)


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
        stacklevel=5,
    )


class JitTrace_ELBO(_TorchScriptTracing, Trace_ELBO):
    """``Trace_ELBO`` compiled by ``torch.jit.trace``; same values, draw for draw.

    The first call for a (model, guide, argument layout) runs eagerly (creating the
    params) and then traces ``differentiable_loss`` as a function of the touched
    params' unconstrained leaves and the tensor arguments; later calls run the
    traced graph. Non-tensor arguments (``None``, ints, strings) are constants of
    the graph: a new value compiles a new graph. Python control flow on sampled
    values, or param sets that change between calls, are frozen at trace time, as
    with Pyro's ``JitTrace_ELBO``; :class:`CompiledTrace_ELBO` guards the Python state
    it reads and recompiles instead. The tracing run's draws are undone, so a seeded
    run draws what ``Trace_ELBO`` draws.

    Args: as :class:`~ppl.infer.trace_elbo.Trace_ELBO`; ``ignore_jit_warnings=True``
    silences torch's tracer warnings, ``jit_options`` is passed to ``torch.jit.trace``.

    Example:
        >>> elbo = JitTrace_ELBO(ignore_jit_warnings=True)
    """


class JitTraceMeanField_ELBO(_TorchScriptTracing, TraceMeanField_ELBO):
    """``TraceMeanField_ELBO`` compiled by ``torch.jit.trace`` (Pyro's name).

    Example:
        >>> elbo = JitTraceMeanField_ELBO(ignore_jit_warnings=True)
    """


class CompiledTrace_ELBO(_TorchCompile, Trace_ELBO):
    """``Trace_ELBO`` compiled by ``torch.compile``: the fast path for small models.

    Same estimator and, with the default inductor back end, the same draws as
    :class:`~ppl.infer.trace_elbo.Trace_ELBO` for the same seed (values agree to
    floating-point rounding). The first call runs eagerly, the second compiles
    (seconds), every later one runs fused kernels. Validation checks
    (``ppl.enable_validation``) are collected inside the graph and read once per call,
    so they cost almost nothing; a failed check replays the call eagerly with the same
    draws, which raises the usual error naming the site. Params first used in a later
    call (a guard on the ParamStore recompiles) get their gradients like in eager mode.

    Args: as :class:`~ppl.infer.trace_elbo.Trace_ELBO`, plus
        backend: ``torch.compile`` back end (``"inductor"``, ``"aot_eager"``, ...).
        mode: ``torch.compile`` mode (e.g. ``"reduce-overhead"`` on CUDA).
        fullgraph: raise on a graph break instead of splitting the graph.
        compile_options: inductor options (``fallback_random`` defaults to True).

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> from ppl.infer import SVI
        >>> from ppl.optim import Adam
        >>> svi = SVI(lambda: None, lambda: None, Adam({"lr": 0.1}), CompiledTrace_ELBO())
    """


class CompiledTraceMeanField_ELBO(_TorchCompile, TraceMeanField_ELBO):
    """``TraceMeanField_ELBO`` compiled by ``torch.compile`` (see :class:`CompiledTrace_ELBO`).

    Example:
        >>> elbo = CompiledTraceMeanField_ELBO(backend="aot_eager")
    """


class ValidationFailed(Exception):
    """A validation check deferred inside a compiled graph failed (internal signal)."""


def _all_of(checks: list[torch.Tensor]) -> torch.Tensor | None:
    """The conjunction of deferred validation verdicts (None when there were none)."""
    if not checks:
        return None
    ok = checks[0]
    for more in checks[1:]:
        ok = ok & more.to(ok.device)
    return ok


def _layout_key(model: Any, guide: Any, args: tuple, kwargs: dict) -> tuple | None:
    """A hashable key of what a compiled graph depends on, or None if not compilable."""
    parts: list[Any] = [id(model), id(guide)]
    for value in (*args, *(kwargs[k] for k in sorted(kwargs))):
        if isinstance(value, torch.Tensor):
            parts.append(("T", tuple(value.shape), value.dtype, value.device))
        elif isinstance(value, (tuple, list, dict, set, frozenset)):
            return None  # containers (of tensors, perhaps) are not inputs of the graph
        else:
            try:
                hash(value)
            except TypeError:
                return None
            parts.append(("C", type(value), value))
    parts.append(tuple(sorted(kwargs)))
    return tuple(parts)


def _tensor_inputs(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    values = (*args, *(kwargs[k] for k in sorted(kwargs)))
    return [v for v in values if isinstance(v, torch.Tensor)]


def _with_tensor_inputs(args: tuple, kwargs: dict, tensors: tuple) -> tuple[tuple, dict]:
    it = iter(tensors)
    new_args = tuple(next(it) if isinstance(a, torch.Tensor) else a for a in args)
    new_kwargs = {}
    for k in sorted(kwargs):
        v = kwargs[k]
        new_kwargs[k] = next(it) if isinstance(v, torch.Tensor) else v
    return new_args, new_kwargs
