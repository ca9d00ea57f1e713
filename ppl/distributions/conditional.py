"""Distributions and transforms that take a context (Pyro's ``pyro.distributions.conditional``).

A conditional object is a recipe: ``.condition(context)`` turns it into an ordinary
distribution or transform for that context. Conditional flows compute their parameters
from the context with a hypernetwork, so one trained object serves every context.

Example:
    >>> import torch
    >>> from ppl.distributions import Normal
    >>> from ppl.distributions.transforms import conditional_affine_coupling
    >>> flow = conditional_affine_coupling(3, context_dim=2)
    >>> d = ConditionalTransformedDistribution(Normal(torch.zeros(3), 1.0).to_event(1), [flow])
    >>> tuple(d.condition(torch.zeros(2)).sample((4,)).shape)
    (4, 3)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.distributions import Distribution, Transform

from ppl.distributions.torch_dists import TransformedDistribution
from ppl.distributions.torch_transform import ComposeTransformModule

__all__ = [
    "ConditionalComposeTransformModule",
    "ConditionalDistribution",
    "ConditionalTransform",
    "ConditionalTransformModule",
    "ConditionalTransformedDistribution",
    "ConstantConditionalDistribution",
    "ConstantConditionalTransform",
]


class ConditionalDistribution(ABC):
    """A family of distributions indexed by a context tensor."""

    @abstractmethod
    def condition(self, context: torch.Tensor) -> Distribution:
        """The distribution for ``context``."""
        raise NotImplementedError


class ConditionalTransform(ABC):
    """A family of transforms indexed by a context tensor."""

    @abstractmethod
    def condition(self, context: torch.Tensor) -> Transform:
        """The transform for ``context``."""
        raise NotImplementedError


class ConditionalTransformModule(ConditionalTransform, torch.nn.Module):
    """Base of conditional transforms with learnable parameters (an ``nn.Module``).

    ``.inv`` is the conditional transform whose ``condition(c)`` is
    ``self.condition(c).inv``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def __hash__(self) -> int:
        return object.__hash__(self)

    @property
    def inv(self) -> ConditionalTransformModule:
        return _ConditionalInverseTransformModule(self)


class ContextNetTransformModule(ConditionalTransformModule):
    """A conditional flow whose parameters a network computes from the context.

    Subclasses name the transform built from those parameters in ``conditioned``: a class
    called with a zero-argument function returning the parameters (evaluated lazily, so
    the network runs only when the transform is used).

    Args:
        nn: ``context -> params`` of the conditioned transform.

    Example:
        >>> import torch
        >>> from ppl.distributions.transforms import conditional_planar
        >>> flow = conditional_planar(input_dim=2, context_dim=3)
        >>> flow.condition(torch.zeros(3))(torch.zeros(2)).shape
        torch.Size([2])
    """

    conditioned: Callable[[Callable[[], Any]], Transform]

    def __init__(self, nn: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.nn = nn

    def _params(self, context: torch.Tensor) -> Any:
        return self.nn(context)

    def condition(self, context: torch.Tensor) -> Transform:
        """The transform for ``context``."""
        return type(self).conditioned(lambda: self._params(context))


class _ConditionalInverseTransformModule(ConditionalTransformModule):
    def __init__(self, transform: ConditionalTransformModule) -> None:
        super().__init__()
        self._transform = transform

    @property
    def inv(self) -> ConditionalTransformModule:
        return self._transform

    def condition(self, context: torch.Tensor) -> Transform:
        return self._transform.condition(context).inv


class ConstantConditionalDistribution(ConditionalDistribution):
    """Wrap a distribution so it ignores the context."""

    def __init__(self, base_dist: Distribution) -> None:
        if not isinstance(base_dist, Distribution):
            raise TypeError(
                f"ConstantConditionalDistribution: expected a Distribution, got "
                f"{type(base_dist).__name__}"
            )
        self.base_dist = base_dist

    def condition(self, context: torch.Tensor) -> Distribution:
        return self.base_dist


class ConstantConditionalTransform(ConditionalTransform):
    """Wrap a transform so it ignores the context."""

    def __init__(self, transform: Transform) -> None:
        if not isinstance(transform, Transform):
            raise TypeError(
                f"ConstantConditionalTransform: expected a Transform, got "
                f"{type(transform).__name__}"
            )
        self.transform = transform

    def condition(self, context: torch.Tensor) -> Transform:
        return self.transform

    def clear_cache(self) -> None:
        clear = getattr(self.transform, "clear_cache", None)
        if clear is not None:
            clear()


class ConditionalComposeTransformModule(ConditionalTransformModule, torch.nn.ModuleList):
    """Chain of (conditional or plain) transforms; ``condition`` gives a composed transform.

    Args:
        transforms: the parts, applied left to right; plain transforms ignore the context.
        cache_size: 0 or 1, the cache size of the composed transform.

    Raises:
        ValueError: if ``cache_size`` is not 0 or 1.

    Example:
        >>> from ppl.distributions.transforms import conditional_planar
        >>> stack = ConditionalComposeTransformModule(
        ...     [conditional_planar(3, 2, [4]) for _ in range(2)], cache_size=1)
        >>> tuple(stack.condition(torch.zeros(2))(torch.zeros(5, 3)).shape)
        (5, 3)
    """

    def __init__(self, transforms: Sequence[Any], cache_size: int = 0) -> None:
        self.transforms = [
            t if isinstance(t, ConditionalTransform) else ConstantConditionalTransform(t)
            for t in transforms
        ]
        super().__init__()
        if cache_size not in (0, 1):
            raise ValueError(f"cache_size must be 0 or 1, got {cache_size!r}")
        self._cache_size = cache_size
        for t in transforms:
            if isinstance(t, torch.nn.Module):
                self.append(t)

    def condition(self, context: torch.Tensor) -> ComposeTransformModule:
        parts = [t.condition(context) for t in self.transforms]
        return ComposeTransformModule(parts).with_cache(self._cache_size)


class ConditionalTransformedDistribution(ConditionalDistribution):
    """A base (conditional) distribution pushed through (conditional) transforms.

    Args:
        base_dist: a ``Distribution`` or ``ConditionalDistribution``.
        transforms: transforms and/or conditional transforms, applied left to right.

    ``condition(context)`` returns a :class:`~ppl.distributions.TransformedDistribution`.
    """

    def __init__(self, base_dist: Any, transforms: Sequence[Any]) -> None:
        self.base_dist = (
            base_dist
            if isinstance(base_dist, ConditionalDistribution)
            else ConstantConditionalDistribution(base_dist)
        )
        self.transforms = [
            t if isinstance(t, ConditionalTransform) else ConstantConditionalTransform(t)
            for t in transforms
        ]

    def condition(self, context: torch.Tensor) -> TransformedDistribution:
        base = self.base_dist.condition(context)
        return TransformedDistribution(base, [t.condition(context) for t in self.transforms])

    def clear_cache(self) -> None:
        pass
