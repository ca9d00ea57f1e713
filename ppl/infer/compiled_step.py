"""``CompiledGradients``: an ELBO's value *and gradients* as one compiled graph.

What ``SVI(..., compile=True)`` runs each step.

Design notes
------------
``CompiledTrace_ELBO`` compiles the forward pass and leaves the backward pass to
autograd, which still walks a graph node by node on every step. For the small models
where per-step overhead dominates, this module removes autograd from the step:

1. The first step for a layout (model, guide, argument shapes/dtypes/devices and
   non-tensor values) runs eagerly. It creates the params and records their names.
2. The second step traces one *joint* function with ``make_fx``:
   ``(unconstrained leaves, tensor args) -> (loss, status, gradients)``. The store's
   own leaf tensors are the example inputs, so every use of them (through
   ``ppl.param``, or directly by an ``nn.Module`` registered with ``ppl.module``)
   becomes a use of a graph input; the gradients come from ``torch.autograd.grad``
   inside the trace, so forward and backward ops land in one graph (custom autograd
   functions such as the Dirichlet sampler's included).
   Sampling ops are recorded as ops, so each call draws afresh; the tracing run's
   draws are undone (``torch.random.fork_rng``), so a seeded run draws the same
   values as the eager estimator.
3. The graph is compiled by ``torch.compile`` (inductor by default, random ops
   left to ATen). Each later step is one call returning the loss and gradients,
   which are written to ``.grad`` for the optimizer, exactly as ``backward`` would.

Validation checks are deferred into the graph (one host read per step, together with
the loss and the NaN guard); a failed check, or a kernel error, replays the step
eagerly with the same draws, which raises the error naming the site.

Like ``JitTrace_ELBO``, the trace is frozen: Python control flow on sampled values,
tensors read from closures or globals (constants of the graph), and side effects
(buffer updates) happen at trace time only. What is checked every step: the argument
layout (shapes, dtypes, devices, strides, non-tensor values, the validation flag) and
the params' presence, shapes and dtypes; a change traces again. Params that first
appear during the tracing run are picked up by tracing once more. A sequential plate
with a random subsample refuses to be traced (its loop would replay one minibatch),
and containers of tensors as arguments are not graph inputs: both keep steps eager.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer import SVI, Trace_ELBO
    >>> from ppl.optim import Adam
    >>> svi = SVI(lambda: None, lambda: None, Adam({"lr": 0.1}), Trace_ELBO(), compile=True)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from .. import settings
from ..rng import RngSnapshot
from .compiled_elbo import (
    CompilingELBOMixin,
    _all_of,
    _layout_key,
    _tensor_inputs,
    _with_tensor_inputs,
    inductor_options,
    replay_eagerly,
    warn_compile_fallback,
)
from .elbo import ELBO, StepLoss
from .util import unconstrained_params

__all__ = ["CompiledGradients", "eager_evaluate"]


class _Pending(NamedTuple):
    names: tuple[str, ...]  # params the last eager step touched


class _Joint(NamedTuple):
    names: tuple[str, ...]
    fn: Callable[..., tuple[torch.Tensor, ...]]  # (*leaves, *args) -> (loss, status, *grads)
    used: tuple[bool, ...]  # per leaf: does the loss depend on it (else .grad stays None)
    leaf_meta: tuple[tuple[torch.Size, torch.dtype, torch.device], ...]
    checked: list[bool]  # [True] once a compiled call succeeded


_MAX_LAYOUTS = 16  # argument layouts kept compiled at once (oldest dropped beyond)


class CompiledGradients:
    """Compile ``elbo``'s value-and-gradient computation once per argument layout.

    Args:
        elbo: the estimator (any ppl ELBO; a compiled one is used through its eager
            base class).
        backend, mode, options: passed to ``torch.compile`` (with inductor,
            ``fallback_random`` defaults to True so draws match eager mode).

    Example:
        >>> from ppl.infer.trace_elbo import Trace_ELBO
        >>> grads = CompiledGradients(Trace_ELBO(), backend="aot_eager")
    """

    def __init__(
        self,
        elbo: ELBO,
        backend: str | Callable[..., Any] = "inductor",
        mode: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.elbo = elbo
        self.backend = backend
        self.mode = mode
        self.options = inductor_options(backend, mode, options)
        self._layouts: dict[Any, _Pending | _Joint | None] = {}
        self._warned: set[str] = set()

    def step_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> StepLoss:
        """As :meth:`ELBO.step_loss` (with ``backward``): the loss; gradients go to ``.grad``."""
        key = _layout_key(model, guide, args, kwargs)
        if key is None:
            self._warn_once(
                "arguments",
                "SVI(compile=True): an argument is unhashable or a container (list, tuple, "
                "dict) of tensors, so steps run eagerly; pass tensors as separate arguments",
            )
            return self.elbo.step_loss(model, guide, args, kwargs)
        # validation checks are traced in or out, and strides are baked into the kernels
        key = (*key, settings._VALIDATION_ENABLED, _strides(args, kwargs))
        if key in self._layouts:
            entry = self._layouts[key]
            if entry is None:  # compiling this layout failed: eager for good
                return self.elbo.step_loss(model, guide, args, kwargs)
        else:
            self._make_room()
            entry = None
        if entry is None:
            out = self.elbo.step_loss(model, guide, args, kwargs)
            self._layouts[key] = _Pending(tuple(out.param_names))
            return out
        if isinstance(entry, _Pending):
            traced = self._trace(model, guide, args, kwargs, entry.names)
            self._layouts[key] = traced
            if not isinstance(traced, _Joint):  # failed, or the params changed: eager
                out = self.elbo.step_loss(model, guide, args, kwargs)
                if traced is not None:
                    self._layouts[key] = _Pending(tuple(out.param_names))
                return out
            entry = traced
        leaves = unconstrained_params(entry.names)
        if len(leaves) != len(entry.names) or any(
            (leaf.shape, leaf.dtype, leaf.device) != meta
            for leaf, meta in zip(leaves.values(), entry.leaf_meta)
        ):  # a param was deleted or replaced by another shape/dtype: trace again
            out = self.elbo.step_loss(model, guide, args, kwargs)
            self._layouts[key] = _Pending(tuple(out.param_names))
            return out
        inputs = [leaf.detach() for leaf in leaves.values()] + _tensor_inputs(args, kwargs)
        snapshot = RngSnapshot.take()  # to replay this step eagerly if it goes wrong
        try:
            loss, status, *grads = entry.fn(*inputs)
        except Exception as e:
            if not entry.checked[0]:
                self._layouts[key] = None  # the first compiled call failed: stay eager
                _warn_fallback(e)
                return self.elbo.step_loss(model, guide, args, kwargs)
            # e.g. a kernel's index check on data that validation would have refused
            replay_eagerly(snapshot, eager_evaluate(self.elbo), model, guide, args, kwargs)
            raise
        entry.checked[0] = True
        value, finite, ok = status.tolist()  # the step's one host read
        if not ok:  # a deferred validation check failed: the eager replay names the site
            replay_eagerly(snapshot, eager_evaluate(self.elbo), model, guide, args, kwargs)
            raise ValueError(
                "a validation check failed inside the compiled step, but not when the step "
                "was replayed eagerly; run without compile=True to find the site"
            )
        accumulated = False
        for leaf, grad, used in zip(leaves.values(), grads, entry.used):
            if not used:
                continue  # as in eager mode: no gradient, so the optimizer skips it
            if grad.stride() != leaf.stride():  # e.g. an expanded (stride-0) gradient
                grad = torch.empty_like(leaf).copy_(grad)
            accumulated |= leaf.grad is not None
            leaf.grad = grad if leaf.grad is None else leaf.grad + grad
        verdict = None if accumulated else (value, bool(finite))
        return StepLoss(loss, dict.fromkeys(entry.names), [], verdict, snapshot)

    def _make_room(self) -> None:
        if len(self._layouts) >= _MAX_LAYOUTS:
            self._warn_once(
                "layouts",
                f"SVI(compile=True): more than {_MAX_LAYOUTS} argument layouts (shapes, dtypes "
                "or non-tensor values) seen; each new one is traced and compiled again",
            )
            del self._layouts[next(iter(self._layouts))]

    def _warn_once(self, topic: str, message: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            warnings.warn(message, RuntimeWarning, stacklevel=5)

    def _trace(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        names: tuple[str, ...],
    ) -> _Joint | _Pending | None:
        """The compiled joint graph; ``_Pending`` if the traced run used other params than
        the eager step before it (trace again next step); None if it cannot compile."""
        from torch.fx.experimental.proxy_tensor import make_fx

        leaves = unconstrained_params(names)
        if len(leaves) != len(names):
            return _Pending(())  # the store changed since the eager step: start over
        if not leaves:
            return None  # nothing to differentiate: eager steps cost nothing more
        names = tuple(leaves)
        n_leaves = len(names)
        evaluate = eager_evaluate(self.elbo)
        traced_names: dict[str, None] = {}
        used: list[bool] = []

        def joint(*flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
            # ``flat`` starts with the store's own leaf tensors: make_fx maps every use of
            # them (through ppl.param, or directly, e.g. by an nn.Module registered with
            # ppl.module) to the graph's inputs
            new_leaves = flat[:n_leaves]
            new_args, new_kwargs = _with_tensor_inputs(args, kwargs, flat[n_leaves:])
            with torch.enable_grad():
                outer = settings._DEFERRED_CHECKS
                checks = settings.start_deferring()
                try:
                    loss, _, run_names = evaluate(model, guide, new_args, new_kwargs)
                finally:
                    settings.stop_deferring(outer)
                traced_names.update(run_names)
                grads = torch.autograd.grad(loss, new_leaves, allow_unused=True)
            used.extend(g is not None for g in grads)
            filled = [
                torch.zeros_like(x) if g is None else g.contiguous()
                for g, x in zip(grads, new_leaves)
            ]
            # one small tensor for the host: [loss, finite (loss and grads), checks passed]
            finite = torch.isfinite(loss.detach())
            for g in filled:
                finite = finite & torch.isfinite(g).all()
            ok = _all_of(checks)
            ok = torch.ones_like(finite) if ok is None else ok.to(finite.device)
            status = torch.stack([loss.detach().double(), finite.double(), ok.double()])
            return (loss.detach(), status, *filled)

        example = [*leaves.values(), *_tensor_inputs(args, kwargs)]
        cuda = sorted({t.device.index or 0 for t in example if t.is_cuda})
        static = settings.set_static_tracing(True)
        try:
            with torch.random.fork_rng(devices=cuda):  # tracing must not use up draws
                graph = make_fx(joint, tracing_mode="real")(*example)
        except Exception as e:  # noqa: BLE001  (anything untraceable means: run eagerly)
            _warn_fallback(e)
            return None
        finally:
            settings.set_static_tracing(static)
        if set(traced_names) != set(names):
            return _Pending(tuple(traced_names))  # new params appeared: trace them next step
        example = [t.detach() for t in example]  # the graph needs no autograd
        try:
            if self.backend == "inductor" and self.mode is None:
                # the graph is already ATen-level: inductor compiles it directly, and each
                # step skips dynamo's frame guards and the module call
                from torch._inductor import compile as inductor_compile

                fn = inductor_compile(graph, list[Any](example), options=self.options)
            else:
                fn = torch.compile(
                    graph,
                    backend=self.backend,
                    mode=self.mode,
                    dynamic=False,
                    options=self.options,
                )
        except Exception as e:  # noqa: BLE001
            _warn_fallback(e)
            return None
        meta = tuple((leaf.shape, leaf.dtype, leaf.device) for leaf in leaves.values())
        return _Joint(names, fn, tuple(used), meta, [False])


def _strides(args: tuple, kwargs: dict) -> tuple[tuple[int, ...], ...]:
    return tuple(t.stride() for t in _tensor_inputs(args, kwargs))


def eager_evaluate(elbo: ELBO) -> Callable[..., Any]:
    """``elbo._evaluate`` without a compiling wrapper (the joint trace replaces it)."""
    if isinstance(elbo, CompilingELBOMixin):
        return super(CompilingELBOMixin, elbo)._evaluate  # type: ignore[misc]
    return elbo._evaluate


def _warn_fallback(error: Exception) -> None:
    warn_compile_fallback("SVI(compile=True)", error, "eager steps")
