"""Compiled inference: one cache of compiled graphs behind every compiled path.

* :mod:`~ppl.infer.compile.cache` -- ``GraphCache``, the life cycle every compiled path
  shares (first call eager, second compiles, guards, fallbacks, eager replays);
* :mod:`~ppl.infer.compile.elbo` -- compiled ELBOs: ``jit_variant`` / ``compiled_variant``
  turn any eager ELBO class into its ``torch.jit.trace`` / ``torch.compile`` variant;
* :mod:`~ppl.infer.compile.step` -- ``CompiledStep``, loss and gradients as one graph
  (``SVI(compile=True)``);
* :mod:`~ppl.infer.compile.multistep` -- ``StepsPerCall``, K steps with the optimizer
  update per compiled call (``SVI(compile={"steps_per_call": K})``);
* :mod:`~ppl.infer.compile.estimators` -- the variants under Pyro's names
  (``JitTrace_ELBO``, ...);
* :mod:`~ppl.infer.compile.layout`, :mod:`~ppl.infer.compile.checks`,
  :mod:`~ppl.infer.compile.options` -- what a graph depends on, deferred validation,
  ``torch.compile`` options.

Example:
    >>> from ppl.infer.compile import JitTrace_ELBO, is_compiling_elbo
    >>> is_compiling_elbo(JitTrace_ELBO())
    True
"""

from .auto import AutoStep
from .cache import GraphCache, Retrace
from .checks import ValidationFailed, all_of, deferred_checks
from .elbo import (
    CompiledELBOStep,
    CompilingELBOMixin,
    compiled_variant,
    eager_evaluate,
    is_compiling_elbo,
    jit_variant,
    replay_traces,
)
from .estimators import (
    CompiledTrace_ELBO,
    CompiledTraceGraph_ELBO,
    CompiledTraceMeanField_ELBO,
    JitTrace_ELBO,
    JitTraceGraph_ELBO,
    JitTraceMeanField_ELBO,
)
from .layout import cuda_devices, layout_key, strides, tensor_inputs, with_tensor_inputs
from .multistep import OptimizerUpdate, StepsPerCall, optimizer_update
from .options import inductor_options, warn_compile_fallback, without_cse
from .step import CompiledStep, CompiledStepLoss

__all__ = [
    "AutoStep",
    "CompiledELBOStep",
    "CompiledStep",
    "CompiledStepLoss",
    "CompiledTraceGraph_ELBO",
    "CompiledTraceMeanField_ELBO",
    "CompiledTrace_ELBO",
    "CompilingELBOMixin",
    "GraphCache",
    "JitTraceGraph_ELBO",
    "JitTraceMeanField_ELBO",
    "JitTrace_ELBO",
    "OptimizerUpdate",
    "Retrace",
    "StepsPerCall",
    "ValidationFailed",
    "all_of",
    "compiled_variant",
    "cuda_devices",
    "deferred_checks",
    "eager_evaluate",
    "inductor_options",
    "is_compiling_elbo",
    "jit_variant",
    "layout_key",
    "optimizer_update",
    "replay_traces",
    "strides",
    "tensor_inputs",
    "warn_compile_fallback",
    "with_tensor_inputs",
    "without_cse",
]
