"""Effect-based autoguides: ``AutoMessenger`` and its Normal / hierarchical / regressive kinds.

Design notes
------------
These guides are :class:`~ppl.poutine.guide.GuideMessenger` s that are also
``PyroModule`` s: parameters are created lazily, at the first run that reaches a
site, as ``PyroParam`` attributes ``locs.<site>`` / ``scales.<site>`` (and
``weights.<site>``), so they live in the ParamStore under those names and in the
module's ``state_dict``. Because the posterior is built from the prior that the model
computed with the upstream *posterior* draws, the guides see the model's dependency
structure for free (the regressive guide transforms the prior itself).

Initial values come from ``init_loc_fn`` at the site's (plate-broadcast) prior, mapped
to unconstrained space. Plates active around the guide call (e.g. a particle plate)
and ``amortized_plates`` are averaged out of the init, so their parameters are shared;
a subsampled plate's init is repeated periodically up to the plate's full size, so
later minibatches slice their own rows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Distribution, biject_to

from ppl.distributions import Normal, TransformedDistribution, constraints
from ppl.distributions.transforms import AffineTransform
from ppl.infer.autoguide.initialization import init_to_feasible, init_to_mean
from ppl.infer.autoguide.utils import check_init_scale, spherical_site_error
from ppl.nn import PyroModule, PyroParam
from ppl.ops.tensor_utils import periodic_repeat
from ppl.poutine.guide import GuideMessenger
from ppl.poutine.runtime import Message, get_plates

__all__ = [
    "AutoHierarchicalNormalMessenger",
    "AutoMessenger",
    "AutoNormalMessenger",
    "AutoRegressiveMessenger",
]


# the prior mean, else a feasible point (Pyro's default for these guides)
_DEFAULT_INIT: Callable[..., Any] = init_to_mean(fallback=init_to_feasible)


def _deep_setattr(root: PyroModule, dotted: str, value: Any) -> None:
    """``root.a.b.c = value``, creating ``PyroModule`` containers on the way."""
    *path, last = dotted.split(".")
    module = root
    for part in path:
        child = module._modules.get(part)
        if child is None:
            setattr(module, part, PyroModule())
            child = module._modules[part]
        module = child  # type: ignore[assignment]
    setattr(module, last, value)


def _support_transform(name: str, prior: Distribution) -> Any:
    support = prior.support
    try:
        return biject_to(support)
    except NotImplementedError as err:
        if "sphere" in repr(support).lower():
            raise spherical_site_error(name) from err
        raise ValueError(
            f"latent site {name!r} has the support {support}, which has no bijection from "
            f"the reals ({err}); effect autoguides handle continuous latents only: hide the "
            "site with poutine.block and guide it yourself, or marginalize it out"
        ) from err


class AutoMessenger(GuideMessenger, PyroModule):
    """Base class of the effect-based autoguides (Pyro's ``AutoMessenger``).

    Args:
        model: the model.
        amortized_plates: names of plates whose guide parameters are shared across
            the plate (one set for every member), e.g. for subsampled data.
    """

    def __init__(
        self, model: Callable[..., Any], *, amortized_plates: tuple[str, ...] = ()
    ) -> None:
        super().__init__(model)
        self.amortized_plates = tuple(amortized_plates)

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Run the model with this guide's posteriors; every sample site's value."""
        return PyroModule.__call__(self, *args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        self._outer_plates = tuple(frame.name for frame in get_plates())
        try:
            return self._run_guide(*args, **kwargs)
        finally:
            del self._outer_plates

    def call(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, ...]:
        """The values of :meth:`__call__` as a tuple sorted by site name (for tracers)."""
        result = self(*args, **kwargs)
        return tuple(value for _, value in sorted(result.items()))

    @torch.no_grad()
    def _adjust_plates(self, value: torch.Tensor, event_dim: int) -> torch.Tensor:
        """A site's init value at the parameter's shape (see the module notes)."""
        outer = getattr(self, "_outer_plates", ())
        for frame in get_plates():
            if frame.dim is None:
                continue
            dim = frame.dim - event_dim
            full_size = getattr(frame, "full_size", None) or frame.size
            if frame.name in outer or frame.name in self.amortized_plates:
                if -value.dim() <= dim:
                    value = value.mean(dim, keepdim=True)
            elif frame.size != full_size and -value.dim() <= dim:
                value = periodic_repeat(value, full_size, dim).contiguous()
        while value.dim() > event_dim and value.shape[0] == 1:
            value = value.squeeze(0)
        return value

    def _init_unconstrained(self, name: str, prior: Distribution, transform: Any) -> torch.Tensor:
        init_loc_fn: Callable[..., Any] = self.init_loc_fn  # type: ignore[attr-defined]
        site = Message(type="sample", name=name, fn=prior)
        with torch.no_grad():
            constrained = init_loc_fn(site).detach()
            return transform.inv(constrained)

    def _loc_scale_params(
        self, name: str, prior: Distribution, transform: Any, loc_factor: float = 1.0
    ) -> tuple[Any, ...]:
        """The site's ``locs.<name>`` and ``scales.<name>`` params, created on first use:
        the loc at ``loc_factor`` times the unconstrained init value, every scale at
        ``init_scale``."""
        found = self._params(name, ("locs", "scales"))
        if found is not None:
            return found
        event_dim = transform.domain.event_dim
        init = self._adjust_plates(self._init_unconstrained(name, prior, transform), event_dim)
        init_loc = init if loc_factor == 1.0 else init * loc_factor
        init_scale = torch.full_like(init_loc, self._init_scale)  # type: ignore[attr-defined]
        _deep_setattr(self, "locs." + name, PyroParam(init_loc, event_dim=event_dim))
        _deep_setattr(
            self,
            "scales." + name,
            PyroParam(init_scale, constraint=constraints.positive, event_dim=event_dim),
        )
        return self._loc_scale_params(name, prior, transform)

    def _params(self, name: str, kinds: tuple[str, ...]) -> tuple[Any, ...] | None:
        try:
            return tuple(operator.attrgetter(name)(getattr(self, kind)) for kind in kinds)
        except AttributeError:
            return None


class AutoNormalMessenger(AutoMessenger):
    """Mean-field Normal posterior in unconstrained space at every latent site.

    The same family as :class:`~ppl.infer.autoguide.AutoNormal`, written as an effect
    guide so a subclass can override :meth:`get_posterior` at chosen sites and fall
    back to ``super().get_posterior(name, prior)`` elsewhere.

    Args:
        model: the model.
        init_loc_fn: init strategy (default: the prior mean, else a feasible point).
        init_scale: initial scale of every coordinate (unconstrained space).
        amortized_plates: see :class:`AutoMessenger`.

    Raises:
        ValueError: if ``init_scale`` is not a positive number; at a run, for a latent
            site without a bijection from the reals.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> def model():
        ...     ppl.sample("s", dist.LogNormal(0.0, 1.0))
        >>> guide = AutoNormalMessenger(model)
        >>> sorted(guide())
        ['s']
        >>> sorted(ppl.get_param_store())
        ['locs.s', 'scales.s']
    """

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        init_loc_fn: Callable[..., Any] = _DEFAULT_INIT,
        init_scale: float = 0.1,
        amortized_plates: tuple[str, ...] = (),
    ) -> None:
        init_scale = check_init_scale(type(self).__name__, init_scale)
        super().__init__(model, amortized_plates=amortized_plates)
        self.init_loc_fn = init_loc_fn
        self._init_scale = init_scale
        self._computing_median = False

    def get_posterior(self, name: str, prior: Distribution) -> Distribution | torch.Tensor:
        transform = _support_transform(name, prior)
        loc, scale = self._loc_scale(name, prior, transform)
        if self._computing_median:
            return transform(loc)
        event_dim = transform.domain.event_dim
        base = Normal(loc, scale).to_event(event_dim)
        return TransformedDistribution(base, transform.with_cache())

    def _loc_scale(self, name: str, prior: Distribution, transform: Any) -> tuple[Any, ...]:
        return self._loc_scale_params(name, prior, transform)

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Every site's value with each latent at its posterior median."""
        self._computing_median = True
        try:
            return self(*args, **kwargs)
        finally:
            self._computing_median = False


class AutoHierarchicalNormalMessenger(AutoNormalMessenger):
    """Normal posterior whose mean also follows the prior mean (given upstream draws).

    In unconstrained space the posterior mean is
    ``loc + weight * transform.inv(prior.mean)``, so a site's posterior moves with its
    parents' draws, which suits hierarchical models. The prior must have a mean.

    Args:
        model: the model.
        init_loc_fn: init strategy (default: the prior mean, else a feasible point).
        init_scale: initial scale of every coordinate (unconstrained space).
        amortized_plates: see :class:`AutoMessenger`.
        init_weight: initial (positive) weight of the prior mean.
        hierarchical_sites: sites given the weighted prior mean (default: all);
            other sites get the plain mean-field Normal.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> def model():
        ...     mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
        ...     ppl.sample("x", dist.Normal(mu, 1.0))
        >>> _ = AutoHierarchicalNormalMessenger(model)()
        >>> sorted(ppl.get_param_store())
        ['locs.mu', 'locs.x', 'scales.mu', 'scales.x', 'weights.mu', 'weights.x']
    """

    weight_type = "element-wise"

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        init_loc_fn: Callable[..., Any] = _DEFAULT_INIT,
        init_scale: float = 0.1,
        amortized_plates: tuple[str, ...] = (),
        init_weight: float = 1.0,
        hierarchical_sites: list[str] | None = None,
    ) -> None:
        super().__init__(
            model, init_loc_fn=init_loc_fn, init_scale=init_scale, amortized_plates=amortized_plates
        )
        self._init_weight = init_weight
        self._hierarchical_sites = hierarchical_sites

    def _is_hierarchical(self, name: str) -> bool:
        return self._hierarchical_sites is None or name in self._hierarchical_sites

    def get_posterior(self, name: str, prior: Distribution) -> Distribution | torch.Tensor:
        if not self._is_hierarchical(name):
            return super().get_posterior(name, prior)
        transform = _support_transform(name, prior)
        loc, scale, weight = self._loc_scale_weight(name, prior, transform)
        loc = loc + transform.inv(prior.mean) * weight
        if self._computing_median:
            return transform(loc)
        base = Normal(loc, scale).to_event(transform.domain.event_dim)
        return TransformedDistribution(base, transform.with_cache())

    def _loc_scale_weight(
        self, name: str, prior: Distribution, transform: Any
    ) -> tuple[Any, ...]:
        found = self._params(name, ("locs", "scales", "weights"))
        if found is not None:
            return found
        event_dim = transform.domain.event_dim
        init_loc = self._adjust_plates(
            self._init_unconstrained(name, prior, transform), event_dim
        )
        with torch.no_grad():
            if self.weight_type == "scalar":
                init_weight = torch.full((), self._init_weight, dtype=init_loc.dtype)
            else:
                init_weight = torch.full_like(init_loc, self._init_weight)
            prior_mean = self._adjust_plates(transform.inv(prior.mean), event_dim)
            init_loc = init_loc - init_weight * prior_mean  # so the posterior mean starts at init
        init_scale = torch.full_like(init_loc, self._init_scale)
        _deep_setattr(self, "locs." + name, PyroParam(init_loc, event_dim=event_dim))
        _deep_setattr(
            self,
            "scales." + name,
            PyroParam(init_scale, constraint=constraints.positive, event_dim=event_dim),
        )
        weight_event_dim = None if self.weight_type == "scalar" else event_dim
        _deep_setattr(
            self,
            "weights." + name,
            PyroParam(init_weight, constraint=constraints.positive, event_dim=weight_event_dim),
        )
        return self._loc_scale_weight(name, prior, transform)


