"""``Rejector``: a distribution sampled by accept/reject from a proposal.

With proposal density ``q``, acceptance probability ``a(x) = exp(log_prob_accept(x))``
and total acceptance probability ``Z = exp(log_scale)``, accepted draws have density
``p(x) = q(x) a(x) / Z``. Sampling is batched: every batch element keeps proposing
until it accepts. ``score_parts`` treats the acceptance step as a score-function term,
so reparameterized proposals give unbiased gradients through rejection sampling
(Naesseth et al. 2017).

Example:
    >>> import torch
    >>> from ppl.distributions.torch_dists import Exponential
    >>> r = Rejector(Exponential(torch.tensor(1.0)), lambda x: -x, torch.tensor(0.5).log())
    >>> round(float(r.log_prob(torch.tensor(1.0))), 4)  # Exponential(2) at 1
    -1.3069
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ppl.distributions.score_parts import ScoreParts
from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.util import EMPTY_SHAPE

__all__ = ["Rejector"]


class Rejector(TorchDistribution):
    """Rejection-sampled distribution given a proposal and an acceptance rate.

    Args:
        propose: proposal distribution (any callable ``propose(sample_shape)`` with a
            ``log_prob``; ``sample_shape`` is passed only when non-empty).
        log_prob_accept: maps a batch of proposals to log acceptance probabilities.
        log_scale: log of the total acceptance probability (the normaliser).
        batch_shape, event_shape: default to the proposal's.
    """

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(
        self,
        propose: Any,
        log_prob_accept: Callable[[torch.Tensor], torch.Tensor],
        log_scale: Any,
        *,
        batch_shape: Any = None,
        event_shape: Any = None,
    ) -> None:
        self.propose = propose
        self.log_prob_accept = log_prob_accept
        self._log_scale = log_scale
        if batch_shape is None:
            batch_shape = propose.batch_shape
        if event_shape is None:
            event_shape = propose.event_shape
        super().__init__(torch.Size(batch_shape), torch.Size(event_shape))
        # One-entry caches keyed by the identity of the value, shared by log_prob and
        # score_parts (which both need the two terms for the same draw).
        self._accept_cache: tuple[Any, Any] = (None, None)
        self._propose_cache: tuple[Any, Any] = (None, None)

    def _draw(self, sample_shape: torch.Size) -> torch.Tensor:
        return self.propose(sample_shape) if sample_shape else self.propose()

    def _log_accept(self, x: torch.Tensor) -> torch.Tensor:
        if x is not self._accept_cache[0]:
            self._accept_cache = (x, self.log_prob_accept(x) - self._log_scale)
        return self._accept_cache[1]

    def _log_propose(self, x: torch.Tensor) -> torch.Tensor:
        if x is not self._propose_cache[0]:
            self._propose_cache = (x, self.propose.log_prob(x))
        return self._propose_cache[1]

    def _accepts(self, x: torch.Tensor) -> torch.Tensor:
        prob = self.log_prob_accept(x).exp().clamp(0.0, 1.0)
        return torch.bernoulli(prob).bool()

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        x = self._draw(sample_shape)
        done = self._accepts(x)
        while not bool(done.all()):
            candidate = self._draw(sample_shape)
            take = self._accepts(candidate) & ~done
            if bool(take.any()):
                # Accept/reject is per batch element; broadcast over event dims.
                where = take.reshape(take.shape + (1,) * (x.dim() - take.dim()))
                x = torch.where(where, candidate, x)
                done = done | take
        return x

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self._log_propose(value) + self._log_accept(value)

    def score_parts(self, value: torch.Tensor) -> ScoreParts:
        log_prob = self.log_prob(value)
        return ScoreParts(log_prob=log_prob, score_function=self._log_accept(value),
                          entropy_term=log_prob)

