"""The step interface: how ``SVI`` gets one loss with gradients, whatever the loss is.

Design notes
------------
``SVI`` takes the same three actions every step: evaluate the loss and accumulate its
gradients, decide whether the step is finite, hand the touched params to the
optimizer. Only the first two depend on what the loss *is*, so they sit behind one
small protocol, :class:`StepEstimator`, chosen once when ``SVI`` is built
(:func:`step_estimator`):

* :class:`EagerStep` -- a ppl ELBO run eagerly (traces are kept, so a non-finite step
  names its sites at once);
* ``ppl.infer.compile.CompiledELBOStep`` -- a compiled ELBO (``JitTrace_ELBO``,
  ``CompiledTrace_ELBO``), whose compiled calls keep no traces and are replayed
  eagerly with the same draws to explain a bad step;
* ``ppl.infer.compile.CompiledStep`` -- ``SVI(compile=True)``: loss and gradients of
  any ppl ELBO as one compiled graph;
* ``ppl.infer.compile.AutoStep`` -- ``SVI``'s default (``compile="auto"``): eager
  steps that become ``CompiledStep`` ones for a long run of a static model;
* :class:`CallableLossStep` -- Pyro's plain ``loss(model, guide, *args, **kwargs)``
  callable (and optional ``loss_and_grads``), run under ``trace(param_only=True)`` to
  learn which params it touched.

A new ELBO implements only the eager estimator (``ELBO._particle_loss``); all
paths then work for it.

Example:
    >>> from ppl.infer.trace_elbo import Trace_ELBO
    >>> type(step_estimator(Trace_ELBO(), compile=False)).__name__
    'EagerStep'
    >>> type(step_estimator(Trace_ELBO())).__name__
    'AutoStep'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from ..poutine.trace_messenger import TraceMessenger
from ..poutine.trace_struct import Trace

__all__ = [
    "CallableLossStep",
    "EagerStep",
    "StepEstimator",
    "StepLoss",
    "read_loss",
    "step_estimator",
]


@dataclass(frozen=True)
class StepLoss:
    """One evaluation of the loss, as a step estimator hands it to ``SVI``.

    Attributes:
        loss: detached 0-dim tensor on the model's device (no host sync was made).
        param_names: names of the param sites the run touched (an ordered set).
        traces: ``(model_trace, guide_trace)`` of each particle run; empty when the
            evaluation kept none (a compiled call, a plain callable loss).
    """

    loss: torch.Tensor
    param_names: dict[str, None]
    traces: list[tuple[Trace, Trace]] = field(default_factory=list)


class StepEstimator(Protocol):
    """What ``SVI`` asks of a loss: a value with gradients, a verdict, an explanation."""

    def step_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> StepLoss:
        """Evaluate the loss; accumulate its gradients into the touched params' ``.grad``."""
        ...

    def verdict(self, out: StepLoss, params: Mapping[str, torch.Tensor]) -> tuple[float, bool]:
        """``(loss value, loss and every gradient finite)``, read from the device once."""
        ...

    def explain(
        self,
        out: StepLoss,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
    ) -> StepLoss:
        """``out`` with traces to name non-finite sites from (as far as it can tell)."""
        ...


def read_loss(loss: torch.Tensor, params: Mapping[str, torch.Tensor]) -> tuple[float, bool]:
    """The loss as a float and whether it and every gradient are finite: one host read.

    The gradient norms are stacked with the loss, so the loss value and the NaN guard
    come back in a single transfer (a device sync on CUDA, nothing on CPU).

    Example:
        >>> read_loss(torch.tensor(2.0), {})
        (2.0, True)
    """
    grads = [p.grad for p in params.values() if p.grad is not None]
    if not grads:
        value = loss.item()
        return value, math.isfinite(value)
    values = torch.stack([loss.to(grads[0].dtype), *torch._foreach_norm(grads)]).tolist()
    return values[0], all(math.isfinite(v) for v in values)


