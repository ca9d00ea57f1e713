"""GP likelihoods (Pyro's ``pyro.contrib.gp.likelihoods``).

Example:
    >>> import torch
    >>> from ppl.contrib.gp.likelihoods import Gaussian
    >>> Gaussian()(torch.zeros(2), torch.ones(2)).shape
    torch.Size([2])
"""

from .binary import Binary
from .gaussian import Gaussian
from .likelihood import Likelihood
from .multi_class import MultiClass
from .poisson import Poisson

__all__ = ["Binary", "Gaussian", "Likelihood", "MultiClass", "Poisson"]
