"""``CompiledStep``: an ELBO's value *and gradients* as one compiled graph.

What ``SVI(..., compile=True)`` runs each step.

Design notes
------------
``CompiledTrace_ELBO`` compiles the forward pass and leaves the backward pass to
autograd, which still walks a graph node by node on every step. For the small models
where per-step overhead dominates, this step removes autograd from the step. The life
cycle is the :class:`~ppl.infer.compile.cache.GraphCache`'s (first step of a layout
eager, second traces and compiles, later ones run the graph); what is built is one
*joint* function traced with ``make_fx``:
``(unconstrained leaves, tensor args) -> (loss, status, gradients)``. The store's own
leaf tensors are the example inputs, so every use of them (through ``ppl.param``, or
directly by an ``nn.Module`` registered with ``ppl.module``) becomes a use of a graph
input; the gradients come from ``torch.autograd.grad`` inside the trace, so forward and
backward ops land in one graph (custom autograd functions included). Sampling ops are
recorded as ops, so each call draws afresh; the tracing run's draws are undone, so a
seeded run draws what the eager estimator draws. The graph is compiled by inductor
(random ops left to ATen), and each step writes the returned gradients to ``.grad``
exactly as ``backward`` would.

``status`` is ``[loss, loss and gradients finite, validation checks passed]``, the
step's one host read, so ``SVI`` need not read again (:class:`CompiledStepLoss`).

Like ``JitTrace_ELBO``, the trace is frozen: Python control flow on sampled values,
tensors read from closures or globals (constants of the graph) and side effects happen
at trace time only. A sequential plate with a random subsample refuses to be traced
(its loop would replay one minibatch), and containers of tensors as arguments are not
graph inputs: both keep steps eager.

Example:
    >>> from ppl.infer.trace_elbo import Trace_ELBO
    >>> CompiledStep(Trace_ELBO(), backend="aot_eager").backend
    'aot_eager'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ... import settings
from ...rng import RngSnapshot
from ..elbo import ELBO
from ..step import StepLoss, read_loss
from .cache import GraphCache, Retrace
from .checks import ValidationFailed, all_of, deferred_checks
from .elbo import eager_evaluate, replay_traces
from .layout import cuda_devices, layout_key, strides, tensor_inputs, with_tensor_inputs
from .multistep import StepsPerCall
from .options import inductor_options
from .transposed import TransposedInputs, cache_transposes

__all__ = ["CompiledStep", "CompiledStepLoss"]


@dataclass(frozen=True)
class CompiledStepLoss(StepLoss):
    """A compiled step's :class:`~ppl.infer.step.StepLoss`, with what it already read.

    Attributes:
        verdict: ``(loss value, loss and gradients finite)`` as read on the host with the
            loss, or None when gradients were accumulated onto earlier ones (then
            ``SVI`` reads them itself).
        snapshot: the generators' state before the compiled call, to replay it eagerly.
    """

    verdict: tuple[float, bool] | None = None
    snapshot: RngSnapshot | None = None


@dataclass(frozen=True)
class _Joint:
    fn: Callable[..., tuple[torch.Tensor, ...]]  # (*leaves, *args) -> (loss, status, *grads)
    used: tuple[bool, ...]  # per leaf: does the loss depend on it (else .grad stays None)
    transposed: TransposedInputs  # cached transposes of large data inputs, appended to args


class CompiledStep:
    """Compile ``elbo``'s value-and-gradient computation once per argument layout.

    Args:
        elbo: the estimator (any ppl ELBO; a compiled one is used through its eager
            base class).
        backend, mode, options: passed to ``torch.compile`` (with inductor,
            ``fallback_random`` defaults to True so draws match eager mode).
        guard: called with each traced graph (a ``torch.fx.GraphModule``) before it is
            compiled; a returned reason (a str) refuses the graph, so the layout stays
            eager (the automatic mode's safety checks, :mod:`~ppl.infer.compile.auto`).
        quiet: fall back to eager without a warning (the reason is in ``failure``).
        steps_per_call: with ``K >= 2``, ``SVI.run`` takes ``K`` steps per compiled call,
            the optimizer update inside the graph (:mod:`~ppl.infer.compile.multistep`;
            ``steps_per_call`` is then that object, else None).
        cache_transposes: feed the graph a cached contiguous transpose of each large 2-D
            data argument it transposes (a second copy of it in memory; twice as fast
            a backward matmul, :mod:`~ppl.infer.compile.transposed`).
    """

    def __init__(
        self,
        elbo: ELBO,
        backend: str | Callable[..., Any] = "inductor",
        mode: str | None = None,
        options: dict[str, Any] | None = None,
        guard: Callable[[Any], str | None] | None = None,
        quiet: bool = False,
        steps_per_call: int = 1,
        cache_transposes: bool = True,
    ) -> None:
        self.elbo = elbo
        self.cache_transposes = cache_transposes
        self.backend = backend
        self.mode = mode
        self.options = inductor_options(backend, mode, options)
        self.guard = guard
        self._graphs: GraphCache = GraphCache("SVI(compile=True)", "eager steps", quiet=quiet)
        self.steps_per_call: StepsPerCall | None = (
            None
            if type(steps_per_call) is int and steps_per_call == 1
            else StepsPerCall(
                elbo,
                steps_per_call,
                self.layout,
                backend,
                self.options,
                quiet=quiet,
                cache_transposes=cache_transposes,
            )
        )

    @property
    def graphs(self) -> GraphCache:
        """The cache of compiled graphs (its ``states()``, ``failure``, ``expect``)."""
        return self._graphs

    @property
    def failure(self) -> str | None:
        """Why the last layout runs eagerly (a refused or failed graph), else None."""
        return self._graphs.failure

    # ------------------------------------------------------------------ StepEstimator
    def step_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> StepLoss:
        """As :meth:`ELBO.step_loss` (with ``backward``): the loss; gradients go to ``.grad``."""
        key = self.layout(model, guide, args, kwargs)
        if key is None and not self._graphs.quiet:
            self._graphs.warn_once(
                "arguments",
                "SVI(compile=True): an argument is unhashable or a container (list, tuple, "
                "dict) of tensors, so steps run eagerly; pass tensors as separate arguments",
            )

        def eager() -> tuple[StepLoss, dict[str, None]]:
            out = self.elbo.step_loss(model, guide, args, kwargs)
            return out, out.param_names

        def build(names: tuple[str, ...], leaves: dict[str, torch.Tensor]) -> Any:
            return self._trace(model, guide, args, kwargs, names, leaves)

        def call(joint: _Joint, leaves: dict[str, torch.Tensor]) -> StepLoss:
            return self._call(joint, leaves, args, kwargs)

        def replay() -> None:
            eager_evaluate(self.elbo)(model, guide, args, kwargs)

        return self._graphs.run(key, eager, build, call, replay)

    @staticmethod
    def layout(
        model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> Any:
        """The cache key of a call (None: its arguments cannot be graph inputs)."""
        key = layout_key(model, guide, args, kwargs)
        if key is None:
            return None
        # validation checks are traced in or out, and strides are baked into kernels
        return (*key, settings._VALIDATION_ENABLED, strides(args, kwargs))

    def verdict(self, out: StepLoss, params: Mapping[str, torch.Tensor]) -> tuple[float, bool]:
        if isinstance(out, CompiledStepLoss) and out.verdict is not None:
            return out.verdict
        return read_loss(out.loss, params)

    def explain(
        self,
        out: StepLoss,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
    ) -> StepLoss:
        snapshot = out.snapshot if isinstance(out, CompiledStepLoss) else None
        return replay_traces(out, snapshot, eager_evaluate(self.elbo), model, guide, args, kwargs)

    # ------------------------------------------------------------------ the graph
    def _call(
        self, joint: _Joint, leaves: dict[str, torch.Tensor], args: tuple, kwargs: dict
    ) -> StepLoss:
        inputs = [leaf.detach() for leaf in leaves.values()] + tensor_inputs(args, kwargs)
        inputs = joint.transposed.inputs(inputs)
        snapshot = self._graphs.last_snapshot
        loss, status, *grads = joint.fn(*inputs)
        value, finite, ok = status.tolist()  # the step's one host read
        if not ok:
            raise ValidationFailed
        accumulated = False
        for leaf, grad, used in zip(leaves.values(), grads, joint.used):
            if not used:
                continue  # as in eager mode: no gradient, so the optimizer skips it
            if grad.stride() != leaf.stride():  # e.g. an expanded (stride-0) gradient
                grad = torch.empty_like(leaf).copy_(grad)
            accumulated |= leaf.grad is not None
            leaf.grad = grad if leaf.grad is None else leaf.grad + grad
        verdict = None if accumulated else (value, bool(finite))
        return CompiledStepLoss(loss, dict.fromkeys(leaves), [], verdict, snapshot)

    def _trace(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        names: tuple[str, ...],
        leaves: dict[str, torch.Tensor],
    ) -> _Joint | Retrace | None:
        """The compiled joint graph; :class:`Retrace` if the traced run used other params
        than the eager step before it; None when there is nothing to differentiate."""
        from torch.fx.experimental.proxy_tensor import make_fx

        if not leaves:
            return None  # nothing to differentiate: eager steps cost nothing more
        n_leaves = len(names)
        evaluate = eager_evaluate(self.elbo)
        traced_names: dict[str, None] = {}
        used: list[bool] = []

        def joint(*flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
            new_leaves = flat[:n_leaves]
            new_args, new_kwargs = with_tensor_inputs(args, kwargs, flat[n_leaves:])
            with torch.enable_grad():
                with deferred_checks() as checks:
                    loss, _, run_names = evaluate(model, guide, new_args, new_kwargs)
                traced_names.update(run_names)
                grads = torch.autograd.grad(loss, new_leaves, allow_unused=True)
            used.extend(g is not None for g in grads)
            filled = [
                torch.zeros_like(x) if g is None else g.contiguous()
                for g, x in zip(grads, new_leaves)
            ]
            finite = torch.isfinite(loss.detach())
            for g in filled:
                finite = finite & torch.isfinite(g).all()
            ok = all_of(checks)
            ok = torch.ones_like(finite) if ok is None else ok.to(finite.device)
            status = torch.stack([loss.detach().double(), finite.double(), ok.double()])
            return (loss.detach(), status, *filled)

        example = [*leaves.values(), *tensor_inputs(args, kwargs)]
        static = settings.set_static_tracing(True)
        try:
            with torch.random.fork_rng(devices=cuda_devices(example)):
                graph = make_fx(joint, tracing_mode="real")(*example)
        finally:
            settings.set_static_tracing(static)
        if set(traced_names) != set(names):
            return Retrace(tuple(traced_names))  # new params appeared: trace them next step
        if self.guard is not None:
            reason = self.guard(graph)
            if reason is not None:
                self._graphs.failure = reason
                return None  # refused: this layout stays eager
        example = [t.detach() for t in example]  # the graph needs no autograd
        transposed = (
            cache_transposes(graph, n_leaves) if self.cache_transposes else TransposedInputs(())
        )
        example = transposed.inputs(example)
        if self.backend == "inductor" and self.mode is None:
            # the graph is already ATen-level: inductor compiles it directly, and each step
            # skips dynamo's frame guards and the module call
            from torch._inductor import compile as inductor_compile

            fn = inductor_compile(graph, list[Any](example), options=self.options)
        else:
            fn = torch.compile(
                graph, backend=self.backend, mode=self.mode, dynamic=False, options=self.options
            )
        return _Joint(fn, tuple(used), transposed)
