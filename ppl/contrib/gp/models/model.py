"""``GPModel``: the shared shell of every GP model (data, kernel, mean, jitter).

A GP model is a :class:`~ppl.contrib.gp.parameterized.Parameterized` module with three
programs: ``model()`` (the generative process, observing ``y`` when it is set),
``guide()`` (the variational family; empty apart from hyperparameter guides for the
exact and sparse regressions) and ``forward(Xnew)`` (the predictive mean and
(co)variance). ``util.train`` or ``SVI`` fit it; ``MCMC`` runs on ``model``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import ppl

from ..kernels.kernel import Kernel
from ..linalg import jittered_cholesky
from ..parameterized import Parameterized

__all__ = ["GPModel"]


def _zero_mean_function(x: torch.Tensor) -> Any:
    return 0


class GPModel(Parameterized):
    """Base class of GP models.

    Args:
        X: inputs ``(N, ...)``.
        y: outputs ``(..., N)`` (leading dims are independent output batches), or None
            to sample them.
        kernel: the prior covariance function.
        mean_function: prior mean ``X -> (N,)`` (default zero); may be a module with
            learnable parameters.
        jitter: diagonal jitter of every Cholesky factorisation (grown up to 100x if
            the matrix is numerically indefinite).

    Raises:
        TypeError: ``X`` or ``y`` is not a tensor, or ``kernel`` is not a Kernel.
        ValueError: ``X`` and ``y`` disagree on the number of points.
    """

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None,
        kernel: Kernel,
        mean_function: Callable[[torch.Tensor], Any] | None = None,
        jitter: float = 1e-6,
    ) -> None:
        super().__init__()
        if not isinstance(kernel, Kernel):
            raise TypeError(
                f"{type(self).__name__}: kernel must be a ppl.contrib.gp.kernels.Kernel, got "
                f"{type(kernel).__name__}"
            )
        self.set_data(X, y)
        self.kernel = kernel
        self.mean_function = _zero_mean_function if mean_function is None else mean_function
        self.jitter = jitter

    def model(self) -> Any:
        raise NotImplementedError

    def guide(self) -> Any:
        raise NotImplementedError

    def forward(self, Xnew: torch.Tensor, full_cov: bool = False) -> Any:
        raise NotImplementedError

    def _observe_y(self, fn: Any) -> Any:
        """The observed site ``y``: ``fn`` over the ``N`` points, the output batch dims of
        ``y`` as event dims (they are independent outputs of one likelihood)."""
        if self.y is None:
            raise ValueError(f"{type(self).__name__}: no y to observe; call set_data(X, y)")
        fn = fn.expand_by(self.y.shape[:-1]).to_event(self.y.dim() - 1)
        return ppl.sample(self._pyro_get_fullname("y"), fn, obs=self.y)

    def set_data(self, X: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Replace the training data (e.g. for mini-batches or a GPLVM's latent ``X``).

        Raises:
            TypeError: ``X`` or ``y`` is not a tensor.
            ValueError: ``X.size(0) != y.size(-1)``.
        """
        name = type(self).__name__
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"{name}: X must be a torch.Tensor, got {type(X).__name__}")
        if y is not None:
            if not isinstance(y, torch.Tensor):
                raise TypeError(f"{name}: y must be a torch.Tensor, got {type(y).__name__}")
            if X.size(0) != y.size(-1):
                raise ValueError(
                    f"{name}: X has {X.size(0)} points (X.shape[0]) but y has {y.size(-1)} "
                    f"(y.shape[-1]); y must have shape (..., {X.size(0)})"
                )
        self.X = X
        self.y = y

    def _check_Xnew_shape(self, Xnew: torch.Tensor) -> None:
        name = type(self).__name__
        if Xnew.dim() != self.X.dim():
            raise ValueError(
                f"{name}: test inputs have {Xnew.dim()} dims but training inputs have "
                f"{self.X.dim()} (shapes {tuple(Xnew.shape)} vs {tuple(self.X.shape)})"
            )
        if Xnew.shape[1:] != self.X.shape[1:]:
            raise ValueError(
                f"{name}: test inputs have feature shape {tuple(Xnew.shape[1:])} but "
                f"training inputs have {tuple(self.X.shape[1:])}"
            )

    def _cholesky(self, K: torch.Tensor) -> torch.Tensor:
        return jittered_cholesky(K, self.jitter, type(self).__name__)
