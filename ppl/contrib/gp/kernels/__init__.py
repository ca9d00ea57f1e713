"""GP covariance functions (Pyro's ``pyro.contrib.gp.kernels``).

Example:
    >>> import torch
    >>> from ppl.contrib.gp.kernels import Matern52
    >>> Matern52(1)(torch.zeros(2), diag=True).tolist()
    [1.0, 1.0]
"""

from .isotropy import RBF, Exponential, Isotropy, Matern32, Matern52
from .kernel import Kernel

__all__ = ["RBF", "Exponential", "Isotropy", "Kernel", "Matern32", "Matern52"]
