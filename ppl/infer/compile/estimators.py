"""The compiled variants of ppl's eager ELBOs, under Pyro's names (and ppl's own).

``JitTrace_ELBO``, ``JitTraceMeanField_ELBO``, ``JitTraceGraph_ELBO``,
``JitTraceEnum_ELBO``, ``JitTraceTMC_ELBO`` (Pyro's: ``torch.jit.trace``) and
``CompiledTrace_ELBO``, ``CompiledTraceMeanField_ELBO``, ``CompiledTraceGraph_ELBO``,
``CompiledTraceEnum_ELBO`` (``torch.compile``), each built from its eager class by
:func:`~ppl.infer.compile.elbo.jit_variant` / :func:`~ppl.infer.compile.elbo.compiled_variant`.

Example:
    >>> JitTrace_ELBO(ignore_jit_warnings=True).num_particles
    1
"""

from __future__ import annotations

from ..trace_elbo import Trace_ELBO
from ..trace_mean_field_elbo import TraceMeanField_ELBO
from ..traceenum_elbo import TraceEnum_ELBO
from ..tracegraph_elbo import TraceGraph_ELBO
from ..tracetmc_elbo import TraceTMC_ELBO
from .elbo import compiled_variant, jit_variant

__all__ = [
    "CompiledTraceEnum_ELBO",
    "CompiledTraceGraph_ELBO",
    "CompiledTraceMeanField_ELBO",
    "CompiledTrace_ELBO",
    "JitTraceEnum_ELBO",
    "JitTraceGraph_ELBO",
    "JitTraceMeanField_ELBO",
    "JitTraceTMC_ELBO",
    "JitTrace_ELBO",
]

JitTrace_ELBO = jit_variant(Trace_ELBO, __name__)
JitTraceMeanField_ELBO = jit_variant(TraceMeanField_ELBO, __name__)
JitTraceGraph_ELBO = jit_variant(TraceGraph_ELBO, __name__)
JitTraceEnum_ELBO = jit_variant(TraceEnum_ELBO, __name__)
JitTraceTMC_ELBO = jit_variant(TraceTMC_ELBO, __name__)
CompiledTrace_ELBO = compiled_variant(Trace_ELBO, __name__)
CompiledTraceMeanField_ELBO = compiled_variant(TraceMeanField_ELBO, __name__)
CompiledTraceGraph_ELBO = compiled_variant(TraceGraph_ELBO, __name__)
CompiledTraceEnum_ELBO = compiled_variant(TraceEnum_ELBO, __name__)
