"""The ``Kernel`` base class: a covariance function ``k(X, Z)`` as a ``PyroModule``.

Why a module: hyperparameters are ``PyroParam`` attributes, so fitting a GP is ordinary
SVI/MAP over the ParamStore, and priors can be put on them with ``PyroSample``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ppl.nn import PyroModule


class Kernel(PyroModule):
    """Base class of covariance functions acting on the ``active_dims`` of the input.

    Args:
        input_dim: number of input features the kernel looks at.
        active_dims: which columns of ``X`` to use (default: the first ``input_dim``).

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> RBF(input_dim=2)(torch.zeros(3, 2)).shape
        torch.Size([3, 3])
    """

    def __init__(self, input_dim: int, active_dims: Sequence[int] | None = None):
        super().__init__()
        if active_dims is None:
            active_dims = list(range(input_dim))
        elif len(active_dims) != input_dim:
            raise ValueError(
                f"active_dims {list(active_dims)} has {len(active_dims)} entries but "
                f"input_dim is {input_dim}; give one active dimension per input feature"
            )
        self.input_dim = input_dim
        self.active_dims = list(active_dims)

    def _slice_input(self, X: torch.Tensor) -> torch.Tensor:
        """Return the active columns of ``X`` as a 2-D tensor ``(N, input_dim)``."""
        if X.dim() == 2:
            if max(self.active_dims) >= X.size(1):
                raise ValueError(
                    f"{type(self).__name__}: input has {X.size(1)} columns but "
                    f"active_dims is {self.active_dims}"
                )
            return X[:, self.active_dims]
        if X.dim() == 1:
            if self.input_dim != 1:
                raise ValueError(
                    f"{type(self).__name__}: a 1-D input gives one feature but "
                    f"input_dim is {self.input_dim}; pass X of shape (N, {self.input_dim})"
                )
            return X.unsqueeze(1)
        raise ValueError(
            f"{type(self).__name__}: input must be 1-D or 2-D, got shape {tuple(X.shape)}"
        )

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        """Covariance matrix ``k(X, Z)`` (``(N, M)``), or its diagonal if ``diag``."""
        raise NotImplementedError
