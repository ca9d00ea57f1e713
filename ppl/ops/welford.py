"""Streaming mean and covariance by Welford's algorithm (for mass-matrix adaptation)."""

from __future__ import annotations

import torch


class WelfordCovariance:
    """Running sample covariance, diagonal or dense.

    Args:
        diagonal: keep only the variances.

    Example:
        >>> w = WelfordCovariance()
        >>> for x in torch.tensor([[1.0], [3.0]]):
        ...     w.update(x)
        >>> w.get_covariance(regularize=False).tolist()
        [2.0]
    """

    def __init__(self, diagonal: bool = True) -> None:
        self.diagonal = diagonal
        self.reset()

    def reset(self) -> None:
        self._mean: torch.Tensor | float = 0.0
        self._m2: torch.Tensor | float = 0.0
        self.n_samples = 0

    def update(self, sample: torch.Tensor) -> None:
        self.n_samples += 1
        delta_pre = sample - self._mean
        self._mean = self._mean + delta_pre / self.n_samples
        delta_post = sample - self._mean
        if self.diagonal:
            self._m2 = self._m2 + delta_pre * delta_post
        else:
            self._m2 = self._m2 + torch.outer(delta_post, delta_pre)

    def get_covariance(self, regularize: bool = True) -> torch.Tensor:
        """Sample covariance; with ``regularize``, Stan's shrinkage towards 1e-3 * I."""
        if self.n_samples < 2:
            raise RuntimeError(f"need at least 2 samples for a covariance, got {self.n_samples}")
        m2 = self._m2
        if not isinstance(m2, torch.Tensor):  # unreachable once two samples were added
            raise RuntimeError("WelfordCovariance: no accumulated moments")
        cov = m2 / (self.n_samples - 1)
        if regularize:
            n = self.n_samples
            cov = cov * (n / (n + 5.0))
            shrink = 1e-3 * (5.0 / (n + 5.0))
            if self.diagonal:
                cov = cov + shrink
            else:
                cov = cov + shrink * torch.eye(cov.size(-1), dtype=cov.dtype, device=cov.device)
        return cov
