"""``StepsPerCall``: K steps of ``SVI.run`` -- loss, gradients *and* the optimizer update
-- in one compiled call.

Why
---
On a small model the compiled step's own work takes microseconds; what is left per step
is Python: the cache lookup, the host read of the finiteness verdict, the optimizer's
``step`` and the gradient bookkeeping. NumPyro removes that by running many steps inside
one ``lax.scan``; this is the same idea for ``SVI(compile={"steps_per_call": K})``: one
graph loops over K steps, each evaluating the loss, its gradients and the optimizer's
update of the params and the optimizer state, and the host reads the K losses once.

Design notes
------------
* **One traced step, looped in the graph.** The model and guide run through the
  handlers once: the step's graph (loss, gradients, update, writing params and
  optimizer state in place) is traced, and
  :func:`~ppl.infer.compile.loop_graph.loop_graph` wraps it in torch's ``while_loop``,
  so one compiled call takes up to K steps (how many is an input: a run's last, shorter
  call runs the same graph). With inductor the graph is compiled with its C++ wrapper,
  so nothing runs in Python between the steps of a call: on the AutoMultivariateNormal
  workload a step went from ~140 to ~75 us (K=16) and ~45 us (K=64), where a Python
  loop of graph calls paid the wrapper's per-call cost every step. If the loop cannot
  be built or compiled (``loop_failure`` says why), or with ``unroll > 1`` (the step
  graph repeated ``unroll`` times at the FX level, :func:`repeat_graph`), a call runs
  the step graph ``K / unroll`` times from Python instead.
* **Exactly the eager steps.** The graph draws what K eager steps draw (sampling ops are
  ATen ops, ``fallback_random``), and writes the optimizer update as torch's
  single-tensor Adam / SGD write it, op for op, with the bias corrections computed on the
  host in double precision as torch computes them. Losses and params agree with eager
  steps to rounding (inductor may fuse differently), not bitwise.
* **Params unchanged on a non-finite step.** The params and optimizer state are copied
  before each call; if any of the K steps has a non-finite loss or gradient (or a failed
  validation check), the copies are put back, the random generators are rewound to
  before the call, and the K steps are redone one at a time on the ordinary path, which
  names the step and its sites and applies the run's ``on_nan`` policy exactly as an
  eager run does.
* **When it applies.** ``run`` without callbacks (a callback may read or stop at any
  step), a ``ppl.optim`` wrapper around ``torch.optim.Adam`` (no amsgrad, maximize or
  decoupled weight decay) or ``torch.optim.SGD`` (no momentum) without gradient
  clipping, every param already stepped once (so the optimizer has its state), and
  arguments a graph can take. Otherwise the steps are ordinary compiled steps;
  ``failure`` says why a layout could not be built.
  The trace is frozen as ``compile=True``'s is (Python control flow on values,
  closure tensors).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer import SVI, Trace_ELBO
    >>> from ppl.optim import Adam
    >>> ppl.clear_param_store(); ppl.set_rng_seed(0)
    >>> model = lambda: ppl.sample("z", dist.Normal(3.0, 1.0))
    >>> guide = lambda: ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))
    >>> svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO(),
    ...           compile={"steps_per_call": 8, "backend": "aot_eager"})
    >>> round(float(svi.run(400, progress_bar=False).params["m"]))
    3
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ... import settings
from ...optim.optim import PPLOptimizer
from ...rng import RngSnapshot
from ..util import unconstrained_params
from .checks import all_of, deferred_checks
from .elbo import eager_evaluate
from .layout import cuda_devices, tensor_inputs, with_tensor_inputs
from .loop_graph import loop_graph
from .repeat import repeat_graph
from .transposed import TransposedInputs, cache_transposes

__all__ = ["StepsPerCall", "OptimizerUpdate", "optimizer_update", "UNROLL"]

#: default steps per compiled graph (see ``StepsPerCall``'s ``unroll``)
UNROLL = 1


@dataclass(frozen=True)
class OptimizerUpdate:
    """One torch optimizer class's step, written as graph ops on one param.

    Attributes:
        state_keys: the per-param state tensors it reads and updates.
        refuse: ``group -> reason`` when a param group's settings are not covered.
        coefficients: ``(group, step number) -> (a, b)``, host-side scalars of that step.
        apply: ``(param, grad, states, coef, group)``: update ``param`` and ``states`` in
            place, with ``coef`` the step's ``(a, b)`` as a tensor.
        lr_is_constant: the learning rate is baked into the graph (a new one builds a
            new graph) rather than read from ``coef``.
    """

    state_keys: tuple[str, ...]
    refuse: Callable[[Mapping[str, Any]], str | None]
    coefficients: Callable[[Mapping[str, Any], int], tuple[float, float]]
    apply: Callable[
        [torch.Tensor, torch.Tensor, list[torch.Tensor], torch.Tensor, Mapping[str, Any]], None
    ]
    lr_is_constant: bool = False


def _adam_refuse(group: Mapping[str, Any]) -> str | None:
    for key in ("amsgrad", "maximize", "differentiable", "decoupled_weight_decay"):
        if group.get(key):
            return f"Adam with {key}=True"
    if isinstance(group["lr"], torch.Tensor):
        return "Adam with a tensor learning rate"
    return None


def _adam_coefficients(group: Mapping[str, Any], step: int) -> tuple[float, float]:
    beta1, beta2 = group["betas"]
    # torch's single-tensor Adam: step_size = lr / (1 - beta1^t), sqrt(1 - beta2^t)
    return -group["lr"] / (1 - beta1**step), (1 - beta2**step) ** 0.5


def _adam_apply(
    param: torch.Tensor,
    grad: torch.Tensor,
    states: list[torch.Tensor],
    coef: torch.Tensor,
    group: Mapping[str, Any],
) -> None:
    exp_avg, exp_avg_sq = states
    beta1, beta2 = group["betas"]
    if group["weight_decay"] != 0:
        grad = grad.add(param, alpha=group["weight_decay"])
    exp_avg.copy_(torch.lerp(exp_avg, grad, 1 - beta1))
    exp_avg_sq.copy_(exp_avg_sq * beta2 + (1 - beta2) * (grad * grad))
    denom = exp_avg_sq.sqrt() / coef[1] + group["eps"]
    param.copy_(param + coef[0] * (exp_avg / denom))


def _sgd_refuse(group: Mapping[str, Any]) -> str | None:
    if group.get("momentum", 0) != 0:
        return "SGD with momentum"
    if group.get("maximize") or group.get("differentiable"):
        return "SGD with maximize/differentiable"
    if isinstance(group["lr"], torch.Tensor):
        return "SGD with a tensor learning rate"
    return None


def _sgd_apply(
    param: torch.Tensor,
    grad: torch.Tensor,
    states: list[torch.Tensor],
    coef: torch.Tensor,
    group: Mapping[str, Any],
) -> None:
    if group["weight_decay"] != 0:
        grad = grad.add(param, alpha=group["weight_decay"])
    # torch's own op, with the learning rate a constant of the graph (part of its key)
    param.copy_(param.add(grad, alpha=-group["lr"]))


_UPDATES: dict[type, OptimizerUpdate] = {
    torch.optim.Adam: OptimizerUpdate(
        ("exp_avg", "exp_avg_sq"), _adam_refuse, _adam_coefficients, _adam_apply
    ),
    torch.optim.SGD: OptimizerUpdate(
        (), _sgd_refuse, lambda group, step: (-group["lr"], 1.0), _sgd_apply, True
    ),
}


def optimizer_update(optimizer_class: type) -> OptimizerUpdate | None:
    """The graph form of ``optimizer_class``'s step, or None when there is none."""
    return _UPDATES.get(optimizer_class)


