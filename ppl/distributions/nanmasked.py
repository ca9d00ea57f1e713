"""Normal likelihoods that ignore missing data marked as ``nan`` in the observed value.

* ``NanMaskedNormal``: a non-finite entry contributes exactly zero to ``log_prob``.
* ``NanMaskedMultivariateNormal``: non-finite coordinates are marginalised out, so each
  row scores the Gaussian marginal of its observed coordinates (zero if none).

Example:
    >>> import math, torch
    >>> NanMaskedNormal(0.0, 1.0).log_prob(torch.tensor([0.0, math.nan]))
    tensor([-0.9189,  0.0000])
"""

from __future__ import annotations

import torch

from ppl.distributions.torch_dists import MultivariateNormal, Normal

__all__ = ["NanMaskedMultivariateNormal", "NanMaskedNormal"]


class NanMaskedNormal(Normal):
    """``Normal`` whose ``log_prob`` is 0 at ``nan``/``inf`` entries of the value."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        ok = value.isfinite()
        if bool(ok.all()):
            return super().log_prob(value)
        value, ok, loc, scale = torch.broadcast_tensors(value, ok, self.loc, self.scale)
        safe = torch.where(ok, value, loc.detach())
        lp = Normal(loc, scale, validate_args=False).log_prob(safe)
        return torch.where(ok, lp, lp.new_zeros(()))


class NanMaskedMultivariateNormal(MultivariateNormal):
    """``MultivariateNormal`` marginalising out the non-finite coordinates of each value."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        ok = value.isfinite()
        if bool(ok.all()):
            return super().log_prob(value)
        value, ok, loc = torch.broadcast_tensors(value, ok, self.loc)
        p = value.shape[-1]
        out_shape = value.shape[:-1]
        n = out_shape.numel()
        cov = self.covariance_matrix.expand(loc.shape + (p,)).reshape(n, p, p)
        value, ok, loc = value.reshape(n, p), ok.reshape(n, p), loc.reshape(n, p)
        result = value.new_zeros(n)
        # One marginal per distinct pattern of observed coordinates.
        for pattern in torch.unique(ok, dim=0):
            if not bool(pattern.any()):
                continue
            rows = (ok == pattern).all(-1)
            cols = pattern.nonzero().squeeze(-1)
            sub_cov = cov[rows][:, cols][:, :, cols]
            marginal = MultivariateNormal(loc[rows][:, cols], sub_cov, validate_args=False)
            result = result.index_put((rows.nonzero().squeeze(-1),),
                                      marginal.log_prob(value[rows][:, cols]))
        return result.reshape(out_shape)
