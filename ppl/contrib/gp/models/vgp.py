"""Variational GP: a Gaussian guide on ``f(X)`` for any likelihood (Pyro's ``VariationalGP``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import constraints
from torch.nn import Parameter

import ppl
import ppl.distributions as dist
from ppl.nn import PyroParam, pyro_method

from ..kernels.kernel import Kernel
from ..likelihoods.likelihood import Likelihood
from ..util import conditional
from .model import GPModel

__all__ = ["VariationalGP"]


def latent_batch(y: torch.Tensor | None, latent_shape: torch.Size | None) -> torch.Size:
    """The batch shape of the latent GPs: ``latent_shape`` or else ``y``'s batch shape."""
    if latent_shape is not None:
        return torch.Size(latent_shape)
    return y.shape[:-1] if y is not None else torch.Size()


def identity_scale(like: torch.Tensor, n: int, batch: torch.Size) -> torch.Tensor:
    """``batch`` copies of the ``n x n`` identity, on ``like``'s dtype/device."""
    eye = torch.eye(n, dtype=like.dtype, device=like.device)
    return eye.expand(batch + eye.shape).clone()


class VariationalGP(GPModel):
    """``f ~ GP(mean, kernel)``, ``y | f ~ likelihood``, with the guide ``q(f(X)) =
    MultivariateNormal(f_loc, f_scale_tril)`` (Opper & Archambeau, 2009).

    Cost ``O(N^3)``; for large ``N`` use :class:`VariationalSparseGP`.

    Args:
        X: inputs ``(N, ...)``.
        y: outputs ``(..., N)``, or None.
        kernel: the covariance function.
        likelihood: a :class:`~ppl.contrib.gp.likelihoods.Likelihood`.
        mean_function: prior mean, default zero.
        latent_shape: batch shape of independent latent GPs (default ``y.shape[:-1]``;
            e.g. ``(num_classes,)`` for ``MultiClass``).
        whiten: parameterise the guide of ``u = L^-1 (f - mean)`` (often faster to fit).
        jitter: diagonal jitter for the Cholesky.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> from ppl.contrib.gp.likelihoods import Gaussian
        >>> X = torch.linspace(0, 1, 5)
        >>> vgp = VariationalGP(X, torch.sin(X), RBF(1), Gaussian())
        >>> vgp(X)[1].shape
        torch.Size([5])
    """

    f_scale_tril: torch.Tensor

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None,
        kernel: Kernel,
        likelihood: Likelihood,
        mean_function: Callable[[torch.Tensor], Any] | None = None,
        latent_shape: torch.Size | None = None,
        whiten: bool = False,
        jitter: float = 1e-6,
    ) -> None:
        super().__init__(X, y, kernel, mean_function, jitter)
        self.likelihood = likelihood
        self.latent_shape = latent_batch(self.y, latent_shape)
        N = self.X.size(0)
        self.f_loc = Parameter(self.X.new_zeros(self.latent_shape + (N,)))
        self.f_scale_tril = PyroParam(  # type: ignore[assignment]
            identity_scale(self.X, N, self.latent_shape), constraints.lower_cholesky
        )
        self.whiten = whiten
        self._sample_latent = True

    def _prior_scale(self, Lff: torch.Tensor) -> torch.Tensor:
        if self.whiten:
            return torch.eye(Lff.size(-1), dtype=Lff.dtype, device=Lff.device)
        return Lff

    @pyro_method
    def model(self) -> Any:
        """Sample ``f(X)`` from the prior, then ``y`` from the likelihood at ``q``'s marginals."""
        self.set_mode("model")
        Lff = self._cholesky(self.kernel(self.X))
        f_loc_param = self.f_loc
        zero_loc = torch.zeros_like(f_loc_param)
        prior = dist.MultivariateNormal(zero_loc, scale_tril=self._prior_scale(Lff))
        ppl.sample(self._pyro_get_fullname("f"), prior.to_event(zero_loc.dim() - 1))
        if self.whiten:
            f_scale_tril = Lff @ self.f_scale_tril
            f_loc = (Lff @ f_loc_param.unsqueeze(-1)).squeeze(-1)
        else:
            f_scale_tril = self.f_scale_tril
            f_loc = f_loc_param
        f_loc = f_loc + self.mean_function(self.X)
        f_var = f_scale_tril.pow(2).sum(-1)
        if self.y is None:
            return f_loc, f_var
        return self.likelihood(f_loc, f_var, self.y)

    @pyro_method
    def guide(self) -> None:
        """``q(f(X))`` (plus hyperparameter guides)."""
        self.set_mode("guide")
        self._load_pyro_samples()
        f_loc = self.f_loc
        q = dist.MultivariateNormal(f_loc, scale_tril=self.f_scale_tril)
        ppl.sample(self._pyro_get_fullname("f"), q.to_event(f_loc.dim() - 1))

    def forward(
        self, Xnew: torch.Tensor, full_cov: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and (co)variance of ``q(f(Xnew))``, of shapes ``latent_shape + (T,)``
        and ``latent_shape + (T, T)`` or ``latent_shape + (T,)``."""
        self._check_Xnew_shape(Xnew)
        self.set_mode("guide")
        loc, cov = conditional(
            Xnew,
            self.X,
            self.kernel,
            self.f_loc,
            self.f_scale_tril,
            full_cov=full_cov,
            whiten=self.whiten,
            jitter=self.jitter,
        )
        return loc + self.mean_function(Xnew), cov