@dataclass
class _Chunk:
    # looped: (*leaves, *states, coef [K/unit, leaves, unit, 2], *args, n) -> (status,)
    #   with status [K/unit, unit, 3], running n graph steps in one call;
    # else: (*leaves, *states, coef [leaves, unit, 2], *args) -> (status [unit, 3],)
    fn: Callable[..., Any]
    used: tuple[bool, ...]  # per leaf: does the loss depend on it
    unit: int  # steps per graph step (K / unit graph steps make one K-step call)
    transposed: TransposedInputs  # cached transposes of large data arguments, appended
    looped: bool  # the graph loops over its steps (loop_graph), else one call per unit

    def status(
        self, state: list[torch.Tensor], coef: torch.Tensor, inputs: list[torch.Tensor]
    ) -> torch.Tensor:
        """Run ``coef.shape[0]`` graph steps updating ``state`` (params, then optimizer
        states) in place, with ``coef`` [graph steps, leaves, unit, 2] and the data
        ``inputs``; the steps' (loss, finite, checks) rows, [steps, 3]. ``coef`` is on
        the host; it moves to the params' device here, in one copy."""
        blocks, device = coef.shape[0], state[0].device
        if not self.looped:
            coef = coef.contiguous().to(device)
            rows = [self.fn(*self.transposed.inputs([*state, block, *inputs]))[0] for block in coef]
            return rows[0] if blocks == 1 else torch.cat(rows)
        padded = coef.new_zeros((self.blocks, *coef.shape[1:]))
        padded[:blocks] = coef
        n = torch.tensor(blocks, dtype=torch.int64).to(device)
        out = self.fn(*self.transposed.inputs([*state, padded.to(device), *inputs]), n)[0]
        return out[:blocks].reshape(-1, out.shape[-1])

    blocks: int = 1  # graph steps a looped graph can take in one call


