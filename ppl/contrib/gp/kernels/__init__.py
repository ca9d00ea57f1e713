"""GP covariance functions (Pyro's ``pyro.contrib.gp.kernels``).

Example:
    >>> import torch
    >>> from ppl.contrib.gp.kernels import Matern52
    >>> Matern52(1)(torch.zeros(2), diag=True).tolist()
    [1.0, 1.0]
"""

from .brownian import Brownian
from .coregionalize import Coregionalize
from .dot_product import DotProduct, Linear, Polynomial
from .isotropic import RBF, Exponential, Isotropy, Matern32, Matern52, RationalQuadratic
from .kernel import (
    Combination,
    Exponent,
    Kernel,
    Product,
    Sum,
    Transforming,
    VerticalScaling,
    Warping,
)
from .periodic import Cosine, Periodic
from .static import Constant, WhiteNoise

__all__ = [
    "RBF",
    "Brownian",
    "Combination",
    "Constant",
    "Coregionalize",
    "Cosine",
    "DotProduct",
    "Exponent",
    "Exponential",
    "Isotropy",
    "Kernel",
    "Linear",
    "Matern32",
    "Matern52",
    "Periodic",
    "Polynomial",
    "Product",
    "RationalQuadratic",
    "Sum",
    "Transforming",
    "VerticalScaling",
    "Warping",
    "WhiteNoise",
]
