"""A base for distributions whose parameters all carry the batch shape.

Such a distribution keeps one tensor per key of ``arg_constraints``, broadcast to
``batch_shape``, so ``expand`` is the same for all of them: expand each parameter and
re-initialise the shapes. Subclasses write ``__init__`` (broadcasting the parameters),
``log_prob`` and ``rsample``; they inherit ``expand``.

Example:
    >>> from ppl.distributions.logistic import Logistic
    >>> Logistic(0.0, 1.0).expand((3,)).loc.shape
    torch.Size([3])
"""

from __future__ import annotations

from typing import Any

import torch

from ppl.distributions.torch_distribution import TorchDistribution


class ElementwiseDistribution(TorchDistribution):
    """A distribution whose parameters (the keys of ``arg_constraints``) have its batch shape."""

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        for name in self.arg_constraints:
            setattr(new, name, getattr(self, name).expand(batch_shape))
        TorchDistribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _standardize(self, value: torch.Tensor) -> torch.Tensor:
        """``(value - loc) / scale`` of a location-scale family, after the support check."""
        if self._validate_args:
            self._validate_sample(value)
        return (value - self.loc) / self.scale  # type: ignore[attr-defined]
