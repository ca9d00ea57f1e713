"""``ExpandedDistribution``: broadcast a distribution that has no ``expand`` of its own.

Design notes
------------
Every torch distribution implements ``expand``; this wrapper serves user subclasses of
:class:`~ppl.distributions.TorchDistribution` that do not. New batch dims come in two
kinds: *leading* dims (added on the left) and *interstitial* dims (a size-1 base dim
stretched to size ``n``). Both need independent draws, so ``sample`` asks the base for
``sample_shape + new_sizes`` draws (shape ``S + new_sizes + B + E``), pads ``B`` with
leading ones to the new rank, then swaps each drawn dim into the size-1 slot it belongs
to; the vacated slots have size 1 and a final ``reshape`` drops them. ``log_prob`` is the
base's, broadcast to the new batch shape.
"""

from __future__ import annotations

from typing import Any

import torch

from ppl.distributions.util import EMPTY_SHAPE, SizeLike, checked_broadcast
from ppl.distributions.wrapper import WrapperDistribution

__all__ = ["ExpandedDistribution"]


class ExpandedDistribution(WrapperDistribution):
    """Expand ``base_dist`` to ``batch_shape`` with independent draws per new element.

    Args:
        base_dist: any torch distribution.
        batch_shape: a shape the base batch shape broadcasts to.

    Raises:
        ValueError: if ``base_dist.batch_shape`` cannot be broadcast to ``batch_shape``.

    Example:
        >>> import ppl.distributions as dist
        >>> ExpandedDistribution(dist.Normal(torch.zeros(1), 1.0), (4, 3)).sample().shape
        torch.Size([4, 3])
    """

    def __init__(self, base_dist: torch.distributions.Distribution, batch_shape: Any = ()):
        batch_shape = torch.Size(batch_shape)
        base_shape = base_dist.batch_shape
        ok = len(batch_shape) >= len(base_shape) and all(
            b in (1, n) for b, n in zip(reversed(base_shape), reversed(batch_shape))
        )
        if not ok:
            raise ValueError(
                f"ExpandedDistribution: cannot expand {type(base_dist).__name__} with "
                f"batch_shape={tuple(base_shape)} to batch_shape={tuple(batch_shape)}; every "
                f"base dim must equal the new one or be 1 (right-aligned)"
            )
        self._init_wrapper(base_dist, batch_shape)
        pad = len(batch_shape) - len(base_shape)
        padded = (1,) * pad + tuple(base_shape)
        self._new_dims = tuple(
            i for i, (b, n) in enumerate(zip(padded, batch_shape)) if b == 1 and n != 1
        )

    def expand(self, batch_shape: Any, _instance: Any = None) -> ExpandedDistribution:
        """Expand further; like ``Tensor.expand``, existing dims may only grow from 1.

        Raises:
            ValueError: if the current batch shape cannot be expanded to ``batch_shape``
                (a dim would shrink or change, or dims would be dropped).
        """
        batch_shape = torch.Size(batch_shape)
        old = self.batch_shape
        ok = len(batch_shape) >= len(old) and all(
            b in (1, n) for b, n in zip(reversed(old), reversed(batch_shape))
        )
        if not ok:
            raise ValueError(
                f"ExpandedDistribution.expand: cannot expand batch_shape={tuple(old)} to "
                f"{tuple(batch_shape)}; each existing dim must equal the new one or be 1"
            )
        return ExpandedDistribution(self.base_dist, batch_shape)

    def _draw(self, fn: Any, sample_shape: SizeLike) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        new_sizes = tuple(self.batch_shape[i] for i in self._new_dims)
        x = fn(sample_shape + new_sizes)
        s, k = len(sample_shape), len(new_sizes)
        pad = len(self.batch_shape) - len(self.base_dist.batch_shape)
        x = x.reshape(sample_shape + new_sizes + (1,) * pad + x.shape[s + k :])
        for j, dim in enumerate(self._new_dims):
            x = x.transpose(s + j, s + k + dim)
        return x.reshape(sample_shape + self.batch_shape + self.event_shape)

    def sample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        return self._draw(self.base_dist.sample, sample_shape)

    def rsample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        return self._draw(self.base_dist.rsample, sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        shape = checked_broadcast(
            "ExpandedDistribution.log_prob: value batch shape vs batch_shape",
            value.shape[: value.dim() - self.event_dim],
            self.batch_shape,
        )
        return self.base_dist.log_prob(value).expand(shape)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        values = self.base_dist.enumerate_support(expand=False)
        values = values.reshape(values.shape[:1] + (1,) * len(self.batch_shape) + self.event_shape)
        if expand:
            values = values.expand(values.shape[:1] + self.batch_shape + self.event_shape)
        return values

    @property
    def mean(self) -> torch.Tensor:
        return self.base_dist.mean.expand(self.batch_shape + self.event_shape)

    @property
    def variance(self) -> torch.Tensor:
        return self.base_dist.variance.expand(self.batch_shape + self.event_shape)
