"""``LowerCholeskyAffine`` for the autoguides; it lives in :mod:`ppl.distributions.transforms`."""

from ppl.distributions.transforms.lower_cholesky_affine import LowerCholeskyAffine

__all__ = ["LowerCholeskyAffine"]
