"""The compiled variants of ppl's eager ELBOs, under Pyro's names (and ppl's own).

``JitTrace_ELBO``, ``JitTraceMeanField_ELBO``, ``JitTraceGraph_ELBO`` (Pyro's:
``torch.jit.trace``) and ``CompiledTrace_ELBO``, ``CompiledTraceMeanField_ELBO``,
``CompiledTraceGraph_ELBO`` (``torch.compile``), each built from its eager class by
:func:`~ppl.infer.compile.elbo.jit_variant` / :func:`~ppl.infer.compile.elbo.compiled_variant`.

Example:
    >>> JitTrace_ELBO(ignore_jit_warnings=True).num_particles
    1
"""

from __future__ import annotations

from ..trace_elbo import Trace_ELBO
from ..trace_mean_field_elbo import TraceMeanField_ELBO
from ..tracegraph_elbo import TraceGraph_ELBO
from .elbo import compiled_variant, jit_variant

__all__ = [
    "CompiledTraceGraph_ELBO",
    "CompiledTraceMeanField_ELBO",
    "CompiledTrace_ELBO",
    "JitTraceGraph_ELBO",
    "JitTraceMeanField_ELBO",
    "JitTrace_ELBO",
]

JitTrace_ELBO = jit_variant(Trace_ELBO, __name__)
JitTraceMeanField_ELBO = jit_variant(TraceMeanField_ELBO, __name__)
JitTraceGraph_ELBO = jit_variant(TraceGraph_ELBO, __name__)
CompiledTrace_ELBO = compiled_variant(Trace_ELBO, __name__)
CompiledTraceMeanField_ELBO = compiled_variant(TraceMeanField_ELBO, __name__)
CompiledTraceGraph_ELBO = compiled_variant(TraceGraph_ELBO, __name__)

# --- enumeration and the other ELBO families (appended block) ---
from ..traceenum_elbo import TraceEnum_ELBO  # noqa: E402

__all__ += ["JitTraceEnum_ELBO", "CompiledTraceEnum_ELBO"]
JitTraceEnum_ELBO = jit_variant(TraceEnum_ELBO, __name__)
CompiledTraceEnum_ELBO = compiled_variant(TraceEnum_ELBO, __name__)
