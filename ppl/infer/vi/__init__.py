"""High-level variational inference (PyMC's VI API): ``fit``, inference objects, approximations.

* :mod:`.fit` -- ``fit(model, *args, method=...)``, the one-line entry point;
* :mod:`.inference` -- ``ADVI``, ``FullRankADVI``, ``MAP``, ``Laplace``, ``SVGDInference``;
* :mod:`.approximation` -- the approximation object (``sample``, ``mean``, ``std``,
  ``sample_node``, ``hist``, ``refine``);
* :mod:`.empirical` -- ``Empirical`` (given samples) and the SVGD particle approximation.

Callbacks (``CheckParametersConvergence``, ``CheckLossConvergence``, ``Tracker``) live in
:mod:`ppl.infer.callbacks`; they are re-exported here for PyMC users.
"""

from ..callbacks import CheckLossConvergence, CheckParametersConvergence, Tracker
from .approximation import Approximation, GuideApproximation
from .empirical import Empirical, ParticleApproximation
from .fit import fit, get_method, register_method
from .inference import ADVI, MAP, FullRankADVI, Inference, Laplace, SVGDInference

__all__ = [
    "ADVI",
    "Approximation",
    "CheckLossConvergence",
    "CheckParametersConvergence",
    "Empirical",
    "FullRankADVI",
    "GuideApproximation",
    "Inference",
    "Laplace",
    "MAP",
    "ParticleApproximation",
    "SVGDInference",
    "Tracker",
    "fit",
    "get_method",
    "register_method",
]
