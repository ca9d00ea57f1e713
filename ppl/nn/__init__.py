"""``ppl.nn``: ``PyroModule`` and friends, Pyro's Bayesian ``nn.Module`` (``pyro.nn``).

Also the networks flows are built on: :mod:`.auto_reg_nn` (MADE) and :mod:`.dense_nn`.

Example:
    >>> import ppl as pyro, ppl.distributions as dist
    >>> from ppl.nn import PyroModule, PyroParam, PyroSample
"""

from .attributes import PyroParam, PyroSample
from .auto_reg_nn import AutoRegressiveNN, ConditionalAutoRegressiveNN, MaskedLinear
from .context import ModuleContext, pyro_method
from .dense_nn import ConditionalDenseNN, DenseNN
from .module import PyroModule, PyroModuleList, clear, to_pyro_module_

__all__ = [
    "AutoRegressiveNN",
    "ConditionalAutoRegressiveNN",
    "ConditionalDenseNN",
    "DenseNN",
    "MaskedLinear",
    "ModuleContext",
    "PyroModule",
    "PyroModuleList",
    "PyroParam",
    "PyroSample",
    "clear",
    "pyro_method",
    "to_pyro_module_",
]
