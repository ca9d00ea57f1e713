"""``ExtendedBinomial``/``ExtendedBetaBinomial``: counts whose ``log_prob`` is ``-inf`` (not an
error) outside ``[0, total_count]``, and which accept any integer ``total_count``.

Example:
    >>> import torch
    >>> ExtendedBinomial(torch.tensor(2.0), torch.tensor(0.5)).log_prob(torch.tensor(3.0))
    tensor(-inf)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints

from ppl.distributions.conjugate import BetaBinomial
from ppl.distributions.torch_dists import Binomial
from ppl.distributions.util import EMPTY_SHAPE


class _Integer(constraints.Constraint):
    """Any integer value (negative ones included)."""

    is_discrete = True

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return value % 1 == 0


_integer = _Integer()


def _outside(value: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return (value < 0) | (value > n) | (n < 0)


class ExtendedBinomial(Binomial):
    """:class:`Binomial` with integer support and ``-inf`` log density off ``[0, n]``."""

    arg_constraints = {
        "total_count": _integer,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    support = _integer

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        n = self.total_count
        bad = _outside(value, n)
        safe_n = n.clamp(min=0)
        safe_value = torch.where(bad, torch.zeros_like(value), value).clamp(max=safe_n)
        lp = Binomial(safe_n, logits=self.logits, validate_args=False).log_prob(safe_value)
        return torch.where(bad, torch.full_like(lp, -math.inf), lp)


class ExtendedBetaBinomial(BetaBinomial):
    """:class:`BetaBinomial` with integer support and ``-inf`` log density off ``[0, n]``."""

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
        "total_count": _integer,
    }
    support = _integer  # type: ignore[assignment]

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        n = self.total_count
        bad = _outside(value, n)
        safe_n = n.clamp(min=0)
        safe_value = torch.where(bad, torch.zeros_like(value), value).clamp(max=safe_n)
        base = BetaBinomial(self.concentration1, self.concentration0, safe_n, validate_args=False)
        lp = base.log_prob(safe_value)
        return torch.where(bad, torch.full_like(lp, -math.inf), lp)

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        base = BetaBinomial(
            self.concentration1,
            self.concentration0,
            self.total_count.clamp(min=0),
            validate_args=False,
        )
        return base.sample(sample_shape)
