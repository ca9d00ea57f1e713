"""Reparameterization strategies: choose a reparameterizer for each site automatically.

A strategy is a ``config`` callable for ``poutine.reparam``: it is asked once per
site name (the answer is cached in ``strategy.config``, a plain dict that can be
inspected, edited or passed to ``poutine.reparam`` later), and it can also decorate a
model directly (``AutoReparam()(model)``).

* :class:`MinimalReparam` rewrites only the sites that would otherwise fail in
  likelihood-based inference: ``Stable`` (no closed-form density) and
  ``ProjectedNormal``.
* :class:`AutoReparam` also applies :class:`~.transform.TransformReparam` to
  transformed distributions, :class:`~.softmax.GumbelSoftmaxReparam` to relaxed
  one-hot categoricals and a learnable :class:`~.loc_scale.LocScaleReparam` to
  loc-scale families with real support; its choices may change between releases.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> strategy = AutoReparam()
    >>> model = strategy(lambda: ppl.sample("x", dist.Normal(0.0, 1.0)))
    >>> _ = model()
    >>> type(strategy.config["x"]).__name__
    'LocScaleReparam'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch.distributions import constraints

from ... import poutine
from ...distributions import ProjectedNormal, Stable, StableWithLogProb
from ...poutine.runtime import Message
from .loc_scale import LocScaleReparam
from .projected_normal import ProjectedNormalReparam
from .reparam import Reparam
from .softmax import GumbelSoftmaxReparam
from .stable import LatentStableReparam, StableReparam, SymmetricStableReparam
from .transform import TransformReparam

__all__ = ["AutoReparam", "MinimalReparam", "Strategy"]


class Strategy(ABC):
    """Base class of strategies: implement :meth:`configure`.

    Attributes:
        config: ``{site name: Reparam or None}``, filled in the first time each site
            is seen; usable later as ``poutine.reparam(config=strategy.config)``.
    """

    def __init__(self) -> None:
        self.config: dict[str, Reparam | None] = {}
        super().__init__()

    @abstractmethod
    def configure(self, msg: Any) -> Reparam | None:
        """Choose a reparameterizer (or None) for the sample site ``msg``, once per name."""

    def __call__(self, msg_or_fn: Any) -> Any:
        """On a site: the cached choice for it. On a model: the reparameterized model."""
        if isinstance(msg_or_fn, (Message, dict)):
            name = msg_or_fn["name"]
            if name not in self.config:
                self.config[name] = self.configure(msg_or_fn)
            return self.config[name]
        if not callable(msg_or_fn):
            raise TypeError(
                f"{type(self).__name__} is called on a model or a sample site, got "
                f"{type(msg_or_fn).__name__}"
            )
        return poutine.reparam(msg_or_fn, self)


class MinimalReparam(Strategy):
    """Reparameterize only where inference would otherwise fail (Stable, ProjectedNormal).

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> strategy = MinimalReparam()
        >>> @strategy
        ... def model():
        ...     ppl.sample("x", dist.Normal(0.0, 1.0))
        ...     ppl.sample("y", dist.Stable(torch.tensor(1.5), torch.tensor(0.0)))
        >>> model()
        >>> strategy.config["x"], type(strategy.config["y"]).__name__
        (None, 'LatentStableReparam')
    """

    def configure(self, msg: Any) -> Reparam | None:
        return _minimal_reparam(msg["fn"], bool(msg["is_observed"]))


def _minimal_reparam(fn: Any, is_observed: bool) -> Reparam | None:
    # look through Independent / Masked / Transformed wrappers (a relaxed one-hot
    # categorical is a torch TransformedDistribution, but a family of its own here)
    while _is_wrapper(fn):
        if isinstance(fn, torch.distributions.TransformedDistribution):
            if _minimal_reparam(fn.base_dist, is_observed) is None:
                return None
            return TransformReparam()  # the base site is then reparameterized in turn
        fn = fn.base_dist
    if isinstance(fn, Stable) and not isinstance(fn, StableWithLogProb):
        if not is_observed:
            return LatentStableReparam()
        if fn.skew.requires_grad or bool(fn.skew.any()):
            return StableReparam()
        return SymmetricStableReparam()
    if isinstance(fn, ProjectedNormal):
        return ProjectedNormalReparam()
    return None


class AutoReparam(Strategy):
    """A recommended set: TransformReparam, GumbelSoftmaxReparam, learnable LocScaleReparam,
    then :class:`MinimalReparam`'s choices.

    Args:
        centered: the ``centered`` of the LocScaleReparam it creates: None (default)
            learns it; ``0.0`` decenters fully (e.g. for MCMC).

    Raises:
        TypeError: for a ``centered`` that is neither None nor a float.

    The choices may change between releases; to keep a behaviour, save ``.config``
    after running the model once.
    """

    def __init__(self, *, centered: float | None = None) -> None:
        if centered is not None and not isinstance(centered, float):
            raise TypeError(f"AutoReparam: centered must be None or a float, got {centered!r}")
        super().__init__()
        self.centered = centered

    def configure(self, msg: Any) -> Reparam | None:
        fn = msg["fn"]
        if not msg["is_observed"]:
            while _is_wrapper(fn):
                if isinstance(fn, torch.distributions.TransformedDistribution):
                    return TransformReparam()
                fn = fn.base_dist
            if isinstance(fn, torch.distributions.RelaxedOneHotCategorical):
                return GumbelSoftmaxReparam()
            result = _loc_scale_reparam(msg["name"], fn, self.centered)
            if result is not None:
                return result
        return _minimal_reparam(fn, bool(msg["is_observed"]))


def _is_wrapper(fn: Any) -> bool:
    return isinstance(
        getattr(fn, "base_dist", None), torch.distributions.Distribution
    ) and not isinstance(fn, torch.distributions.RelaxedOneHotCategorical)


def _loc_scale_reparam(name: str, fn: Any, centered: float | None) -> Reparam | None:
    if "_decentered" in name:
        return None  # the decentered site itself: do not recurse
    params = set(getattr(fn, "arg_constraints", {}))
    if not {"loc", "scale"} <= params:
        return None
    if not _is_unconstrained(fn.support):
        return None
    return LocScaleReparam(centered=centered, shape_params=sorted(params - {"loc", "scale"}))


def _is_unconstrained(constraint: Any) -> bool:
    while hasattr(constraint, "base_constraint"):
        constraint = constraint.base_constraint
    return constraint == constraints.real
