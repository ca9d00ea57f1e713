"""``ppl.nn``: ``PyroModule`` and friends, Pyro's Bayesian ``nn.Module`` (``pyro.nn``).

Example:
    >>> import ppl as pyro, ppl.distributions as dist
    >>> from ppl.nn import PyroModule, PyroParam, PyroSample
"""

from .attributes import PyroParam, PyroSample
from .context import ModuleContext, pyro_method
from .module import PyroModule, PyroModuleList, clear, to_pyro_module_

__all__ = [
    "ModuleContext",
    "PyroModule",
    "PyroModuleList",
    "PyroParam",
    "PyroSample",
    "clear",
    "pyro_method",
    "to_pyro_module_",
]
