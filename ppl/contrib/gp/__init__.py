"""``ppl.contrib.gp``: Gaussian processes (Pyro's ``pyro.contrib.gp``).

Kernels are ``PyroModule``s whose hyperparameters are ``PyroParam`` attributes, so they
live in the global ParamStore and checkpoint with it like any other parameter.

Example:
    >>> import torch
    >>> from ppl.contrib.gp import kernels, models
    >>> X = torch.linspace(0.0, 1.0, 5)
    >>> gpr = models.GPRegression(X, torch.sin(X), kernels.RBF(input_dim=1))
    >>> gpr(X)[0].shape
    torch.Size([5])
"""

from . import kernels, models
from .util import conditional

__all__ = ["conditional", "kernels", "models"]
