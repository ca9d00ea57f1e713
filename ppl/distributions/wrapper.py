"""``WrapperDistribution``: the shared base of distributions that wrap one ``base_dist``.

Design notes
------------
:class:`~ppl.distributions.ExpandedDistribution` and
:class:`~ppl.distributions.MaskedDistribution` change how a base distribution is
batched or scored but not what it is: its support, whether it can be reparameterized
or enumerated, and its validation switch are the base's. This class holds that
delegation once. It has no parameters of its own (``arg_constraints`` is empty), so
torch's argument validation never runs on the wrapper; the base validates itself.
"""

from __future__ import annotations

import torch
from torch.distributions import constraints

from ppl.distributions.torch_distribution import TorchDistribution

__all__ = ["WrapperDistribution"]


class WrapperDistribution(TorchDistribution):
    """Base class for a distribution that delegates support and validation to ``base_dist``.

    Subclasses call :meth:`_init_wrapper` from ``__init__`` instead of
    ``TorchDistribution.__init__``.

    Example:
        >>> import ppl.distributions as dist
        >>> d = dist.MaskedDistribution(dist.Gamma(2.0, 1.0), True)
        >>> d.support is d.base_dist.support, d.has_rsample
        (True, True)
    """

    arg_constraints: dict[str, constraints.Constraint] = {}
    base_dist: torch.distributions.Distribution

    def _init_wrapper(
        self, base_dist: torch.distributions.Distribution, batch_shape: torch.Size
    ) -> None:
        """Store ``base_dist`` and set the shapes; validation follows the base's switch."""
        self.base_dist = base_dist
        super().__init__(batch_shape, base_dist.event_shape, validate_args=False)
        self._validate_args = base_dist._validate_args

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_enumerate_support

    @constraints.dependent_property
    def support(self) -> constraints.Constraint | None:  # type: ignore[override]
        return self.base_dist.support
