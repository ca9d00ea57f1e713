"""Zero-inflated distributions: with probability ``gate`` the value is an extra zero.

``p(0) = gate + (1 - gate) base(0)`` and ``p(y) = (1 - gate) base(y)`` for ``y != 0``.
The gate may be given as a probability (``gate``) or as log-odds (``gate_logits``,
evaluated stably with softplus).

Example:
    >>> import torch
    >>> d = ZeroInflatedPoisson(torch.tensor(2.0), gate=torch.tensor(0.25))
    >>> round(float(d.log_prob(torch.tensor(0.0)).exp()), 4)  # 0.25 + 0.75 * exp(-2)
    0.3515
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import (
    broadcast_all,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
)
from torch.nn.functional import softplus

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.torch_dists import NegativeBinomial, Poisson
from ppl.distributions.util import EMPTY_SHAPE
from ppl.ops.tensor import broadcast_shape

__all__ = ["ZeroInflatedDistribution", "ZeroInflatedNegativeBinomial", "ZeroInflatedPoisson"]


class ZeroInflatedDistribution(TorchDistribution):
    """A scalar ``base_dist`` mixed with a point mass at zero.

    Args:
        base_dist: a distribution with empty ``event_shape``.
        gate: probability of an extra zero (exactly one of ``gate``/``gate_logits``).
        gate_logits: log-odds of an extra zero.

    Raises:
        ValueError: if both or neither gate argument is given, or the base has event dims.
    """

    arg_constraints = {"gate": constraints.unit_interval, "gate_logits": constraints.real}

    def __init__(self, base_dist: Any, *, gate: torch.Tensor | None = None,
                 gate_logits: torch.Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        if (gate is None) == (gate_logits is None):
            raise ValueError("Either `gate` or `gate_logits` must be specified, but not both.")
        if base_dist.event_shape:
            raise ValueError(
                f"ZeroInflatedDistribution expected empty base_dist.event_shape but got "
                f"{base_dist.event_shape}"
            )
        given = gate if gate is not None else gate_logits
        assert given is not None
        batch_shape = broadcast_shape(given.shape, base_dist.batch_shape)
        if gate is not None:
            self.gate = gate.expand(batch_shape)
        else:
            assert gate_logits is not None
            self.gate_logits = gate_logits.expand(batch_shape)
        self.base_dist = base_dist.expand(batch_shape)
        super().__init__(batch_shape, torch.Size(), validate_args)

    @constraints.dependent_property
    def support(self) -> Any:  # type: ignore[override]
        return self.base_dist.support

    @lazy_property
    def gate(self) -> torch.Tensor:
        return logits_to_probs(self.gate_logits, is_binary=True)

    @lazy_property
    def gate_logits(self) -> torch.Tensor:
        return probs_to_logits(self.gate, is_binary=True)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        if "gate" in self.__dict__:
            gate, value = broadcast_all(self.gate, value)
            lp = (-gate).log1p() + self.base_dist.log_prob(value)
            return torch.where(value == 0, (gate + lp.exp()).log(), lp)
        logits, value = broadcast_all(self.gate_logits, value)
        # log(1 - gate) = log(gate) - logits; log(gate) = -softplus(-logits).
        log_gate = -softplus(-logits)
        lp_minus_log_gate = self.base_dist.log_prob(value) - logits
        lp = lp_minus_log_gate + log_gate
        return torch.where(value == 0, softplus(lp_minus_log_gate) + log_gate, lp)

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            extra_zero = torch.bernoulli(self.gate.expand(shape)).bool()
            x = self.base_dist.expand(shape).sample()
            return torch.where(extra_zero, x.new_zeros(()), x)

    @lazy_property
    def mean(self) -> torch.Tensor:
        return (1 - self.gate) * self.base_dist.mean

    @lazy_property
    def variance(self) -> torch.Tensor:
        b = self.base_dist
        return (1 - self.gate) * (b.mean.pow(2) + b.variance) - self.mean.pow(2)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        gate = self.__dict__.get("gate")
        logits = self.__dict__.get("gate_logits")
        ZeroInflatedDistribution.__init__(
            new,
            self.base_dist.expand(batch_shape),
            gate=None if gate is None else gate.expand(batch_shape),
            gate_logits=None if (gate is not None or logits is None)
            else logits.expand(batch_shape),
            validate_args=False,
        )
        new._validate_args = self._validate_args
        return new


class ZeroInflatedPoisson(ZeroInflatedDistribution):
    """Zero-inflated ``Poisson(rate)``.

    Args:
        rate: positive Poisson rate.
        gate, gate_logits: probability / log-odds of an extra zero (one of them).
    """

    arg_constraints = {
        "rate": constraints.positive,
        "gate": constraints.unit_interval,
        "gate_logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(self, rate: Any, *, gate: torch.Tensor | None = None,
                 gate_logits: torch.Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        base = Poisson(rate=rate, validate_args=False)
        base._validate_args = bool(validate_args)
        super().__init__(base, gate=gate, gate_logits=gate_logits, validate_args=validate_args)

    @property
    def rate(self) -> torch.Tensor:
        return self.base_dist.rate


class ZeroInflatedNegativeBinomial(ZeroInflatedDistribution):
    """Zero-inflated ``NegativeBinomial(total_count, probs=... or logits=...)``.

    Args:
        total_count: non-negative number of failures.
        probs, logits: success probability in ``[0, 1)`` or its log-odds (one of them).
        gate, gate_logits: probability / log-odds of an extra zero (one of them).
    """

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0),
        "probs": constraints.half_open_interval(0.0, 1.0),
        "logits": constraints.real,
        "gate": constraints.unit_interval,
        "gate_logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(self, total_count: Any, *, probs: Any = None, logits: Any = None,
                 gate: torch.Tensor | None = None, gate_logits: torch.Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        base = NegativeBinomial(total_count=total_count, probs=probs, logits=logits,
                                validate_args=False)
        base._validate_args = bool(validate_args)
        super().__init__(base, gate=gate, gate_logits=gate_logits, validate_args=validate_args)

    @property
    def total_count(self) -> torch.Tensor:
        return self.base_dist.total_count

    @property
    def probs(self) -> torch.Tensor:
        return self.base_dist.probs

    @property
    def logits(self) -> torch.Tensor:
        return self.base_dist.logits
