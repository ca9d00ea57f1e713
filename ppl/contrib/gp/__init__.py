"""``ppl.contrib.gp``: Gaussian processes (Pyro's ``pyro.contrib.gp``).

* :mod:`.kernels`: covariance functions and their algebra;
* :mod:`.likelihoods`: observation models for variational GPs;
* :mod:`.models`: exact, sparse, variational and latent-variable GP models;
* :mod:`.parameterized`: ``Parameterized``, the ``PyroModule`` base with auto-guides;
* :mod:`.util`: ``conditional`` and ``train``.

Hyperparameters are ``PyroParam`` attributes (point estimates) or, after
``module.attr = PyroSample(prior)``, random with automatic guides.

Example:
    >>> import torch
    >>> from ppl.contrib.gp import kernels, models
    >>> X = torch.linspace(0.0, 1.0, 5)
    >>> gpr = models.GPRegression(X, torch.sin(X), kernels.RBF(input_dim=1))
    >>> gpr(X)[0].shape
    torch.Size([5])
"""

from . import kernels, likelihoods, models, parameterized, util
from .parameterized import Parameterized
from .util import conditional, train

__all__ = [
    "Parameterized",
    "conditional",
    "kernels",
    "likelihoods",
    "models",
    "parameterized",
    "train",
    "util",
]
