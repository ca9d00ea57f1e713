"""Exact GP regression with a Gaussian likelihood (Pyro's ``GPRegression``)."""

from __future__ import annotations

import torch
from torch.distributions import constraints

import ppl
import ppl.distributions as dist
from ppl.nn import PyroModule, PyroParam, pyro_method

from ..kernels.kernel import Kernel
from ..util import cholesky_with_jitter, conditional


class GPRegression(PyroModule):
    """Gaussian-process regression ``y = f(X) + eps``, ``f ~ GP(0, kernel)``.

    ``model()`` scores ``y`` under the marginal ``MultivariateNormal(0, K + noise I)``,
    so MAP of the hyperparameters is SVI with an empty guide; ``forward(Xnew)`` gives
    the closed-form predictive.

    Args:
        X: training inputs ``(N, ...)``.
        y: training targets ``(N,)`` or ``(..., N)``, or ``None``.
        kernel: the covariance function.
        noise: observation noise variance (positive), default 1.
        mean_function: callable ``X -> (N,)`` prior mean, default zero.
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
        mean_function=None,
        jitter: float = 1e-6,
    ):
        super().__init__()
        self.X = X
        self.y = y
        self.kernel = kernel
        self.mean_function = mean_function if mean_function is not None else _zero_mean
        self.jitter = jitter
        noise = torch.tensor(1.0, dtype=X.dtype, device=X.device) if noise is None else noise
        self.noise = PyroParam(noise, constraints.positive)  # type: ignore[assignment]

    def set_data(self, X: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Replace the training data (Pyro's ``set_data``)."""
        self.X, self.y = X, y

    @pyro_method
    def model(self):
        """Sample ``y`` from the GP marginal; observed when ``self.y`` is set."""
        N = self.X.size(0)
        Kff = self.kernel(self.X)
        Kff = Kff + self.noise * torch.eye(N, dtype=Kff.dtype, device=Kff.device)
        Lff = cholesky_with_jitter(Kff, self.jitter, type(self).__name__)
        loc = self.mean_function(self.X)
        if self.y is None:
            prior = dist.MultivariateNormal(loc, scale_tril=Lff)
            return ppl.sample(self._pyro_get_fullname("y"), prior)
        shape = self.y.shape[:-1]
        fn = dist.MultivariateNormal(
            loc.expand(self.y.shape), scale_tril=Lff.expand(shape + Lff.shape)
        )
        return ppl.sample(self._pyro_get_fullname("y"), fn.to_event(len(shape)), obs=self.y)

    @pyro_method
    def guide(self):
        """Empty guide: hyperparameters are point estimates (MAP/MLE)."""

    def forward(
        self, Xnew: torch.Tensor, full_cov: bool = False, noiseless: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive mean and (co)variance of ``f(Xnew)`` (plus noise if not noiseless)."""
        if self.y is None:
            raise ValueError("GPRegression.forward needs training targets y; call set_data")
        y_resid = self.y - self.mean_function(self.X)
        loc, cov = conditional(
            Xnew, self.X, self.kernel, y_resid, full_cov, self.jitter, self.noise
        )
        loc = loc + self.mean_function(Xnew)
        if not noiseless:
            if full_cov:
                eye = torch.eye(Xnew.size(0), dtype=cov.dtype, device=cov.device)
                cov = cov + self.noise * eye
            else:
                cov = cov + self.noise
        return loc, cov


def _zero_mean(X: torch.Tensor) -> torch.Tensor:
    return X.new_zeros(X.size(0))
