"""``Distribution``: Pyro's base class of distributions, a callable torch distribution.

Pyro's ``pyro.distributions.Distribution`` is the root of its distributions: a
distribution is a stochastic function, so calling it draws a sample (``d()`` is
``d.sample()``), and user code subclasses it for distributions that are not tensor
families at all (Pyro's RSA examples build a histogram over arbitrary Python values
this way). Here it is a subclass of ``torch.distributions.Distribution`` that adds
``__call__``, so such subclasses keep working with everything that expects a torch
distribution. ``isinstance(d, Distribution)`` holds for every torch distribution as
well (torch's classes do not inherit from this one), as it does in Pyro for the
distributions it exports.

Example:
    >>> import torch
    >>> class Coin(Distribution):
    ...     def sample(self, sample_shape=()):
    ...         return torch.tensor(1.0)
    ...     def log_prob(self, value):
    ...         return torch.tensor(0.5).log()
    >>> Coin()(), isinstance(torch.distributions.Normal(0.0, 1.0), Distribution)
    (tensor(1.), True)
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["Distribution"]


class _DistributionMeta(type):
    """Makes ``isinstance(x, Distribution)`` true for any torch distribution."""

    def __instancecheck__(cls, instance: Any) -> bool:
        if cls is Distribution:
            return isinstance(instance, torch.distributions.Distribution)
        return super().__instancecheck__(instance)

    def __subclasscheck__(cls, subclass: Any) -> bool:
        if cls is Distribution:
            return issubclass(subclass, torch.distributions.Distribution)
        return super().__subclasscheck__(subclass)


class Distribution(torch.distributions.Distribution, metaclass=_DistributionMeta):
    """A torch distribution that draws a sample when called (Pyro's base class).

    Subclasses implement ``sample`` and ``log_prob`` (and, when they have them,
    ``rsample``, ``enumerate_support`` with ``has_enumerate_support = True``,
    ``arg_constraints`` and ``support``). ``batch_shape`` and ``event_shape`` default
    to ``()``.
    """

    has_rsample = False
    has_enumerate_support = False

    def __init__(
        self,
        batch_shape: torch.Size = torch.Size(),  # noqa: B008 - immutable
        event_shape: torch.Size = torch.Size(),  # noqa: B008 - immutable
        validate_args: bool | None = None,
    ) -> None:
        undeclared = torch.distributions.Distribution.__dict__["arg_constraints"]
        if validate_args is None and type(self).arg_constraints is undeclared:
            # a subclass that declares no constraints has nothing to validate
            validate_args = False
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Draw a value: ``rsample`` when the distribution has one, else ``sample``."""
        if self.has_rsample:
            return self.rsample(*args, **kwargs)
        return self.sample(*args, **kwargs)