class StepDefaults:
    """What most step estimators share: the loss and NaN guard read in one host transfer
    (:func:`read_loss`), and no traces beyond the step's own to explain a bad step.

    Example:
        >>> StepDefaults().verdict(StepLoss(torch.tensor(1.0), {}), {})
        (1.0, True)
    """

    def verdict(self, out: StepLoss, params: Mapping[str, torch.Tensor]) -> tuple[float, bool]:
        return read_loss(out.loss, params)

    def explain(
        self,
        out: StepLoss,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
    ) -> StepLoss:
        return out


class EagerStep(StepDefaults):
    """A ppl ELBO evaluated eagerly: its traces explain a bad step directly.

    Example:
        >>> from ppl.infer.trace_elbo import Trace_ELBO
        >>> EagerStep(Trace_ELBO()).elbo.num_particles
        1
    """

    def __init__(self, elbo: Any) -> None:
        self.elbo = elbo

    def step_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> StepLoss:
        return self.elbo.step_loss(model, guide, args, kwargs)


class CallableLossStep(StepDefaults):
    """Pyro's plain loss callable: ``loss(model, guide, *args, **kwargs) -> tensor``.

    Args:
        loss: the loss callable.
        loss_and_grads: optional callable that also runs ``backward`` (Pyro's
            ``SVI(..., loss_and_grads=...)``); by default ``loss`` is differentiated.

    Example:
        >>> step = CallableLossStep(lambda model, guide: torch.tensor(1.0))
        >>> float(step.step_loss(None, None, (), {}).loss)
        1.0
    """

    def __init__(
        self, loss: Callable[..., Any], loss_and_grads: Callable[..., Any] | None = None
    ) -> None:
        self.loss = loss
        self.loss_and_grads = loss_and_grads

    def step_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> StepLoss:
        with TraceMessenger(param_only=True) as capture:
            if self.loss_and_grads is not None:
                value = self.loss_and_grads(model, guide, *args, **kwargs)
            else:
                value = self.loss(model, guide, *args, **kwargs)
                if isinstance(value, torch.Tensor) and value.requires_grad:
                    value.backward()
        names = dict.fromkeys(capture.trace.param_nodes)
        value = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
        return StepLoss(value, names)  # an opaque callable keeps no traces to explain with


def step_estimator(
    loss: Any,
    loss_and_grads: Callable[..., Any] | None = None,
    compile: bool | str | Mapping[str, Any] = "auto",
) -> StepEstimator:
    """Choose the step estimator for ``SVI(model, guide, optim, loss, ...)``.

    Args:
        loss: a ppl ELBO or a plain loss callable.
        loss_and_grads: Pyro's custom ``loss_and_grads`` (plain callables only).
        compile: ``SVI(compile=...)``: ``"auto"`` (compile long static runs, see
            :mod:`ppl.infer.compile.auto`; a dict with ``"auto": True`` passes its other
            keys to ``AutoStep``), ``True``, ``False`` or ``torch.compile`` options.

    Raises:
        TypeError: ``compile`` with a loss that is not a ppl ELBO, or with a custom
            ``loss_and_grads``.
    """
    from .compile import AutoStep, CompiledELBOStep, CompiledStep, is_compiling_elbo
    from .elbo import ELBO

    is_elbo = isinstance(loss, ELBO) and loss_and_grads is None
    auto = compile == "auto" or (isinstance(compile, Mapping) and compile.get("auto"))
    if auto:
        if is_elbo and not is_compiling_elbo(loss):
            options = {k: v for k, v in compile.items() if k != "auto"} if isinstance(
                compile, Mapping
            ) else {}
            return AutoStep(loss, **options)
        compile = False  # a plain callable or an already compiling ELBO: as asked
    elif isinstance(compile, str):
        raise ValueError(f"SVI: compile must be True, False, 'auto' or a dict, got {compile!r}")
    if compile:
        if not is_elbo:
            raise TypeError(
                "SVI: compile=True needs a ppl ELBO as loss (e.g. Trace_ELBO()) and no "
                f"custom loss_and_grads, got loss={type(loss).__name__}"
            )
        options = dict(compile) if isinstance(compile, Mapping) else {}
        return CompiledStep(loss, **options)
    if not is_elbo:
        return CallableLossStep(loss, loss_and_grads)
    if is_compiling_elbo(loss):
        return CompiledELBOStep(loss)
    return EagerStep(loss)