@dataclass
class _Run:
    """What one call works on."""

    model: Callable[..., Any]
    guide: Callable[..., Any]
    args: tuple
    kwargs: dict
    leaves: dict[str, torch.Tensor]
    groups: Sequence[Mapping[str, Any]]
    states: list[dict[str, Any]]
    update: OptimizerUpdate


class StepsPerCall:
    """Run ``K`` SVI steps per compiled call (see the module notes).

    Args:
        elbo: the estimator (its eager form is traced).
        steps_per_call: ``K`` (>= 2).
        layout: ``(model, guide, args, kwargs) -> cache key`` (None: not graphable).
        backend, options: how the graph is compiled (inductor by default).
        quiet: fall back without a warning.
        unroll: steps per compiled graph (a divisor of ``K``; None: ``UNROLL`` or the
            largest divisor of ``K`` below it): one step is traced and its graph
            repeated ``unroll`` times; a call runs that graph ``K / unroll`` times.
        guard: called with the traced one-step graph; a returned reason refuses it.
        cache_transposes: feed the graph cached contiguous transposes of large 2-D data
            arguments (:mod:`~ppl.infer.compile.transposed`), as ``CompiledStep`` does.
        loop: loop over a call's steps inside the graph
            (:func:`~ppl.infer.compile.loop_graph.loop_graph`, with ``unroll`` 1); False,
            ``unroll > 1``, or if that graph does not build, a call runs the step graph
            ``K / unroll`` times from Python.
    """

    def __init__(
        self,
        elbo: Any,
        steps_per_call: int,
        layout: Callable[..., Any],
        backend: str | Callable[..., Any] = "inductor",
        options: dict[str, Any] | None = None,
        quiet: bool = False,
        unroll: int | None = None,
        guard: Callable[[Any], str | None] | None = None,
        cache_transposes: bool = True,
        loop: bool = True,
    ) -> None:
        if isinstance(steps_per_call, bool) or not isinstance(steps_per_call, int):
            raise TypeError(f"steps_per_call must be an int, got {steps_per_call!r}")
        if steps_per_call < 2:
            raise ValueError(f"steps_per_call must be >= 2, got {steps_per_call}")
        if unroll is None:
            unroll = max(
                u for u in range(1, min(UNROLL, steps_per_call) + 1) if steps_per_call % u == 0
            )
        if (
            isinstance(unroll, bool)
            or not isinstance(unroll, int)
            or unroll < 1
            or (steps_per_call % unroll)
        ):
            raise ValueError(
                f"unroll must be a positive divisor of steps_per_call={steps_per_call}, "
                f"got {unroll!r}"
            )
        self.unroll = unroll
        self.guard = guard
        self.cache_transposes = cache_transposes
        self.loop = loop
        #: why the graph could not loop over its steps (a Python loop of calls instead)
        self.loop_failure: str | None = None
        self.elbo = elbo
        self.k = steps_per_call
        self.layout = layout
        self.backend = backend
        self.options = options
        self.quiet = quiet
        #: why the last layout could not be built into a K-step graph (None: it was)
        self.failure: str | None = None
        #: how many K-step calls ran (each took K steps)
        self.calls = 0
        self._chunks: dict[Any, _Chunk | str] = {}
        self._eager_left = 0  # ordinary steps owed after a chunk with a non-finite step
        #: how the last audited call differed from its eager replay (None: it agreed)
        self.mismatch: str | None = None

    def take(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        optim: Any,
        names: Iterable[str],
        args: tuple,
        kwargs: dict,
        remaining: int,
        audit: int = 0,
        create_optimizer: bool = False,
    ) -> list[float] | None:
        """Take ``min(K, remaining)`` steps (rounded down to a multiple of ``unroll``) in
        one call and return their losses; None when the caller must take an ordinary
        step instead (see "When it applies").

        Args:
            audit: replay the call's first ``audit`` steps (all of them: a number >= K)
                eagerly under the same draws and compare the losses, and with all steps
                replayed the params and optimizer state (:attr:`mismatch` says how they
                differed; the eager results are kept then).
            create_optimizer: create a torch optimizer that does not exist yet from its
                loaded state (a resumed run), without moving any param.
        """
        self.mismatch = None
        if self._eager_left > 0:
            self._eager_left -= 1
            return None
        n = min(self.k, remaining) // self.unroll * self.unroll
        if n < 1 or not isinstance(optim, PPLOptimizer):
            return None
        update = optimizer_update(optim.optimizer_class)
        if update is None or optim._clips:
            self.failure = (
                f"{optim.optimizer_class.__name__} has no in-graph update (Adam and SGD do)"
                if update is None
                else "gradient clipping (clip_args) is not in the graph"
            )
            return None
        leaves = unconstrained_params(names, distinct=True)
        if optim.optimizer is None and create_optimizer and leaves:
            _create_optimizer(optim, leaves)
        optimizer = optim.optimizer
        if optimizer is None:
            return None  # not created yet: the first ordinary step creates it
        group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
        groups, states = [], []
        for leaf in leaves.values():
            group, state = group_of.get(id(leaf)), optimizer.state.get(leaf)
            if group is None or (update.state_keys and not state):
                return None  # a param the optimizer has not stepped yet: an ordinary step
            state = {} if state is None else state
            if any(k not in state for k in update.state_keys):
                return None
            groups.append(group)
            states.append(state)
        key = self.layout(model, guide, args, kwargs)
        if key is None or not leaves:
            return None
        key = (key, tuple(leaves), _static_settings(groups, update.lr_is_constant))
        chunk = self._chunks.get(key)
        if chunk is None:
            reason = next((r for r in map(update.refuse, groups) if r), None)
            chunk = reason or self._build(model, guide, args, kwargs, leaves, groups, update)
            self._chunks[key] = chunk
            if isinstance(chunk, str):
                self.failure = chunk
                if not self.quiet:
                    warnings.warn(
                        f"SVI(compile={{'steps_per_call': {self.k}}}): {chunk}; taking one "
                        "step per call instead",
                        RuntimeWarning,
                        stacklevel=4,
                    )
        if isinstance(chunk, str):
            return None
        run = _Run(model, guide, args, kwargs, leaves, groups, states, update)
        return self._call(chunk, run, n, audit)

    @property
    def built(self) -> bool:
        """Whether a K-step graph was built (for any layout)."""
        return any(not isinstance(chunk, str) for chunk in self._chunks.values())

    @property
    def looped(self) -> bool:
        """Whether a built graph loops over a call's steps inside it (``loop_graph``)."""
        return any(isinstance(c, _Chunk) and c.looped for c in self._chunks.values())

    def clear(self) -> None:
        """Forget the built graphs and owed ordinary steps (a restored checkpoint)."""
        self._chunks.clear()
        self._eager_left = 0

    # ------------------------------------------------------------------ the call
    def _call(self, chunk: _Chunk, run: _Run, n: int, audit: int) -> list[float] | None:
        update, states = run.update, run.states
        steps = [int(state.get("step", 0)) for state in states]
        coef = [
            [update.coefficients(group, t + j + 1) for j in range(n)]
            for group, t in zip(run.groups, steps)
        ]
        first = next(iter(run.leaves.values()))
        unit = chunk.unit
        # [calls, leaves, steps of a call, 2]: each graph call reads its own contiguous block
        coef_t = (
            torch.tensor(coef, dtype=first.dtype)
            .reshape(len(coef), n // unit, unit, 2)
            .transpose(0, 1)
        )
        params = [leaf.detach() for leaf in run.leaves.values()]
        state_tensors = [state[key] for state in states for key in update.state_keys]
        backups = [t.clone() for t in params + state_tensors]
        snapshot = RngSnapshot.take()
        inputs = tensor_inputs(run.args, run.kwargs)
        status = chunk.status(params + state_tensors, coef_t, inputs)
        rows = status.tolist()  # the steps' one host read
        if all(finite and ok for _, finite, ok in rows):
            losses = [value for value, _, _ in rows]
            if audit > 0:
                tensors = params + state_tensors
                losses = self._audit(run, losses, coef, min(audit, n), tensors, backups, snapshot)
            for state, used in zip(states, chunk.used):
                if used and "step" in state:
                    state["step"] += n
            self.calls += 1
            return losses
        with torch.no_grad():
            for tensor, backup in zip(params + state_tensors, backups):
                tensor.copy_(backup)
        snapshot.restore()
        self._eager_left = n - 1  # redo these steps one by one (this call is the first)
        return None

    def _audit(
        self,
        run: _Run,
        losses: list[float],
        coef: list[list[tuple[float, float]]],
        steps: int,
        tensors: list[torch.Tensor],
        backups: list[torch.Tensor],
        snapshot: RngSnapshot,
    ) -> list[float]:
        """Redo the call's first ``steps`` steps eagerly from ``backups`` under the call's
        draws; keep the graph's results if they agree (nothing changes), else redo all
        of the call's steps eagerly and keep those (``mismatch`` says why)."""
        graph = [t.clone() for t in tensors]

        def replay(upto: int) -> list[float] | None:
            with torch.no_grad():
                for tensor, backup in zip(tensors, backups):
                    tensor.copy_(backup)
            try:
                with snapshot.replay():
                    return self._eager_steps(run, [row[:upto] for row in coef])
            except Exception as error:  # noqa: BLE001 - the replay failed where the graph ran
                self.mismatch = f"the eager replay raised {type(error).__name__}: {error}"
                return None

        n = len(coef[0])
        eager = replay(steps)
        if eager is not None:
            self.mismatch = _differs(losses, eager, graph if steps == n else [], tensors)
            if self.mismatch is not None and steps < n:
                eager = replay(n)
        if self.mismatch is None or eager is None:
            with torch.no_grad():
                for tensor, value in zip(tensors, graph):
                    tensor.copy_(value)
            return losses
        return eager

    def _eager_steps(self, run: _Run, coef: list[list[tuple[float, float]]]) -> list[float]:
        """The call's steps, eagerly: the loss, its gradients and the same update."""
        evaluate = eager_evaluate(self.elbo)
        update, n_states = run.update, len(run.update.state_keys)
        leaves = list(run.leaves.values())
        params = [leaf.detach() for leaf in leaves]
        state_tensors = [state[key] for state in run.states for key in update.state_keys]
        losses = []
        for j in range(len(coef[0])):
            with torch.enable_grad():
                loss, _, _ = evaluate(run.model, run.guide, run.args, run.kwargs)
                grads = torch.autograd.grad(loss, leaves, allow_unused=True)
            losses.append(float(loss.detach()))
            with torch.no_grad():
                for i, (param, grad) in enumerate(zip(params, grads)):
                    if grad is None:
                        continue
                    own = state_tensors[i * n_states : (i + 1) * n_states]
                    c = torch.tensor(coef[i][j], dtype=param.dtype, device=param.device)
                    update.apply(param, grad, own, c, run.groups[i])
        return losses

    # ------------------------------------------------------------------ the graph
    def _build(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        leaves: dict[str, torch.Tensor],
        groups: Sequence[Mapping[str, Any]],
        update: OptimizerUpdate,
    ) -> _Chunk | str:
        """Trace one step, repeat its graph ``unroll`` times (:func:`repeat_graph`) and
        compile that; a call runs the compiled graph ``K / unroll`` times."""
        from torch.fx.experimental.proxy_tensor import make_fx

        n_leaves, n_states = len(leaves), len(update.state_keys)
        evaluate = eager_evaluate(self.elbo)
        traced_names: dict[str, None] = {}
        used: list[bool] = []

        def one_step(*flat: torch.Tensor) -> tuple[torch.Tensor]:
            params = flat[:n_leaves]
            states = flat[n_leaves : n_leaves * (1 + n_states)]
            coef = flat[n_leaves * (1 + n_states)]  # [leaves, 2]: this step's (a, b)
            new_args, new_kwargs = with_tensor_inputs(
                args, kwargs, flat[n_leaves * (1 + n_states) + 1 :]
            )
            with torch.enable_grad():
                with deferred_checks() as checks:
                    loss, _, run_names = evaluate(model, guide, new_args, new_kwargs)
                traced_names.update(run_names)
                grads = torch.autograd.grad(loss, params, allow_unused=True)
            used.extend(g is not None for g in grads)
            finite = torch.isfinite(loss.detach())
            with torch.no_grad():
                for i, (param, grad) in enumerate(zip(params, grads)):
                    if grad is None:
                        continue  # as eager: no gradient, no update
                    finite = finite & torch.isfinite(grad).all()
                    own = list(states[i * n_states : (i + 1) * n_states])
                    update.apply(param, grad, own, coef[i], groups[i])
            ok = all_of(checks)
            ok = torch.ones_like(finite) if ok is None else ok.to(finite.device)
            return (torch.stack([loss.detach().double(), finite.double(), ok.double()]),)

        params = list(leaves.values())
        saved = [p.detach().clone() for p in params]
        optimizer_states = [
            torch.zeros_like(p) for p in params for _ in range(n_states)
        ]  # trace-time stand-ins for the optimizer state (same shapes and dtypes)
        coef = torch.ones(n_leaves, 2, dtype=params[0].dtype, device=params[0].device)
        example = [*params, *optimizer_states, coef, *tensor_inputs(args, kwargs)]
        static = settings.set_static_tracing(True)
        try:
            with torch.random.fork_rng(devices=cuda_devices(example)):
                graph = make_fx(one_step, tracing_mode="real")(*example)
        except Exception as error:  # noqa: BLE001 - any failure keeps ordinary steps
            return f"tracing failed ({type(error).__name__}: {error})"
        finally:
            settings.set_static_tracing(static)
            with torch.no_grad():  # the tracing run really stepped the params: undo it
                for p, value in zip(params, saved):
                    p.copy_(value)
        if set(traced_names) != set(leaves):
            return f"the loss touches params {sorted(traced_names)}, not the run's {sorted(leaves)}"
        if self.guard is not None:
            reason = self.guard(graph)
            if reason is not None:
                return reason
        unit, carried = self.unroll, n_leaves * (1 + n_states)
        graph = repeat_graph(graph, unit, per_step=carried)
        example = [t.detach() for t in example]
        example[carried] = coef.unsqueeze(1).expand(-1, unit, -1).contiguous()
        transposed = (
            cache_transposes(graph, carried + 1) if self.cache_transposes else TransposedInputs(())
        )
        blocks = self.k // unit
        looped = self._compile_looped(graph, transposed.inputs(example), carried, blocks)
        if looped is not None:
            return _Chunk(looped, tuple(used), unit, transposed, True, blocks)
        try:
            fn = self._compile(graph, transposed.inputs(example), {})
        except Exception as error:  # noqa: BLE001
            return f"compiling failed ({type(error).__name__}: {error})"
        return _Chunk(fn, tuple(used), unit, transposed, False)

    def _compile_looped(
        self, graph: Any, example: list[torch.Tensor], carried: int, blocks: int
    ) -> Callable[..., Any] | None:
        """The step graph looped ``blocks`` times in one graph (:func:`loop_graph`),
        compiled; with inductor through its C++ wrapper unless the options say
        otherwise (the Python wrapper if the C++ one fails); None if none compiles."""
        if not self.loop or self.unroll != 1:
            return None  # an unrolled graph's body aliases its inputs: the HOP refuses it
        example = list(example)
        example[carried] = example[carried].unsqueeze(0).expand(blocks, *example[carried].shape)
        example[carried] = example[carried].contiguous()
        try:
            looped = loop_graph(graph, example, carried=carried, per_step=carried)
        except Exception as error:  # noqa: BLE001 - the Python loop of calls still works
            self.loop_failure = f"loop_graph: {type(error).__name__}: {error}"
            return None
        n = torch.tensor(blocks, dtype=torch.int64, device=example[carried].device)
        wrappers = [{"cpp_wrapper": True}, {}] if self.backend == "inductor" else [{}]
        for extra in wrappers:
            try:
                return self._compile(looped, [*example, n], extra)
            except Exception as error:  # noqa: BLE001
                self.loop_failure = f"compiling the loop: {type(error).__name__}: {error}"
        return None

    def _compile(
        self, graph: Any, example: list[torch.Tensor], extra: dict[str, Any]
    ) -> Callable[..., Any]:
        if self.backend == "inductor":
            from torch._inductor import compile as inductor_compile

            options = {**extra, **(self.options or {})}  # the user's options win
            return inductor_compile(graph, list[Any](example), options=options)
        return torch.compile(graph, backend=self.backend, dynamic=False)


def _static_settings(groups: Sequence[Mapping[str, Any]], with_lr: bool) -> tuple:
    """The group settings baked into a graph (the learning rate only ``with_lr``)."""
    skip = ("params", "param_names") if with_lr else ("params", "param_names", "lr")
    return tuple(
        tuple(
            sorted(
                (k, v) for k, v in g.items() if k not in skip and not isinstance(v, torch.Tensor)
            )
        )
        for g in groups
    )


def _create_optimizer(optim: PPLOptimizer, leaves: dict[str, torch.Tensor]) -> None:
    """Create ``optim``'s torch optimizer (with any loaded state) without moving a param:
    a step over params without gradients only registers them."""
    grads = [(leaf, leaf.grad) for leaf in leaves.values()]
    for leaf, _ in grads:
        leaf.grad = None
    try:
        optim.step(leaves)
    finally:
        for leaf, grad in grads:
            leaf.grad = grad


_LOSS_RTOL, _PARAM_RTOL = 1e-4, 1e-3


def _differs(
    losses: list[float],
    eager: list[float],
    graph: list[torch.Tensor],
    tensors: list[torch.Tensor],
) -> str | None:
    """How a call's losses and final params/state differ from the eager replay's."""
    for j, (a, b) in enumerate(zip(losses, eager)):
        if not abs(a - b) <= _LOSS_RTOL * max(1.0, abs(b)):
            return f"loss of step {j + 1} of the call {a:.6g} vs {b:.6g}"
    for i, (g, e) in enumerate(zip(graph, tensors)):
        diff = float(torch.linalg.vector_norm((g - e).double()))
        scale = float(torch.linalg.vector_norm(e.double()))
        if not diff <= _PARAM_RTOL * scale + 1e-6:
            return f"param/state tensor {i} off by {diff:.3g} (norm {scale:.3g})"
    return None
