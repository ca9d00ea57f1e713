"""``Reparam``: the interface every reparameterizer implements.

A reparameterizer rewrites one sample site. :class:`~ppl.poutine.reparam_messenger.
ReparamMessenger` calls :meth:`Reparam.apply` with a small dict describing the site
(:class:`ReparamMessage`) and copies the answer (:class:`ReparamResult`) back into the
site. Inside ``apply`` a reparameterizer may draw new, auxiliary sample sites (named
``<site>_<suffix>``) with ``ppl.sample``; they go through the whole handler stack
like any other site.

Two conventions keep reparameterized models equivalent to the original ones:

* the original site usually becomes a *deterministic* site: a ``Delta`` at the value,
  masked out (``.mask(False)``) when the auxiliary sites already carry the density,
  and marked observed so that no guide or kernel samples it;
* an initial value given to the original site (by ``InitMessenger``) is pulled back
  to the auxiliary sites (``obs=value, infer={"is_observed": False}``), so the rewritten
  model starts where the original would have.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> class Shift(Reparam):
    ...     def apply(self, msg):
    ...         z = ppl.sample(f"{msg['name']}_base", dist.Normal(0.0, 1.0))
    ...         value = z + 1.0
    ...         return {"fn": dist.Delta(value).mask(False), "value": value, "is_observed": True}
    >>> model = ppl.poutine.reparam(lambda: ppl.sample("x", dist.Normal(1.0, 1.0)), {"x": Shift()})
    >>> ppl.poutine.trace(model).get_trace().stochastic_nodes
    ['x_base']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Distribution, Independent
from typing_extensions import TypedDict

from ...distributions.torch_dists import Independent as _PplIndependent

__all__ = ["Reparam", "ReparamMessage", "ReparamResult"]


class ReparamMessage(TypedDict):
    """What a reparameterizer sees of a sample site."""

    name: str
    fn: Callable[..., Any]
    value: torch.Tensor | None
    is_observed: bool | None


class ReparamResult(TypedDict):
    """What a reparameterizer answers: the site's new distribution, value and flag."""

    fn: Callable[..., Any]
    value: torch.Tensor | None
    is_observed: bool


class Reparam:
    """Base class of reparameterizers: implement :meth:`apply`.

    ``args_kwargs`` holds the wrapped model's ``(args, kwargs)`` during :meth:`apply`
    when ``poutine.reparam`` wraps the model (None under a bare context manager).
    """

    args_kwargs: tuple[tuple[Any, ...], dict[str, Any]] | None = None

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        """Rewrite one sample site.

        Args:
            msg: ``name`` (str), ``fn`` (the distribution), ``value`` (an observed or
                initial value, or None) and ``is_observed``.

        Returns:
            ``fn`` (the site's new distribution), ``value`` (its value, or None to let
            the site be sampled from ``fn``) and ``is_observed``.
        """
        # Older reparameterizers implemented __call__(name, fn, obs) -> (fn, value).
        warnings.warn(
            f"{type(self).__name__}: Reparam.__call__(name, fn, obs) is deprecated; "
            "implement .apply(msg) instead",
            DeprecationWarning,
            stacklevel=2,
        )
        new_fn, value = self(msg["name"], msg["fn"], msg["value"])
        is_observed = msg["value"] is None and value is not None
        return {"fn": new_fn, "value": value, "is_observed": is_observed}

    def __call__(self, name: str, fn: Any, obs: Any) -> Any:
        """Deprecated interface; subclasses implement :meth:`apply`."""
        raise NotImplementedError(
            f"{type(self).__name__} implements neither .apply(msg) nor the deprecated "
            "__call__(name, fn, obs)"
        )

    def _unwrap(self, fn: Distribution) -> tuple[Distribution, int]:
        """Strip ``Independent`` wrappers; return the inner distribution and the event dim."""
        event_dim = len(fn.event_shape)
        while isinstance(fn, Independent):
            fn = fn.base_dist
        return fn, event_dim

    def _wrap(self, fn: Distribution, event_dim: int) -> Any:
        """Reinterpret batch dims of ``fn`` as event dims until it has ``event_dim`` of them."""
        have = len(fn.event_shape)
        if have < event_dim:
            if hasattr(fn, "to_event"):
                fn = fn.to_event(event_dim - have)
            else:  # a plain torch distribution (e.g. the base of a torch LogNormal)
                fn = _PplIndependent(fn, event_dim - have)
        if len(fn.event_shape) != event_dim:
            raise ValueError(
                f"{type(self).__name__}: expected a distribution with event dim {event_dim}, "
                f"got event shape {tuple(fn.event_shape)}"
            )
        return fn


def expect_family(reparam: Reparam, name: str, fn: Any, expected: type | tuple[type, ...]) -> None:
    """Raise a TypeError naming the site when ``fn`` is not of the expected family."""
    if not isinstance(fn, expected):
        names = (
            expected.__name__
            if isinstance(expected, type)
            else " or ".join(t.__name__ for t in expected)
        )
        raise TypeError(
            f"at site {name!r}: {type(reparam).__name__} expects a {names} distribution, "
            f"got {type(fn).__name__}"
        )
