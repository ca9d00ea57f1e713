"""The compiled variants of the enumeration ELBOs, under Pyro's names.

``JitTraceEnum_ELBO`` and ``JitTraceTMC_ELBO`` (Pyro's: ``torch.jit.trace``) and
``CompiledTraceEnum_ELBO`` (``torch.compile``), each built from its eager class by
:func:`~ppl.infer.compile.elbo.jit_variant` / :func:`~ppl.infer.compile.elbo.compiled_variant`,
so the estimator itself is written once, in :mod:`ppl.infer.traceenum_elbo` and
:mod:`ppl.infer.tracetmc_elbo`.

Example:
    >>> JitTraceEnum_ELBO(max_plate_nesting=1).max_plate_nesting
    1
"""

from __future__ import annotations

from ..traceenum_elbo import TraceEnum_ELBO
from ..tracetmc_elbo import TraceTMC_ELBO
from .elbo import compiled_variant, jit_variant

__all__ = ["CompiledTraceEnum_ELBO", "JitTraceEnum_ELBO", "JitTraceTMC_ELBO"]

JitTraceEnum_ELBO = jit_variant(TraceEnum_ELBO, __name__)
JitTraceTMC_ELBO = jit_variant(TraceTMC_ELBO, __name__)
CompiledTraceEnum_ELBO = compiled_variant(TraceEnum_ELBO, __name__)
