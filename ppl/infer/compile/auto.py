"""``AutoStep``: compile an SVI run automatically when it pays off and is safe.

What ``SVI(..., compile="auto")`` (the default) runs each step.

Design notes
------------
**When.** Compiling a step costs seconds (inductor: about 3 s with a warm cache, 20 s or
more cold), so it pays off only for long runs. A run announces its length (``SVI.run``,
``fit``: :meth:`AutoStep.plan`); its first step runs eagerly (it may create params), the
next ``probe_steps`` are timed, and if the rest of the run would take at least
``min_seconds`` eagerly (default 15 s; the ``auto_compile_seconds`` setting of
:mod:`ppl.settings`) *and* at least as long as compiling would take, the run switches to
:class:`~ppl.infer.compile.step.CompiledStep` for good. Compiling costs about the time
of 2,400 to 5,000 eager steps of the same model, small or large (measured with inductor:
the coin flip about 5 s for ~1 ms steps, a 3-component mixture 6 s for 2.5 ms steps, a
3-state HMM of 200 markov steps 358 s for 152 ms steps, since its unrolled graph grows
with the chain), so a run compiles only if its remaining eager time also exceeds that of
``auto_compile_cost_steps`` (default 3,000) eager steps: a long chain is not stalled for
minutes by a compile that a short run never pays back. Single ``SVI.step`` calls
announce nothing and stay eager. The decision (the step it was taken at, the mode, the
reason) is part of ``state_dict``, so a run resumed from a checkpoint taken after it
continues in the same mode from its first step (the graph is built at once, without an
eager step first), and is bit-exact with the uninterrupted run.

**Safe.** The compiled step must give the answer the eager step gives: the same
random draws and losses and gradients to rounding (inductor may reorder reductions;
draws stay in ATen). A trace freezes what is not a graph input, so the automatic mode
keeps a run eager, silently, and records why in ``reason``, when

* the model or guide branches on a tensor value (the trace cannot read it: it fails);
* the graph reads a tensor that is not a scalar and is neither an argument nor a param
  (data from a closure, a global or a module buffer would be frozen at its traced
  value); pass such data as an argument instead (tensors the step makes from Python
  data, ``torch.tensor([...])``, are allowed: the audits catch ones made from numpy
  or Python randomness);
* the params the traced run touched differ from the eager run's twice in a row;
* a value the model or guide reads from its closure cells or module globals (numbers,
  strings, tensors by identity and in-place version) changes after the trace;
* an **audit** disagrees: the 1st, 2nd, 4th, 8th, ... compiled step is replayed
  eagerly under the same random state and loss and gradients compared (relative
  tolerance ``1e-4`` on the loss, ``1e-3`` on each gradient's norm). On a mismatch
  that step keeps the eager result, the run stays eager, and a ``RuntimeWarning``
  says so. Audits draw no random numbers of the run, so they change nothing when
  they agree.

**K steps per call.** Once a run compiles, ``SVI.run`` without callbacks takes its
steps ``steps_per_call`` at a time (``AUTO_STEPS_PER_CALL`` = 16; the loss, gradients
and the Adam/SGD update in one graph, :class:`~ppl.infer.compile.multistep.StepsPerCall`,
one host read per call) whenever that applies: a plain ``ppl.optim`` Adam or SGD
without clipping, and a graph the checks above accept. The graph holds *one* step and
a call runs it ``min(16, steps left)`` times, so every compiled step of a run runs the
same kernels wherever a call starts: a run resumed from a checkpoint (which records K
and the calls taken) is bit-exact with the uninterrupted one. The audits replay the
1st and 2nd call's steps eagerly (same draws, same update formula) and compare the
losses and the final params and optimizer state; the 4th, 8th, 16th, ... call's first
step is replayed and its loss compared (a full replay doubles a call's cost, which on a
compute-bound model showed over a short run). A step a call could not take (one
redone after a non-finite step of the call) runs eagerly, so no second graph is built;
with callbacks, or an optimizer the graph does not cover, compiled steps run one per
call as above. ``{"auto": True, "steps_per_call": 1}`` turns K-step calls off.

Compiled steps use the same optimizer kernels as eager ones (``SVI(compile=True)``
additionally prefers fused kernels), so the two modes differ only by rounding.

Example:
    >>> from ppl.infer.trace_elbo import Trace_ELBO
    >>> step = AutoStep(Trace_ELBO())
    >>> step.mode, step.reason
    ('eager', 'no run announced its length yet')
"""

from __future__ import annotations

import math
import time
import types
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch

