"""Pyro's module path ``pyro.infer.autoguide.guides``: the guide classes, re-exported.

ppl keeps one module per guide family (see :mod:`ppl.infer.autoguide`); this module
only lets ``from ppl.infer.autoguide.guides import AutoNormal`` work as in Pyro.

Example:
    >>> from ppl.infer.autoguide.guides import AutoNormal
    >>> AutoNormal.__module__
    'ppl.infer.autoguide.normal'
"""

from ppl.infer.autoguide.continuous import AutoContinuous, AutoDiagonalNormal
from ppl.infer.autoguide.delta import AutoDelta
from ppl.infer.autoguide.guide import AutoGuide
from ppl.infer.autoguide.guide_list import AutoCallable, AutoGuideList
from ppl.infer.autoguide.laplace import AutoLaplaceApproximation
from ppl.infer.autoguide.low_rank import AutoLowRankMultivariateNormal
from ppl.infer.autoguide.multivariate_normal import AutoMultivariateNormal
from ppl.infer.autoguide.normal import AutoNormal

__all__ = [
    "AutoCallable",
    "AutoContinuous",
    "AutoDelta",
    "AutoDiagonalNormal",
    "AutoGuide",
    "AutoGuideList",
    "AutoLaplaceApproximation",
    "AutoLowRankMultivariateNormal",
    "AutoMultivariateNormal",
    "AutoNormal",
]
