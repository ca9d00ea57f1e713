"""``TruncatedPolyaGamma``: ``PolyaGamma(1, 0)`` truncated to ``(0, 2.5)``.

The density is the alternating series
``p(x) = (2 pi x^3)^(-1/2) sum_n (-1)^n (2n + 1) exp(-(2n + 1)^2 / (8 x))``,
summed over ``num_log_prob_terms`` terms (accurate to about 1e-6 on the support; the
truncation drops a mass of that order). ``sample`` is a rough approximation (a
truncated sum of ``num_gamma_variates`` exponentials), meant only for initialisation.

Example:
    >>> import torch
    >>> d = TruncatedPolyaGamma(torch.zeros(()))
    >>> round(float(d.log_prob(torch.tensor(0.25))), 4)
    0.604
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.util import EMPTY_SHAPE

__all__ = ["TruncatedPolyaGamma"]


class TruncatedPolyaGamma(TorchDistribution):
    """Truncated ``PolyaGamma(1, 0)``; used e.g. for Polya-Gamma augmentation in HMC.

    Args:
        prototype: any tensor; fixes the dtype and device of samples and log-densities.
    """

    truncation_point = 2.5
    num_log_prob_terms = 7
    num_gamma_variates = 8
    arg_constraints: dict = {}
    support = constraints.interval(0.0, truncation_point)
    has_rsample = False

    def __init__(self, prototype: torch.Tensor, validate_args: bool | None = None) -> None:
        self.prototype = prototype
        super().__init__(batch_shape=torch.Size(), event_shape=torch.Size(),
                         validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> TruncatedPolyaGamma:
        new = self._get_checked_instance(TruncatedPolyaGamma, _instance)
        TorchDistribution.__init__(new, torch.Size(batch_shape), self.event_shape,
                                   validate_args=False)
        new._validate_args = self.__dict__.get("_validate_args")
        new.prototype = self.prototype
        return new

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        p = self.prototype
        k = torch.arange(0.5, self.num_gamma_variates, dtype=p.dtype, device=p.device)
        e = torch.empty(self.batch_shape + torch.Size(sample_shape) + k.shape, dtype=p.dtype,
                        device=p.device).exponential_()
        x = (e / k.pow(2)).sum(-1) * (0.5 / math.pi**2)
        return x.clamp(max=self.truncation_point)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        p = self.prototype
        x = value.unsqueeze(-1)
        odd = 2.0 * torch.arange(self.num_log_prob_terms, dtype=p.dtype, device=p.device) + 1
        log_terms = odd.log() - 1.5 * x.log() - 0.125 * odd.pow(2) / x
        # Sum positive and negative terms separately in log space, then subtract.
        plus = torch.logsumexp(log_terms[..., ::2], -1).exp()
        minus = torch.logsumexp(log_terms[..., 1::2], -1).exp()
        return (plus - minus).log() - 0.5 * math.log(2 * math.pi)
