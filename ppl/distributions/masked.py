"""``MaskedDistribution``: zero the log-density where a boolean mask is False.

Design notes
------------
The mask broadcasts with the base batch shape (the batch shape may grow, as in Pyro).
``log_prob`` multiplies by nothing: it selects with ``torch.where``, so a masked-out
entry is exactly ``0`` even when the base ``log_prob`` is ``nan`` or ``inf`` there. The
*gradient* of a masked-out entry is not protected, though: autograd still multiplies
the zero incoming gradient by the base's local derivative, and ``0 * inf`` is ``nan``.
Keep masked-out values finite (any placeholder inside the support) when you
differentiate. A Python ``False`` mask skips the base computation entirely, values and
gradients. Sampling is the base's (masking only affects scoring).

Validation stays the base's: with validation on, a value outside the support raises
even where it is masked; observe only valid placeholders at masked positions (the
``obs_mask`` machinery of ``ppl.sample`` does this).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions.kl import kl_divergence, register_kl

from ppl.distributions.score_parts import ScoreParts
from ppl.distributions.util import EMPTY_SHAPE, SizeLike, checked_broadcast, expand_to
from ppl.distributions.wrapper import WrapperDistribution
from ppl.ops.tensor import scale_and_mask

__all__ = ["MaskedDistribution"]


class MaskedDistribution(WrapperDistribution):
    """Mask a distribution's log-density by a boolean (tensor).

    Args:
        base_dist: any torch distribution.
        mask: a Python bool or a tensor broadcastable with ``base_dist.batch_shape``;
            non-bool tensors are converted with ``.bool()``.

    Raises:
        TypeError: if ``base_dist`` is not a distribution or ``mask`` is neither a bool
            nor a tensor.
        ValueError: if ``mask.shape`` does not broadcast with the batch shape.

    Example:
        >>> import ppl.distributions as dist
        >>> d = MaskedDistribution(dist.Normal(torch.zeros(3), 1.0), torch.tensor([1, 0, 1]))
        >>> d.log_prob(torch.zeros(3))
        tensor([-0.9189,  0.0000, -0.9189])
    """

    def __init__(self, base_dist: torch.distributions.Distribution, mask: bool | torch.Tensor):
        if not isinstance(base_dist, torch.distributions.Distribution):
            raise TypeError(
                f"MaskedDistribution: base_dist must be a torch Distribution but got "
                f"{type(base_dist).__name__}"
            )
        if isinstance(mask, bool):
            self._mask: bool | torch.Tensor = mask
        elif isinstance(mask, torch.Tensor):
            batch_shape = checked_broadcast(
                "MaskedDistribution: mask.shape vs batch_shape", mask.shape, base_dist.batch_shape
            )
            mask = mask.bool()
            if mask.shape != batch_shape:
                mask = mask.expand(batch_shape)
            base_dist = expand_to(base_dist, batch_shape)
            self._mask = mask
        else:
            raise TypeError(
                f"{type(base_dist).__name__}.mask: expected a bool or a bool tensor but got "
                f"{type(mask).__name__}; pass e.g. torch.tensor([True, False])"
            )
        self._init_wrapper(base_dist, base_dist.batch_shape)

    def expand(self, batch_shape: Any, _instance: Any = None) -> MaskedDistribution:
        new = self._get_checked_instance(MaskedDistribution, _instance)
        batch_shape = torch.Size(batch_shape)
        new.base_dist = expand_to(self.base_dist, batch_shape)
        new._mask = self._mask
        if isinstance(new._mask, torch.Tensor):
            new._mask = new._mask.expand(batch_shape)
        super(MaskedDistribution, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._mask is False:
            shape = checked_broadcast(
                "MaskedDistribution.log_prob: value batch shape vs batch_shape",
                value.shape[: value.dim() - self.event_dim],
                self.batch_shape,
            )
            dtype = value.dtype if value.is_floating_point() else torch.get_default_dtype()
            return value.new_zeros((), dtype=dtype).expand(shape)
        log_prob = self.base_dist.log_prob(value)
        if self._mask is True:
            return log_prob
        return scale_and_mask(log_prob, mask=self._mask)

    def score_parts(self, value: torch.Tensor) -> ScoreParts:
        if isinstance(self._mask, bool):
            return super().score_parts(value)
        parts = getattr(self.base_dist, "score_parts", None)
        if parts is None:
            return super().score_parts(value)
        return parts(value).scale_and_mask(mask=self._mask)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        return self.base_dist.enumerate_support(expand=expand)

    @property
    def mean(self) -> torch.Tensor:
        return self.base_dist.mean

    @property
    def variance(self) -> torch.Tensor:
        return self.base_dist.variance


def _combine_masks(p: bool | torch.Tensor, q: bool | torch.Tensor) -> bool | torch.Tensor:
    if p is False or q is False:
        return False
    if p is True:
        return q
    if q is True or p is q:
        return p
    assert isinstance(p, torch.Tensor) and isinstance(q, torch.Tensor)  # internal invariant
    return p & q


@register_kl(MaskedDistribution, MaskedDistribution)
def _kl_masked_masked(p: MaskedDistribution, q: MaskedDistribution) -> torch.Tensor | float:
    """KL of two masked distributions: the base KL, zero where either mask is False."""
    mask = _combine_masks(p._mask, q._mask)
    if mask is False:
        return 0.0
    kl = kl_divergence(p.base_dist, q.base_dist)
    if mask is True:
        return kl
    return scale_and_mask(kl, mask=mask)
