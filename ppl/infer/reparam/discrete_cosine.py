"""``DiscreteCosineReparam``: sample a time series in the frequency domain (DCT-II).

Useful for sequential models whose coupling along a time-like axis makes the
posterior strongly correlated there: in the (orthonormal) DCT basis the posterior
covariance is closer to diagonal. ``smooth`` rescales frequencies: ``smooth=1`` turns
Brownian noise into white noise, ``smooth=2`` suits continuously differentiable
series, ``smooth=0`` keeps white noise white.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.Normal(torch.zeros(8), 1.0).to_event(1))
    >>> tr = ppl.poutine.trace(
    ...     ppl.poutine.reparam(model, {"x": DiscreteCosineReparam()})).get_trace()
    >>> tr.stochastic_nodes
    ['x_dct']
"""

from __future__ import annotations

from ...distributions.transforms import DiscreteCosineTransform
from .unit_jacobian import UnitJacobianReparam

__all__ = ["DiscreteCosineReparam"]


class DiscreteCosineReparam(UnitJacobianReparam):
    """Rewrite a latent site as its DCT coefficients ``<site>_dct``.

    Args:
        dim: the (negative, event) dim to transform along.
        smooth: frequency scaling exponent (any real; see the module docstring).
        experimental_allow_batch: not supported by ppl (see
            :class:`~.unit_jacobian.UnitJacobianReparam`).
    """

    def __init__(
        self, dim: int = -1, smooth: float = 0.0, *, experimental_allow_batch: bool = False
    ) -> None:
        transform = DiscreteCosineTransform(dim=dim, smooth=smooth, cache_size=1)
        super().__init__(transform, suffix="dct", experimental_allow_batch=experimental_allow_batch)
