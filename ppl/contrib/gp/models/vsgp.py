"""Sparse variational GP with inducing points (Hensman et al., 2013/2015).

The guide is ``q(u) = MultivariateNormal(u_loc, u_scale_tril)`` on ``u = f(Xu)``;
``f(X)`` follows from ``conditional`` given ``u``, and the likelihood sees its
marginals. The ELBO term of the data is rescaled by ``num_data / N`` so ``X`` may be a
mini-batch (``set_data`` each step). Cost ``O(N M^2)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import constraints
from torch.nn import Parameter

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.nn import PyroParam, pyro_method

from ..kernels.kernel import Kernel
from ..likelihoods.likelihood import Likelihood
from ..util import conditional
from .model import GPModel
from .vgp import identity_scale, latent_batch

__all__ = ["VariationalSparseGP"]


class VariationalSparseGP(GPModel):
    """Sparse variational GP for any likelihood and mini-batches.

    Args:
        X: inputs ``(N, ...)``.
        y: outputs ``(..., N)``, or None.
        kernel: the covariance function.
        Xu: initial inducing inputs ``(M, ...)`` (an ``nn.Parameter``).
        likelihood: a :class:`~ppl.contrib.gp.likelihoods.Likelihood`.
        mean_function: prior mean, default zero.
        latent_shape: batch shape of the latent GPs (default ``y.shape[:-1]``).
        num_data: size of the full data set when ``X`` is a mini-batch (default N).
        whiten: parameterise ``q`` on ``L_uu^-1 u``.
        jitter: diagonal jitter for the Cholesky of ``K_uu``.

    Raises:
        TypeError: ``Xu`` is not a tensor.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> from ppl.contrib.gp.likelihoods import Gaussian
        >>> X = torch.linspace(0, 1, 8)
        >>> vsgp = VariationalSparseGP(X, torch.sin(X), RBF(1), X[::2].clone(), Gaussian())
        >>> vsgp(X)[0].shape
        torch.Size([8])
    """

    u_scale_tril: torch.Tensor

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None,
        kernel: Kernel,
        Xu: torch.Tensor,
        likelihood: Likelihood,
        mean_function: Callable[[torch.Tensor], Any] | None = None,
        latent_shape: torch.Size | None = None,
        num_data: int | None = None,
        whiten: bool = False,
        jitter: float = 1e-6,
    ) -> None:
        if not isinstance(Xu, torch.Tensor):
            raise TypeError(
                f"VariationalSparseGP: Xu must be a torch.Tensor, got {type(Xu).__name__}"
            )
        super().__init__(X, y, kernel, mean_function, jitter)
        self.likelihood = likelihood
        self.Xu = Parameter(Xu)
        self.latent_shape = latent_batch(self.y, latent_shape)
        M = Xu.size(0)
        self.u_loc = Parameter(Xu.new_zeros(self.latent_shape + (M,)))
        self.u_scale_tril = PyroParam(  # type: ignore[assignment]
            identity_scale(Xu, M, self.latent_shape), constraints.lower_cholesky
        )
        self.num_data = num_data if num_data is not None else self.X.size(0)
        self.whiten = whiten
        self._sample_latent = True

    @pyro_method
    def model(self) -> Any:
        """Sample ``u`` from the prior, then ``y`` given ``q``'s marginals of ``f(X)``."""
        self.set_mode("model")
        Xu = self.Xu
        Luu = self._cholesky(self.kernel(Xu))
        u_loc = self.u_loc
        zero_loc = torch.zeros_like(u_loc)
        scale = torch.eye(Luu.size(-1), dtype=Luu.dtype, device=Luu.device) if self.whiten else Luu
        prior = dist.MultivariateNormal(zero_loc, scale_tril=scale)
        ppl.sample(self._pyro_get_fullname("u"), prior.to_event(zero_loc.dim() - 1))
        f_loc, f_var = conditional(
            self.X,
            Xu,
            self.kernel,
            u_loc,
            self.u_scale_tril,
            Luu,
            full_cov=False,
            whiten=self.whiten,
            jitter=self.jitter,
        )
        f_loc = f_loc + self.mean_function(self.X)
        if self.y is None:
            return f_loc, f_var
        self.likelihood._load_pyro_samples()
        with poutine.scale(scale=self.num_data / self.X.size(0)):
            return self.likelihood(f_loc, f_var, self.y)

    @pyro_method
    def guide(self) -> None:
        """``q(u)`` (plus hyperparameter guides)."""
        self.set_mode("guide")
        self._load_pyro_samples()
        u_loc = self.u_loc
        q = dist.MultivariateNormal(u_loc, scale_tril=self.u_scale_tril)
        ppl.sample(self._pyro_get_fullname("u"), q.to_event(u_loc.dim() - 1))

    def forward(
        self, Xnew: torch.Tensor, full_cov: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and (co)variance of ``q(f(Xnew))``."""
        self._check_Xnew_shape(Xnew)
        self.set_mode("guide")
        loc, cov = conditional(
            Xnew,
            self.Xu,
            self.kernel,
            self.u_loc,
            self.u_scale_tril,
            full_cov=full_cov,
            whiten=self.whiten,
            jitter=self.jitter,
        )
        return loc + self.mean_function(Xnew), cov