from ... import settings
from ..elbo import ELBO
from ..step import EagerStep, StepLoss
from ..util import unconstrained_params
from .elbo import eager_evaluate
from .multistep import StepsPerCall
from .step import CompiledStep, CompiledStepLoss

__all__ = ["AutoStep", "frozen_inputs", "frozen_reads", "graph_constants_reason"]

_EAGER, _COMPILED, _REFUSED = "eager", "compiled", "refused"
_LOSS_RTOL, _GRAD_RTOL = 1e-4, 1e-3

#: steps per compiled call once an automatic run compiles (see the notes)
AUTO_STEPS_PER_CALL = 16


def graph_constants_reason(graph: Any) -> str | None:
    """Why a traced step graph must not replace eager steps, judged by its constants.

    A tensor constant with more than one element is data the step did not receive as
    an argument or a param (a closure, a global, a module buffer, numpy-made indices):
    compiled, it would keep its traced value.

    Example:
        >>> from torch.fx.experimental.proxy_tensor import make_fx
        >>> data = torch.ones(3)
        >>> graph_constants_reason(make_fx(lambda x: x * data)(torch.ones(3)))[:37]
        'the step reads a tensor of shape (3,)'
    """
    fresh = torch.ops.aten.lift_fresh_copy.default
    for node in graph.graph.nodes:
        if node.op != "get_attr":
            continue
        value = getattr(graph, str(node.target), None)
        if not isinstance(value, torch.Tensor) or value.numel() <= 1:
            continue
        if node.users and all(user.target is fresh for user in node.users):
            continue  # ``torch.tensor(python data)`` made inside the step (audits check it)
        return (
            f"the step reads a tensor of shape {tuple(value.shape)} that is neither an "
            "argument nor a param (a closure, a global or a module buffer); compiled, "
            "it would keep its traced value (pass it to run/step as an argument to let "
            "the run compile)"
        )
    return None


def _functions(fn: Any) -> list[types.FunctionType]:
    """The plain functions behind a model or guide (methods, partials), if any."""
    out: list[types.FunctionType] = []
    seen: set[int] = set()
    todo = [fn]
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if isinstance(f, types.MethodType):
            todo.append(f.__func__)
        elif isinstance(f, types.FunctionType):
            out.append(f)
        elif hasattr(f, "func") and callable(f.func):  # functools.partial
            todo.append(f.func)
    return out


def _fingerprint(value: Any) -> Any:
    """What must stay equal for a frozen read of ``value`` to stay right."""
    if isinstance(value, torch.Tensor):
        return ("tensor", id(value), value._version)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return ("value", value)
    return ("object", id(value))


_Read = tuple[str, Callable[[], Any]]  # (label, read the current value)
_EMPTY = object()


def frozen_reads(model: Any, guide: Any) -> list[_Read]:
    """The values ``model`` and ``guide`` read from closure cells and module globals
    (not callables or modules), as ``(label, getter)`` pairs: a trace freezes those
    reads. Found once from the code objects; the getters read the current values."""
    reads: list[_Read] = []
    for fn in _functions(model) + _functions(guide):
        code = fn.__code__
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            reads.append((f"{fn.__name__}.{name}", partial(_cell_value, cell)))
        namespace = fn.__globals__
        for name in code.co_names:
            if name in namespace and not isinstance(namespace[name], types.ModuleType):
                reads.append((f"{fn.__name__}.{name}", partial(namespace.get, name, _EMPTY)))
    return reads


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return _EMPTY


def frozen_inputs(model: Any, guide: Any, reads: list[_Read] | None = None) -> dict[str, Any]:
    """Fingerprints of the data values ``model`` and ``guide`` read from closure cells
    and module globals (:func:`frozen_reads`): a change means a traced graph is stale.

    Example:
        >>> scale = 2.0
        >>> def model(): return scale
        >>> frozen_inputs(model, model)["model.scale"]
        ('value', 2.0)
    """
    out: dict[str, Any] = {}
    for label, read in frozen_reads(model, guide) if reads is None else reads:
        value = read()
        if value is not _EMPTY and (not callable(value) or isinstance(value, torch.Tensor)):
            out[label] = _fingerprint(value)
    return out


