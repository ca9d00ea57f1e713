"""``Dirichlet`` and ``Beta`` sampled by normalising independent Gamma draws.

The density is torch's; only ``rsample`` differs: its reparameterized gradients flow
through ``Gamma.rsample`` and are noisier than torch's own Dirichlet gradients, which
makes these handy for testing gradient estimators.

Example:
    >>> import torch
    >>> bool(torch.allclose(NaiveDirichlet(torch.ones(3)).rsample((2,)).sum(-1), torch.ones(2)))
    True
"""

from __future__ import annotations

from typing import Any

import torch

from ppl.distributions.torch_dists import Beta, Dirichlet, Gamma
from ppl.distributions.util import EMPTY_SHAPE, copy_docs_from

__all__ = ["NaiveBeta", "NaiveDirichlet"]


def _normalised_gammas(gamma: Gamma, sample_shape: Any) -> torch.Tensor:
    draws = gamma.rsample(sample_shape)
    return draws / draws.sum(-1, keepdim=True)


@copy_docs_from(Dirichlet)
class NaiveDirichlet(Dirichlet):
    """``Dirichlet(concentration)`` whose ``rsample`` normalises ``Gamma(concentration, 1)``."""

    def __init__(self, concentration: torch.Tensor, validate_args: bool | None = None) -> None:
        super().__init__(concentration)
        self._gamma = Gamma(concentration, torch.ones_like(concentration),
                            validate_args=validate_args)

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        return _normalised_gammas(self._gamma, sample_shape)


@copy_docs_from(Beta)
class NaiveBeta(Beta):
    """``Beta(c1, c0)`` whose ``rsample`` is the first coordinate of a naive Dirichlet."""

    def __init__(self, concentration1: torch.Tensor, concentration0: torch.Tensor,
                 validate_args: bool | None = None) -> None:
        super().__init__(concentration1, concentration0, validate_args=validate_args)
        both = torch.stack([self.concentration1, self.concentration0], -1)
        self._gamma = Gamma(both, torch.ones_like(both))

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        return _normalised_gammas(self._gamma, sample_shape)[..., 0]