class AutoRegressiveMessenger(AutoMessenger):
    """Posterior = a learned affine map of the prior, in unconstrained space.

    At each site the prior (conditioned on upstream posterior draws) is pushed through
    ``transform.inv``, ``u -> loc + scale * u`` and back, so the guide inherits the
    model's dependency structure. Continuous latents only.

    Args:
        model: the model.
        init_loc_fn: init strategy (default: the prior mean, else a feasible point).
        init_scale: initial ``scale``; ``loc`` starts at ``(1 - init_scale) * init``,
            so the initial posterior is ``init_scale * prior + (1 - init_scale) * init``.
        amortized_plates: see :class:`AutoMessenger`.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> guide = AutoRegressiveMessenger(lambda: ppl.sample("z", dist.Normal(4.0, 1.0)))
        >>> round(float(guide.locs.z), 4) if guide() else None  # 0.9 * prior mean 4
        3.6
    """

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        init_loc_fn: Callable[..., Any] = _DEFAULT_INIT,
        init_scale: float = 0.1,
        amortized_plates: tuple[str, ...] = (),
    ) -> None:
        init_scale = check_init_scale(type(self).__name__, init_scale)
        super().__init__(model, amortized_plates=amortized_plates)
        self.init_loc_fn = init_loc_fn
        self._init_scale = init_scale

    def get_posterior(self, name: str, prior: Distribution) -> Distribution | torch.Tensor:
        transform = _support_transform(name, prior)
        loc, scale = self._loc_scale(name, prior, transform)
        affine = AffineTransform(loc, scale, event_dim=transform.domain.event_dim, cache_size=1)
        return TransformedDistribution(
            prior, [transform.inv.with_cache(), affine, transform.with_cache()]
        )

    def _loc_scale(self, name: str, prior: Distribution, transform: Any) -> tuple[Any, ...]:
        # the loc starts shrunk towards 0 by init_scale, so the first step stays near the prior
        return self._loc_scale_params(name, prior, transform, loc_factor=1 - self._init_scale)
