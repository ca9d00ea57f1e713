"""Pyro's conveniences on top of ``torch.distributions``.

Design notes
------------
``TorchDistributionMixin`` adds methods to a torch distribution class without changing
any of torch's semantics: batch/event shapes, ``validate_args``, ``arg_constraints``,
``support``, ``expand`` and KL registrations all stay torch's. Every wrapped class in
:mod:`ppl.distributions.torch_dists` is ``class Normal(torch.distributions.Normal,
TorchDistributionMixin)``: torch first in the MRO, so torch's ``expand`` wins and returns
the wrapped class (torch's ``_get_checked_instance`` allocates ``type(self)``).

The conveniences return *new* distributions and never mutate ``self``:

* ``to_event(n)`` -> ``Independent``; nested ``Independent`` wrappers are merged, and a
  negative ``n`` removes event dims that an ``Independent`` had added (Pyro's rule).
* ``expand_by(sample_shape)`` -> ``expand(sample_shape + batch_shape)``.
* ``mask(mask)`` -> ``MaskedDistribution`` (``mask(True)`` is ``self``).
* ``expand(batch_shape)`` on :class:`TorchDistribution` subclasses that do not define
  their own falls back to ``ExpandedDistribution``.

For mypy the mixin pretends to subclass ``torch.distributions.Distribution`` (a
``TYPE_CHECKING`` base), so ``self.batch_shape`` and friends type-check; at run time it
is a plain ``object`` mixin and adds nothing to the MRO of torch classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ppl.distributions.score_parts import ScoreParts
from ppl.distributions.util import EMPTY_SHAPE, SizeLike, as_size

if TYPE_CHECKING:
    _MixinBase = torch.distributions.Distribution
else:
    _MixinBase = object

__all__ = ["TorchDistributionMixin", "TorchDistribution"]


class TorchDistributionMixin(_MixinBase):
    """Mixin giving a ``torch.distributions.Distribution`` Pyro's conveniences.

    Derived classes must list a torch distribution class *before* this mixin, e.g.
    ``class Normal(torch.distributions.Normal, TorchDistributionMixin)``.

    Example:
        >>> import ppl.distributions as dist
        >>> d = dist.Normal(torch.zeros(3, 2), 1.0).to_event(1)
        >>> d.batch_shape, d.event_shape
        (torch.Size([3]), torch.Size([2]))
    """

    def __call__(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Tensor:
        """Draw a sample: ``rsample`` when reparameterized, else ``sample`` (Pyro's rule).

        Args:
            sample_shape: leading iid dims of the draw.

        Returns:
            A tensor of shape ``sample_shape + batch_shape + event_shape``.
        """
        sample_shape = as_size(sample_shape, f"{type(self).__name__}(sample_shape)")
        if self.has_rsample:
            return self.rsample(sample_shape)
        return self.sample(sample_shape)

    @classmethod
    def infer_shapes(cls, **arg_shapes: Any) -> tuple[torch.Size, torch.Size]:
        """``(batch_shape, event_shape)`` of ``cls(**args)`` from the shapes of the args.

        The default handles univariate distributions: each argument's batch part is its
        shape minus its constraint's event dims, and the batch shape is their broadcast.
        Multivariate classes override this.

        Raises:
            NotImplementedError: for a support with event dims and no override.

        Example:
            >>> import ppl.distributions as dist
            >>> dist.Normal.infer_shapes(loc=(3, 1), scale=(4,))
            (torch.Size([3, 4]), torch.Size([]))
        """
        from torch.distributions import constraints

        from ppl.ops.tensor import broadcast_shape

        support: Any = cls.support
        arg_constraints: Any = cls.arg_constraints
        if not isinstance(arg_constraints, dict):  # an instance property (e.g. torch's Uniform)
            arg_constraints = {}
        if support.event_dim > 0:
            raise NotImplementedError(
                f"{cls.__name__}.infer_shapes: no rule for a support with event dims"
            )
        batch_shapes = []
        for name, shape in arg_shapes.items():
            event_dim = arg_constraints.get(name, constraints.real).event_dim
            batch_shapes.append(tuple(shape)[: len(shape) - event_dim])
        return torch.Size(broadcast_shape(*batch_shapes)), torch.Size()

    @property
    def event_dim(self) -> int:
        """Number of event dims, ``len(event_shape)``."""
        return len(self.event_shape)

    def shape(self, sample_shape: SizeLike = EMPTY_SHAPE) -> torch.Size:
        """Shape of a sample: ``sample_shape + batch_shape + event_shape``.

        Example:
            >>> import ppl.distributions as dist
            >>> dist.Normal(torch.zeros(3), 1.0).to_event(1).shape((5,))
            torch.Size([5, 3])
        """
        sample_shape = as_size(sample_shape, f"{type(self).__name__}.shape(sample_shape)")
        return sample_shape + self.batch_shape + self.event_shape

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        """Broadcast to ``batch_shape`` by wrapping in ``ExpandedDistribution``.

        This generic fallback is used only by :class:`TorchDistribution` subclasses
        that do not define their own ``expand``; torch classes keep theirs.

        Raises:
            ValueError: if ``batch_shape`` does not broadcast with the batch shape.
        """
        from ppl.distributions.expanded import ExpandedDistribution

        batch_shape = as_size(batch_shape, f"{type(self).__name__}.expand(batch_shape)")
        if batch_shape == self.batch_shape:
            return self
        return ExpandedDistribution(self, batch_shape)

    def expand_by(self, sample_shape: torch.Size | tuple[int, ...]) -> Any:
        """Prepend ``sample_shape`` to the batch shape (iid copies).

        Args:
            sample_shape: dims to add on the left of ``batch_shape``.

        Returns:
            A distribution with ``batch_shape == sample_shape + self.batch_shape``.

        Example:
            >>> import ppl.distributions as dist
            >>> dist.Normal(0.0, 1.0).expand_by((4, 2)).batch_shape
            torch.Size([4, 2])
        """
        sample_shape = as_size(sample_shape, f"{type(self).__name__}.expand_by(sample_shape)")
        if not sample_shape:
            return self
        new_shape = sample_shape + self.batch_shape
        try:
            return self.expand(new_shape)
        except NotImplementedError:
            return TorchDistributionMixin.expand(self, new_shape)

    def to_event(self, reinterpreted_batch_ndims: int | None = None) -> Any:
        """Reinterpret the ``n`` rightmost batch dims as event dims.

        Args:
            reinterpreted_batch_ndims: how many batch dims to move into the event
                shape; ``None`` moves all of them; ``0`` returns ``self``; a negative
                value removes event dims previously added by ``Independent``.

        Returns:
            An ``Independent`` distribution (nested ones are merged), or the base
            distribution when the total number of reinterpreted dims becomes 0.

        Raises:
            TypeError: if ``reinterpreted_batch_ndims`` is not an int.
            ValueError: if more dims are requested than the batch has, or more are
                removed than ``Independent`` wrappers added.

        Example:
            >>> import ppl.distributions as dist
            >>> d = dist.Normal(torch.zeros(2, 3), 1.0).to_event(2)
            >>> d.event_shape, d.to_event(-1).event_shape
            (torch.Size([2, 3]), torch.Size([3]))
        """
        from ppl.distributions.torch_dists import Independent

        n = reinterpreted_batch_ndims
        if n is None:
            n = len(self.batch_shape)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(
                f"{type(self).__name__}.to_event: expected an int number of batch dims but "
                f"got {type(n).__name__} {n!r}"
            )
        if n == 0:
            return self
        if n > len(self.batch_shape):
            raise ValueError(
                f"{type(self).__name__}.to_event({n}): the distribution has only "
                f"{len(self.batch_shape)} batch dims (batch_shape={tuple(self.batch_shape)}); "
                f"use at most to_event({len(self.batch_shape)})"
            )
        base: torch.distributions.Distribution = self
        total = n
        while isinstance(base, torch.distributions.Independent):
            total += base.reinterpreted_batch_ndims
            base = base.base_dist
        if total < 0:
            raise ValueError(
                f"{type(self).__name__}.to_event({n}): cannot remove {-n} event dims; only "
                f"{total - n} were added by Independent (event_shape="
                f"{tuple(self.event_shape)}); use to_event({n - total}) or more"
            )
        if total == 0:
            return base
        return Independent(base, total)

    def mask(self, mask: bool | torch.Tensor) -> Any:
        """Mask the log-density by a boolean (tensor) broadcastable to ``batch_shape``.

        Where ``mask`` is False, ``log_prob`` is exactly zero, even if the base
        ``log_prob`` is ``nan`` there. ``mask(True)`` returns ``self``.

        Args:
            mask: a Python bool or a tensor whose shape broadcasts with ``batch_shape``.

        Returns:
            ``self`` or a ``MaskedDistribution``.

        Raises:
            TypeError: if ``mask`` is neither a bool nor a tensor.
            ValueError: if its shape does not broadcast with ``batch_shape``.

        Example:
            >>> import ppl.distributions as dist
            >>> dist.Normal(torch.zeros(2), 1.0).mask(torch.tensor([True, False])).log_prob(
            ...     torch.zeros(2))
            tensor([-0.9189,  0.0000])
        """
        from ppl.distributions.masked import MaskedDistribution

        if mask is True:
            return self
        return MaskedDistribution(self, mask)

    def has_rsample_(self, value: bool) -> Any:
        """Force reparameterized (``True``) or score-function (``False``) sampling on this
        instance, in place; returns ``self`` (Pyro's ``has_rsample_``).

        Example:
            >>> import ppl.distributions as dist
            >>> dist.Normal(0.0, 1.0).has_rsample_(False).has_rsample
            False

        Raises:
            TypeError: if ``value`` is not a bool.
        """
        if not isinstance(value, bool):
            raise TypeError(f"has_rsample_ expects True or False, got {value!r}")
        self.has_rsample = value  # type: ignore[misc]
        return self

    def score_parts(self, value: torch.Tensor) -> ScoreParts:
        """The parts of a gradient estimator for the log-density at ``value``.

        Reparameterized distributions need no score-function term; others use the
        log-density itself as the score function (REINFORCE).

        Returns:
            ``ScoreParts(log_prob, score_function, entropy_term)``; terms that vanish
            are the Python number 0.
        """
        log_prob = self.log_prob(value)
        if self.has_rsample:
            return ScoreParts(log_prob=log_prob, score_function=0, entropy_term=log_prob)
        return ScoreParts(log_prob=log_prob, score_function=log_prob, entropy_term=0)


class TorchDistribution(TorchDistributionMixin, torch.distributions.Distribution):
    """Base class for new ``ppl`` distributions (torch semantics plus the mixin).

    Subclasses implement ``sample``/``rsample``, ``log_prob``, ``support``,
    ``arg_constraints`` and ideally ``expand``; without an ``expand`` of their own they
    get ``ExpandedDistribution`` (the mixin comes first in the MRO for that reason).
    """


def __getattr__(name: str) -> Any:
    # Pyro defines MaskedDistribution in this module; here it lives in .masked (which
    # imports this module), so it is resolved on first access.
    if name == "MaskedDistribution":
        from ppl.distributions.masked import MaskedDistribution

        return MaskedDistribution
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
