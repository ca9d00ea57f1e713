"""``ScoreParts``: the three terms a gradient estimator needs from one sample site.

A site contributes ``log_prob`` to the ELBO's value, ``score_function`` to the
REINFORCE term (zero for reparameterized sites) and ``entropy_term`` to the pathwise
term. Keeping them in one named tuple lets masks and scales be applied to all three at
once, so an ELBO never forgets to mask one of them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ppl.ops.tensor import Scale, scale_and_mask

__all__ = ["ScoreParts"]

Term = torch.Tensor | float | int


def _scale_and_mask_term(term: Term, scale: Scale, mask: torch.Tensor | bool | None) -> Term:
    if isinstance(term, torch.Tensor):
        return scale_and_mask(term, scale, mask)
    if term == 0 or mask is False:
        return 0
    if isinstance(mask, torch.Tensor):
        full = torch.full(mask.shape, float(term), device=mask.device)
        return scale_and_mask(full, scale, mask)
    return term * scale


class ScoreParts(NamedTuple):
    """``(log_prob, score_function, entropy_term)`` of one site; zeros may be numbers.

    Example:
        >>> parts = ScoreParts(torch.tensor([1.0, 2.0]), 0, torch.tensor([1.0, 2.0]))
        >>> parts.scale_and_mask(2.0, torch.tensor([True, False])).log_prob
        tensor([2., 0.])
    """

    log_prob: torch.Tensor
    score_function: Term
    entropy_term: Term

    def scale_and_mask(
        self, scale: Scale = 1.0, mask: torch.Tensor | bool | None = None
    ) -> ScoreParts:
        """Multiply every term by ``scale`` and zero it where ``mask`` is False."""
        return ScoreParts(
            scale_and_mask(self.log_prob, scale, mask),
            _scale_and_mask_term(self.score_function, scale, mask),
            _scale_and_mask_term(self.entropy_term, scale, mask),
        )
