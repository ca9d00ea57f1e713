"""GP models (Pyro's ``pyro.contrib.gp.models``).

Example:
    >>> from ppl.contrib.gp.models import GPRegression, SparseGPRegression
"""

from .gplvm import GPLVM
from .gpr import GPRegression
from .model import GPModel
from .sgpr import SparseGPRegression
from .vgp import VariationalGP
from .vsgp import VariationalSparseGP

__all__ = [
    "GPLVM",
    "GPModel",
    "GPRegression",
    "SparseGPRegression",
    "VariationalGP",
    "VariationalSparseGP",
]