class AutoStep:
    """Eager steps that turn into compiled ones for long, static runs (see the notes).

    Args:
        elbo: any ppl ELBO (not a compiling one).
        min_seconds: compile when the rest of a run is predicted to take at least this
            long eagerly (None: the ``auto_compile_seconds`` setting, default 15).
        probe_steps: eager steps timed before deciding.
        steps_per_call: K of a compiled run's K-step calls (1: one step per call).
        **compile_options: passed to :class:`~ppl.infer.compile.step.CompiledStep`.

    Attributes:
        mode: ``"eager"`` (undecided or a short run), ``"compiled"`` or ``"refused"``.
        reason: why the current mode was chosen.
        since: the step (1-based count of this estimator's steps) compiled steps began.
        chunk_calls: K-step calls taken (their steps count in ``compiled_steps``).
    """

    def __init__(
        self,
        elbo: ELBO,
        min_seconds: float | None = None,
        probe_steps: int = 5,
        steps_per_call: int = AUTO_STEPS_PER_CALL,
        **compile_options: Any,
    ) -> None:
        self.elbo = elbo
        self.min_seconds = min_seconds
        self.probe_steps = probe_steps
        self.eager = EagerStep(elbo)
        self.compiled = CompiledStep(
            elbo, guard=graph_constants_reason, quiet=True, **compile_options
        )
        #: the K-step calls of compiled runs (None: ``steps_per_call=1``, one step a call)
        self.chunks = self._new_chunks(steps_per_call)
        self.chunk_calls = 0  # K-step calls taken (audits count them)
        self._chunks_off = False  # K-step calls failed for this run: one step a call
        self._eager_next = False  # the next ordinary step is one of a K-step run's: eager
        self._created = False  # a resumed run: create the optimizer from its state
        self.mode = _EAGER
        self.reason = "no run announced its length yet"
        self.since: int | None = None
        self.steps = 0  # steps taken through this estimator
        self.compiled_steps = 0  # of which ran the compiled graph (audits count them)
        self._horizon: int | None = None  # steps left in the announced run
        self._times: list[float] = []
        self._frozen: dict[str, Any] | None = None
        self._reads: list[_Read] | None = None  # what the trace froze, found once
        self._names: tuple[str, ...] = ()  # params of the compiled layout
        self._prime = False  # build at the next step, without an eager one first
        self._retraces = 0

    # ------------------------------------------------------------------ the run
    def plan(self, num_steps: int) -> None:
        """A run of ``num_steps`` steps starts: time a few, then decide."""
        if self.mode == _EAGER:
            self._horizon = int(num_steps)
            self._times = []

    def _new_chunks(self, k: int) -> StepsPerCall | None:
        if type(k) is int and k == 1:
            return None
        # one step per graph (unroll 1): a call of any length runs the same kernels, so
        # where a run's calls start (a resume) does not change a bit of the result
        return StepsPerCall(
            self.elbo,
            k,
            self.compiled.layout,
            self.compiled.backend,
            self.compiled.options,
            quiet=True,
            unroll=1,
            guard=graph_constants_reason,
            cache_transposes=self.compiled.cache_transposes,
        )

    @property
    def steps_per_call(self) -> _AutoChunks:
        """``SVI.run``'s hook for K steps per call (they run only in compiled mode)."""
        return _AutoChunks(self)

    # ------------------------------------------------------------------ StepEstimator
    def step_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> StepLoss:
        self.steps += 1
        if self.mode == _COMPILED and self._eager_next:
            self._eager_next = False  # a step a K-step call could not take: eager, as
            return self.eager.step_loss(model, guide, args, kwargs)  # (no second graph)
        if self.mode == _COMPILED:
            return self._compiled_step(model, guide, args, kwargs)
        start = time.perf_counter()
        out = self.eager.step_loss(model, guide, args, kwargs)
        self._names = tuple(out.param_names)
        if self.mode == _EAGER and self._horizon is not None:
            self._probe(time.perf_counter() - start)
        return out

    def verdict(self, out: StepLoss, params: Mapping[str, torch.Tensor]) -> tuple[float, bool]:
        return self.compiled.verdict(out, params)

    def explain(
        self,
        out: StepLoss,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
    ) -> StepLoss:
        return self.compiled.explain(out, model, guide, args, kwargs)

    # ------------------------------------------------------------------ deciding
    def _probe(self, seconds: float) -> None:
        assert self._horizon is not None
        self._horizon -= 1
        self._times.append(seconds)
        if len(self._times) <= self.probe_steps:  # the first one (param creation) is dropped
            return
        per_step = sorted(self._times[1:])[len(self._times[1:]) // 2]
        predicted = per_step * self._horizon
        limit = (
            self.min_seconds
            if self.min_seconds is not None
            else float(settings.get("auto_compile_seconds"))
        )
        # compiling costs about the time of COST_STEPS eager steps, whatever the model
        limit = max(limit, per_step * int(settings.get("auto_compile_cost_steps")))
        if predicted >= limit:
            self.mode, self.since = _COMPILED, self.steps + 1
            self._prime = True  # build the graph at the first compiled step
            self.reason = (
                f"compiled from step {self.since}: the remaining {self._horizon} steps "
                f"would take {predicted:.1f} s eagerly (>= {limit:g} s)"
            )
        else:
            self.reason = (
                f"eager: the remaining {self._horizon} steps take {predicted:.1f} s eagerly "
                f"(< {limit:g} s, not worth compiling)"
            )
        self._horizon = None

    def _refuse(self, why: str) -> None:
        self.mode, self.reason = _REFUSED, f"eager: {why}"

    # ------------------------------------------------------------------ K-step calls
    def take(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        optim: Any,
        names: Any,
        args: tuple,
        kwargs: dict,
        remaining: int,
    ) -> list[float] | None:
        """K steps in one call once compiled (:class:`StepsPerCall`), else None (the
        caller takes an ordinary step)."""
        self._eager_next = False
        if self.mode != _COMPILED or self.chunks is None or self._chunks_off:
            return None
        frozen = self._unchanged_reads(model, guide)
        if frozen is None:
            return None
        calls = self.chunk_calls + 1
        losses = self.chunks.take(
            model,
            guide,
            optim,
            names,
            args,
            kwargs,
            remaining,
            # calls 1 and 2 replay all their steps, calls 4, 8, 16, ... their first one
            audit=(self.chunks.k if calls <= 2 else 1) if calls & (calls - 1) == 0 else 0,
            create_optimizer=self._created,
        )
        if losses is None:
            if self.chunks.built:
                self._eager_next = True  # a redo after a non-finite step
            elif self.chunks.failure is not None:
                self._chunks_off = True  # no K-step graph: compiled steps, one a call
            return None
        self._created = False
        self._frozen = frozen
        self.chunk_calls = calls
        self.steps += len(losses)
        self.compiled_steps += len(losses)
        mismatch = self.chunks.mismatch
        if mismatch is not None:
            self._refuse(
                f"compiled steps {self.steps - len(losses) + 1}-{self.steps} "
                f"differed from eager ({mismatch})"
            )
            self._warn_mismatch(self.steps, mismatch)
        return losses

    def _unchanged_reads(
        self, model: Callable[..., Any], guide: Callable[..., Any]
    ) -> dict[str, Any] | None:
        """The closure/global values the step reads now; None (and the run refused) if one
        changed since the trace."""
        if self._reads is None:
            self._reads = frozen_reads(model, guide)
        frozen = frozen_inputs(model, guide, self._reads)
        if self._frozen is None or frozen == self._frozen:
            return frozen
        old = self._frozen
        changed = sorted(k for k in frozen.keys() | old.keys() if frozen.get(k) != old.get(k))
        self._refuse(f"{', '.join(changed)} changed after the step was traced")
        return None

    @staticmethod
    def _warn_mismatch(step: int, mismatch: str) -> None:
        warnings.warn(
            f"SVI: the automatically compiled step {step} differed from the eager step "
            f"({mismatch}); the model or guide reads something the trace froze (Python state, "
            "a value changed between steps). This step keeps the eager result and the run "
            "continues eagerly; pass compile=False to skip compiling.",
            RuntimeWarning,
            stacklevel=5,
        )

    # ------------------------------------------------------------------ compiled steps
    def _compiled_step(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> StepLoss:
        frozen = self._unchanged_reads(model, guide)
        if frozen is None:
            return self.eager.step_loss(model, guide, args, kwargs)
        if self._prime:
            self._prime = False
            self.compiled.graphs.expect(
                self.compiled.layout(model, guide, args, kwargs), self._names
            )
        out = self.compiled.step_loss(model, guide, args, kwargs)
        if not isinstance(out, CompiledStepLoss):  # the graph was refused, failed or retraced
            self._names = tuple(out.param_names)
            if self.compiled.failure is not None:
                self._refuse(self.compiled.failure)
            else:
                self._retraces += 1
                if self._retraces >= 2:
                    self._refuse("the traced steps touched other params than the eager ones")
            return out
        self._frozen = frozen
        self.compiled_steps += 1
        if self.compiled_steps & (self.compiled_steps - 1) == 0:  # 1, 2, 4, 8, ...
            return self._audit(out, model, guide, args, kwargs)
        return out

    def _audit(
        self,
        out: CompiledStepLoss,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
    ) -> StepLoss:
        """Replay a compiled step eagerly under the same draws; keep eager's on a mismatch."""
        if out.snapshot is None:
            return out
        leaves = unconstrained_params(out.param_names)
        with out.snapshot.replay(), torch.enable_grad():
            loss, traces, names = eager_evaluate(self.elbo)(model, guide, args, kwargs)
            wrt = [leaf for leaf in leaves.values()]
            grads: tuple[torch.Tensor | None, ...] = (None,) * len(wrt)
            if isinstance(loss, torch.Tensor) and loss.requires_grad and wrt:
                grads = torch.autograd.grad(loss, wrt, allow_unused=True)
        loss = loss.detach() if isinstance(loss, torch.Tensor) else torch.tensor(float(loss))
        mismatch = _mismatch(out.loss, loss, [leaf.grad for leaf in wrt], list(grads))
        if mismatch is None:
            return out
        for leaf, grad in zip(wrt, grads):
            leaf.grad = None if grad is None else grad.detach()
        self._refuse(f"compiled step {self.steps} differed from eager ({mismatch})")
        self._warn_mismatch(self.steps, mismatch)
        return StepLoss(loss, dict.fromkeys(names), traces)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The mode decision, for checkpoints: a resumed run continues in the same mode."""
        return {
            "mode": self.mode,
            "reason": self.reason,
            "since": self.since,
            "steps": self.steps,
            "compiled_steps": self.compiled_steps,
            "param_names": list(self._names),
            "steps_per_call": 1 if self.chunks is None else self.chunks.k,
            "chunk_calls": self.chunk_calls,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (a compiled run rebuilds its graph on its next step).

        Raises:
            ValueError: a malformed state.
        """
        mode = state.get("mode")
        if mode not in (_EAGER, _COMPILED, _REFUSED) or not isinstance(state.get("steps"), int):
            raise ValueError(f"AutoStep.load_state_dict: malformed state {dict(state)!r}")
        self.mode = mode
        self.reason = str(state.get("reason", ""))
        self.since = state.get("since")
        self.steps = int(state["steps"])
        self.compiled_steps = int(state.get("compiled_steps", 0))
        self._names = tuple(state.get("param_names", ()))
        self._horizon, self._times, self._frozen, self._retraces = None, [], None, 0
        self._reads = None
        self.compiled.graphs.clear()
        self._prime = mode == _COMPILED
        self._load_chunks(state)

    def _load_chunks(self, state: Mapping[str, Any]) -> None:
        """The K-step part of :meth:`load_state_dict` (K as saved, so the resumed run
        takes the steps the uninterrupted one took)."""
        k = state.get("steps_per_call", 1 if self.chunks is None else self.chunks.k)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"AutoStep.load_state_dict: malformed steps_per_call {k!r}")
        if k == 1:
            self.chunks = None
        elif self.chunks is None or self.chunks.k != k:
            self.chunks = self._new_chunks(k)
        else:
            self.chunks.clear()
        self.chunk_calls = int(state.get("chunk_calls", 0))
        self._chunks_off = self._eager_next = False
        self._created = self.mode == _COMPILED


class _AutoChunks:
    """What ``SVI.run`` calls for K steps per call: :meth:`AutoStep.take`."""

    def __init__(self, auto: AutoStep) -> None:
        self.auto = auto

    @property
    def calls(self) -> int:
        """K-step calls taken so far."""
        return self.auto.chunk_calls

    def take(self, *args: Any) -> list[float] | None:
        return self.auto.take(*args)


def _mismatch(
    loss_c: torch.Tensor,
    loss_e: torch.Tensor,
    grads_c: list[torch.Tensor | None],
    grads_e: list[torch.Tensor | None],
) -> str | None:
    """A description of how a compiled step differs from its eager replay, or None."""
    a, b = float(loss_c), float(loss_e)
    if not (math.isfinite(a) and math.isfinite(b)):
        return None if (a == b or (math.isnan(a) and math.isnan(b))) else f"loss {a} vs {b}"
    if abs(a - b) > _LOSS_RTOL * max(1.0, abs(b)):
        return f"loss {a:.6g} vs {b:.6g}"
    for i, (gc, ge) in enumerate(zip(grads_c, grads_e)):
        if (gc is None) != (ge is None):
            return f"gradient {i} present in one mode only"
        if gc is None or ge is None:
            continue
        diff = float(torch.linalg.vector_norm((gc - ge).double()))
        scale = float(torch.linalg.vector_norm(ge.double()))
        if diff > _GRAD_RTOL * scale + 1e-6:
            return f"gradient {i} off by {diff:.3g} (norm {scale:.3g})"
    return None
