"""``HaarReparam``: sample a time series in the Haar wavelet basis.

Like :class:`~.discrete_cosine.DiscreteCosineReparam` but with the orthonormal Haar
transform, whose basis functions are local in time: long-range coupling along the
axis becomes nearly diagonal posterior covariance among wavelet coefficients.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.Normal(torch.zeros(8), 1.0).to_event(1))
    >>> tr = ppl.poutine.trace(ppl.poutine.reparam(model, {"x": HaarReparam()})).get_trace()
    >>> tr.stochastic_nodes
    ['x_haar']
"""

from __future__ import annotations

from ...distributions.transforms import HaarTransform
from .unit_jacobian import UnitJacobianReparam

__all__ = ["HaarReparam"]


class HaarReparam(UnitJacobianReparam):
    """Rewrite a latent site as its Haar wavelet coefficients ``<site>_haar``.

    Args:
        dim: the (negative, event) dim to transform along.
        flip: reverse the axis before transforming.
        experimental_allow_batch: not supported by ppl (see
            :class:`~.unit_jacobian.UnitJacobianReparam`).
    """

    def __init__(
        self, dim: int = -1, flip: bool = False, *, experimental_allow_batch: bool = False
    ) -> None:
        transform = HaarTransform(dim=dim, flip=flip, cache_size=1)
        super().__init__(
            transform, suffix="haar", experimental_allow_batch=experimental_allow_batch
        )
