"""Reparameterizers for ``poutine.reparam`` (Pyro's ``pyro.infer.reparam``), one per module.

Each reparameterizer rewrites one kind of sample site into auxiliary sites with a
friendlier geometry plus a deterministic map back (see :mod:`.reparam` for the
interface and :mod:`ppl.poutine.reparam_messenger` for the handler). Strategies
(:mod:`.strategies`) choose reparameterizers site by site.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> from ppl.infer.reparam import LocScaleReparam
    >>> model = lambda: ppl.sample("x", dist.Normal(0.0, 5.0))
    >>> rmodel = ppl.poutine.reparam(model, config={"x": LocScaleReparam(0.0)})
    >>> "x_decentered" in ppl.poutine.trace(rmodel).get_trace().nodes
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    "Reparam": ".reparam",
    "LocScaleReparam": ".loc_scale",
    "TransformReparam": ".transform",
    "NeuTraReparam": ".neutra",
    "UnitJacobianReparam": ".unit_jacobian",
    "DiscreteCosineReparam": ".discrete_cosine",
    "HaarReparam": ".haar",
    "StudentTReparam": ".studentt",
    "GumbelSoftmaxReparam": ".softmax",
    "ProjectedNormalReparam": ".projected_normal",
    "LatentStableReparam": ".stable",
    "SymmetricStableReparam": ".stable",
    "StableReparam": ".stable",
    "ConjugateReparam": ".conjugate",
    "SplitReparam": ".split",
    "LinearHMMReparam": ".hmm",
    "StructuredReparam": ".structured",
    "AutoReparam": ".strategies",
    "MinimalReparam": ".strategies",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .conjugate import ConjugateReparam
    from .discrete_cosine import DiscreteCosineReparam
    from .haar import HaarReparam
    from .hmm import LinearHMMReparam
    from .loc_scale import LocScaleReparam
    from .neutra import NeuTraReparam
    from .projected_normal import ProjectedNormalReparam
    from .reparam import Reparam
    from .softmax import GumbelSoftmaxReparam
    from .split import SplitReparam
    from .stable import LatentStableReparam, StableReparam, SymmetricStableReparam
    from .strategies import AutoReparam, MinimalReparam
    from .structured import StructuredReparam
    from .studentt import StudentTReparam
    from .transform import TransformReparam
    from .unit_jacobian import UnitJacobianReparam


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
