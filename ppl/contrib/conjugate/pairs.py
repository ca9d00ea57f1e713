"""Conjugate prior/likelihood pairs whose latent a sampler can integrate out analytically.

Design notes
------------
A pair object hands out two distributions for one model: ``pair.latent(...)`` (the
conjugate prior, e.g. ``Beta``) and ``pair.conditional(...)`` (the likelihood given the
latent, e.g. ``Binomial``). Both are instances of small subclasses of the base
distribution that carry two tags the handlers of :mod:`ppl.contrib.conjugate.infer`
read:

* ``collapsible = True`` on the latent; ``marginalize_latent = True`` on the conditional;
* ``parent``: the pair itself, so a handler at the observed site can reach the latent's
  parameters (``pair.compound()``) and, once data is known, its posterior
  (``pair.posterior(obs)``).

Plates expand a site's distribution (``fn.expand(batch_shape)``); the tagged classes
keep their tags through ``expand`` and point the pair at the expanded instance, so the
pair always knows the shapes the model actually used.

Example:
    >>> import torch
    >>> pair = BetaBinomialPair()
    >>> prior = pair.latent(torch.tensor(1.0), torch.tensor(1.0))
    >>> like = pair.conditional(probs=torch.tensor(0.5), total_count=torch.tensor(20.0))
    >>> post = pair.posterior(torch.tensor(12.0))  # uniform prior, 12 of 20 -> Beta(13, 9)
    >>> float(post.concentration1), float(post.concentration0)
    (13.0, 9.0)
    >>> type(pair.compound()).__name__
    '_BetaBinomial'
"""

from __future__ import annotations

from typing import Any

import torch

import ppl.distributions as dist
from ppl.distributions.util import sum_leftmost

__all__ = ["BetaBinomialPair", "ConjugatePair", "GammaPoissonPair"]

_TAGGED_CLASSES: dict[tuple[type, str], type] = {}


def _tagged_class(base: type, role: str) -> type:
    """``base`` subclass (one per ``(base, role)``) whose instances carry a pair.

    ``role`` is ``"latent"``, ``"conditional"`` or ``"compound"``; the first two relink
    the pair to the expanded instance in ``expand``.
    """
    key = (base, role)
    if key in _TAGGED_CLASSES:
        return _TAGGED_CLASSES[key]

    def expand(self: Any, batch_shape: Any, _instance: Any = None) -> Any:
        new = self._get_checked_instance(cls, _instance)
        new.parent = self.parent
        new.site_name = self.site_name
        new = base.expand(self, batch_shape, _instance=new)  # type: ignore[attr-defined]
        if role == "latent":
            self.parent._latent = new
        elif role == "conditional":
            self.parent._conditional = new
        return new

    attrs: dict[str, Any] = {
        "expand": expand,
        "parent": None,
        "site_name": None,
        "collapsible": role == "latent",
        "marginalize_latent": role == "conditional",
        "__module__": __name__,
        "__doc__": f"{base.__name__} tagged as the {role} of a conjugate pair.",
    }
    cls = type("_" + base.__name__, (base,), attrs)
    _TAGGED_CLASSES[key] = cls
    return cls


def _make(base: type, role: str, pair: ConjugatePair, *args: Any, **kwargs: Any) -> Any:
    fn = _tagged_class(base, role)(*args, **kwargs)
    fn.parent = pair
    return fn


class ConjugatePair:
    """A conjugate prior (``latent``) and likelihood (``conditional``) used in one model.

    Subclasses name the two base distributions and the compound (the likelihood with the
    latent integrated out), and implement :meth:`posterior` and :meth:`compound`.
    """

    latent_cls: type
    conditional_cls: type

    def __init__(self) -> None:
        self._latent: Any = None
        self._conditional: Any = None

    def latent(self, *args: Any, **kwargs: Any) -> Any:
        """The prior of the collapsible latent site (built from ``args``/``kwargs``)."""
        self._latent = _make(self.latent_cls, "latent", self, *args, **kwargs)
        return self._latent

    def conditional(self, *args: Any, **kwargs: Any) -> Any:
        """The likelihood given the latent value (built from ``args``/``kwargs``)."""
        self._conditional = _make(self.conditional_cls, "conditional", self, *args, **kwargs)
        return self._conditional

    def _require(self, what: str) -> None:
        missing = [
            name
            for name, fn in (("latent", self._latent), ("conditional", self._conditional))
            if fn is None
        ]
        if missing:
            raise ValueError(
                f"{type(self).__name__}.{what}() needs both pair.latent(...) and "
                f"pair.conditional(...) to have been called; missing {missing}"
            )

    def _num_data_dims(self, obs: torch.Tensor) -> int:
        reduce_dims = obs.dim() - len(self._latent.batch_shape)
        if reduce_dims < 0:
            raise ValueError(
                f"{type(self).__name__}.posterior: observed value of shape {tuple(obs.shape)} "
                f"has fewer dims than the latent's batch shape {tuple(self._latent.batch_shape)}"
            )
        return reduce_dims

    def posterior(self, obs: torch.Tensor) -> Any:
        """The latent's posterior given the observed value ``obs`` of the conditional."""
        raise NotImplementedError

    def compound(self) -> Any:
        """The conditional with the latent integrated out against its prior."""
        raise NotImplementedError


class BetaBinomialPair(ConjugatePair):
    """``p ~ Beta(c1, c0)``, ``k | p ~ Binomial(n, p)``; compound ``BetaBinomial(c1, c0, n)``.

    The posterior after observing counts ``k_i`` of ``n_i`` trials (summed over the dims
    the data adds to the latent's batch shape) is ``Beta(c1 + sum k, c0 + sum (n - k))``.
    """

    latent_cls = dist.Beta
    conditional_cls = dist.Binomial

    def posterior(self, obs: torch.Tensor) -> Any:
        self._require("posterior")
        reduce_dims = self._num_data_dims(obs)
        total_count = torch.as_tensor(
            self._conditional.total_count, dtype=obs.dtype, device=obs.device
        )
        total_count = sum_leftmost(total_count.expand(obs.shape), reduce_dims)
        heads = sum_leftmost(obs, reduce_dims)
        latent = self._latent
        return dist.Beta(
            latent.concentration1 + heads,
            latent.concentration0 + total_count - heads,
            validate_args=latent._validate_args,
        )

    def compound(self) -> Any:
        self._require("compound")
        fn = _tagged_class(dist.BetaBinomial, "compound")(
            concentration1=self._latent.concentration1,
            concentration0=self._latent.concentration0,
            total_count=self._conditional.total_count,
        )
        fn.parent = self
        return fn


class GammaPoissonPair(ConjugatePair):
    """``r ~ Gamma(a, b)``, ``k | r ~ Poisson(r)``; compound ``GammaPoisson(a, b)``.

    After ``N`` counts (the dims the data adds to the latent's batch shape) summing to
    ``K``, the posterior is ``Gamma(a + K, b + N)``.
    """

    latent_cls = dist.Gamma
    conditional_cls = dist.Poisson

    def posterior(self, obs: torch.Tensor) -> Any:
        self._require("posterior")
        reduce_dims = self._num_data_dims(obs)
        num_obs = obs.shape[:reduce_dims].numel()
        latent = self._latent
        return dist.Gamma(
            latent.concentration + sum_leftmost(obs, reduce_dims),
            latent.rate + num_obs,
            validate_args=latent._validate_args,
        )

    def compound(self) -> Any:
        self._require("compound")
        fn = _tagged_class(dist.GammaPoisson, "compound")(
            concentration=self._latent.concentration, rate=self._latent.rate
        )
        fn.parent = self
        return fn
