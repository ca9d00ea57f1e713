"""Exact GP regression with a Gaussian likelihood (Pyro's ``GPRegression``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import ppl.distributions as dist
from ppl.nn import pyro_method

from ..kernels.kernel import Kernel
from ..parameterized import positive_param
from ..util import conditional
from .model import GPModel

__all__ = ["GPRegression"]


def _add_diag(K: torch.Tensor, value: Any) -> torch.Tensor:
    eye = torch.eye(K.size(-1), dtype=K.dtype, device=K.device)
    return K + value * eye


class GPRegression(GPModel):
    """Gaussian-process regression ``y = f(X) + eps``, ``f ~ GP(mean, kernel)``,
    ``eps ~ N(0, noise)``.

    ``model()`` scores ``y`` under the marginal ``MultivariateNormal(mean, K + noise I)``
    (``f`` integrated out), so fitting hyperparameters is SVI with the (empty) guide;
    ``forward(Xnew)`` gives the closed-form posterior predictive. Cost ``O(N^3)``.

    Args:
        X: training inputs ``(N, ...)``.
        y: training targets ``(..., N)``, or None.
        kernel: the covariance function.
        noise: positive observation-noise variance, default 1.
        mean_function: prior mean ``X -> (N,)``, default zero.
        jitter: diagonal jitter for the Cholesky.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> X = torch.linspace(0, 1, 4)
        >>> loc, var = GPRegression(X, X, RBF(1))(X)
        >>> loc.shape, var.shape
        (torch.Size([4]), torch.Size([4]))
    """

    noise: torch.Tensor  # a PyroParam, read back as its constrained tensor

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None,
        kernel: Kernel,
        noise: torch.Tensor | None = None,
        mean_function: Callable[[torch.Tensor], Any] | None = None,
        jitter: float = 1e-6,
    ) -> None:
        super().__init__(X, y, kernel, mean_function, jitter)
        noise = self.X.new_tensor(1.0) if noise is None else noise
        self.noise = positive_param(noise)  # type: ignore[assignment]

    @pyro_method
    def model(self) -> Any:
        """Sample (or observe) ``y``; without ``y`` return the prior ``(f_loc, f_var)``."""
        self.set_mode("model")
        Lff = self._cholesky(_add_diag(self.kernel(self.X), self.noise))
        f_loc = self.X.new_zeros(self.X.size(0)) + self.mean_function(self.X)
        if self.y is None:
            return f_loc, Lff.pow(2).sum(-1)
        fn = dist.MultivariateNormal(f_loc, scale_tril=Lff)
        return self._observe_y(fn)

    @pyro_method
    def guide(self) -> None:
        """Hyperparameter guides only (``f`` is integrated out exactly)."""
        self.set_mode("guide")
        self._load_pyro_samples()

    def forward(
        self, Xnew: torch.Tensor, full_cov: bool = False, noiseless: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior predictive mean ``(..., T)`` and covariance ``(..., T, T)`` or
        variance ``(..., T)`` of ``f(Xnew)`` (of ``y(Xnew)`` if ``noiseless=False``).

        Raises:
            ValueError: no training targets, or ``Xnew`` has the wrong feature shape.
        """
        self._check_Xnew_shape(Xnew)
        if self.y is None:
            raise ValueError(
                "GPRegression.forward needs training targets y; call set_data(X, y) first"
            )
        self.set_mode("guide")
        Lff = self._cholesky(_add_diag(self.kernel(self.X), self.noise))
        y_residual = self.y - self.mean_function(self.X)
        loc, cov = conditional(
            Xnew, self.X, self.kernel, y_residual, None, Lff, full_cov, jitter=self.jitter
        )
        if not noiseless:
            cov = _add_diag(cov, self.noise) if full_cov else cov + self.noise
        return loc + self.mean_function(Xnew), cov

    def iter_sample(self, noiseless: bool = True) -> Callable[[torch.Tensor], torch.Tensor]:
        """A sampler of one joint posterior path, point by point.

        Each call ``sampler(xnew)`` (``xnew`` of shape ``(1, ...)``) draws ``y(xnew)``
        given the data and every earlier draw, then adds the draw to the conditioning
        set, so successive calls trace a single consistent sample path.

        Example:
            >>> import torch
            >>> from ppl.contrib.gp.kernels import RBF
            >>> X = torch.linspace(0, 1, 3)
            >>> sampler = GPRegression(X, X, RBF(1)).iter_sample()
            >>> sampler(torch.tensor([0.5])).shape
            torch.Size([1])
        """
        if self.y is None:
            raise ValueError("GPRegression.iter_sample needs training targets y; call set_data")
        with torch.no_grad():
            noise = self.noise.detach()
            state = {"X": self.X.detach().clone(), "y": self.y.detach().clone()}

        def sample_next(xnew: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                X, y = state["X"], state["y"]
                Lff = self._cholesky(_add_diag(self.kernel(X), noise))
                resid = y - self.mean_function(X)
                loc, var = conditional(xnew, X, self.kernel, resid, None, Lff, jitter=self.jitter)
                if not noiseless:
                    var = var + noise
                ynew = dist.Normal(loc + self.mean_function(xnew), var.sqrt()).sample()
                state["X"] = torch.cat((X, xnew))
                state["y"] = torch.cat((y, ynew))
            return ynew

        return sample_next
