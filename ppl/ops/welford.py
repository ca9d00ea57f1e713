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


class WelfordArrowheadCovariance:
    """Running covariance kept in arrowhead form: the first ``head_size`` rows, then a diagonal.

    Args:
        head_size: number of leading coordinates with a dense covariance.

    Example:
        >>> w = WelfordArrowheadCovariance(head_size=1)
        >>> for x in torch.tensor([[0.0, 0.0], [2.0, 4.0]]):
        ...     w.update(x)
        >>> top, bottom = w.get_covariance(regularize=False)
        >>> top.tolist(), bottom.tolist()
        ([[2.0, 4.0]], [8.0])
    """

    def __init__(self, head_size: int = 0) -> None:
        self.head_size = head_size
        self.reset()

    def reset(self) -> None:
        self._mean: torch.Tensor | float = 0.0
        self._m2_top: torch.Tensor | float = 0.0  # head_size x n
        self._m2_bottom_diag: torch.Tensor | float = 0.0  # n - head_size
        self.n_samples = 0

    def update(self, sample: torch.Tensor) -> None:
        h = self.head_size
        self.n_samples += 1
        delta_pre = sample - self._mean
        self._mean = self._mean + delta_pre / self.n_samples
        delta_post = sample - self._mean
        if h > 0:
            self._m2_top = self._m2_top + torch.outer(delta_post[:h], delta_pre)
        else:
            self._m2_top = sample.new_zeros(0, sample.size(0))
        self._m2_bottom_diag = self._m2_bottom_diag + delta_post[h:] * delta_pre[h:]

    def get_covariance(self, regularize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(top, bottom_diag)`` of the sample covariance; ``regularize`` as Stan."""
        if self.n_samples < 2:
            raise RuntimeError(f"need at least 2 samples for a covariance, got {self.n_samples}")
        if not isinstance(self._m2_top, torch.Tensor) or not isinstance(
            self._m2_bottom_diag, torch.Tensor
        ):
            raise RuntimeError("WelfordArrowheadCovariance: no accumulated moments")
        n = self.n_samples
        top = self._m2_top / (n - 1)
        bottom = self._m2_bottom_diag / (n - 1)
        if regularize:
            top = top * (n / (n + 5.0))
            bottom = bottom * (n / (n + 5.0))
            shrink = 1e-3 * (5.0 / (n + 5.0))
            h = top.size(0)
            top = top + shrink * torch.eye(h, top.size(-1), dtype=top.dtype, device=top.device)
            bottom = bottom + shrink
        return top, bottom
