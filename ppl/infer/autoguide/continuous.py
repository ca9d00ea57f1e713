"""``AutoContinuous``: guides over one packed vector of all latents; ``AutoDiagonalNormal``.

Design notes
------------
All latent sites are mapped to unconstrained space and packed into one vector of
length ``latent_dim`` with the project's single flatten/fold mechanism,
:class:`ppl.ops.layout.Layout` (one entry per site, its unconstrained shape, in model
order). A subclass chooses a distribution over that vector
(:meth:`AutoContinuous.get_posterior`). A guide run samples the vector once, at the
auxiliary site ``_<Name>_latent`` (``infer={"is_auxiliary": True}``), folds it, maps
each piece through ``biject_to(support)`` and puts a ``Delta`` at each model site,
carrying the log-Jacobian so the guide's density is the pushforward density.

Batch dims to the left of the latent vector (vectorized particles) are kept; they are
right-aligned with each site's plate dims, so a site in a plate gets a value of shape
``particles x plate`` rather than ``particles x 1 x plate``.

Latent sites inside a *subsampled* plate cannot be packed (the vector would change
size with the minibatch): setup raises a ``ValueError`` pointing to ``AutoNormal``.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import torch
from torch.distributions import AffineTransform, Distribution, Transform

from ppl import primitives
from ppl.distributions import Delta, Normal, constraints
from ppl.infer.autoguide.guide import AutoGuide
from ppl.infer.autoguide.initialization import init_to_median
from ppl.infer.autoguide.utils import SiteInfo, check_init_scale, log_density_of
from ppl.ops.layout import Layout
from ppl.poutine.mask_messenger import get_mask

__all__ = ["AutoContinuous", "AutoDiagonalNormal"]


class AutoContinuous(AutoGuide):
    """Base of the guides over the packed unconstrained latent vector (Pyro's ``AutoContinuous``).

    Subclasses implement :meth:`get_posterior` (a distribution over the vector) and
    ``_loc_scale`` (its mean and marginal standard deviations).

    Args:
        model: the model.
        init_loc_fn: init strategy for the location (default ``init_to_median``).
        create_plates: see :class:`~.guide.AutoGuide`.

    Attributes:
        latent_dim: length of the packed vector (after setup).
        layout: the :class:`~ppl.ops.layout.Layout` of the vector (after setup).
    """

    def __init__(
        self,
        model: Callable[..., Any],
        init_loc_fn: Callable[..., Any] | str = init_to_median,
        *,
        create_plates: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(model, create_plates=create_plates, init_loc_fn=init_loc_fn)
        self.layout: Layout | None = None
        self.latent_dim = 0

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        for name, info in self._sites.items():
            if info.subsampled:
                raise ValueError(
                    f"{type(self).__name__}: latent site {name!r} is inside a subsampled plate "
                    f"({[f.name for f in info.frames]}); a packed latent vector cannot be "
                    "minibatched. Use AutoNormal or AutoDelta for local latents (or an "
                    "AutoGuideList with this guide on the global sites only)."
                )
        self.layout = Layout(
            (name, tuple(info.init_unconstrained.shape)) for name, info in self._sites.items()
        )
        self.latent_dim = self.layout.size

    def _init_loc(self) -> torch.Tensor:
        """The packed unconstrained init values, shape ``(latent_dim,)``."""
        assert self.layout is not None  # internal: called after the prototype
        inits = {name: info.init_unconstrained for name, info in self._sites.items()}
        if not inits:
            return torch.zeros(0)
        return self.layout.flatten(inits).detach().clone()

    # ------------------------------------------------------------------ subclass API
    @abstractmethod
    def get_posterior(self, *args: Any, **kwargs: Any) -> Distribution:
        """The guide's distribution over the packed latent vector (event shape ``(D,)``)."""

    @abstractmethod
    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and marginal standard deviation of each coordinate of the vector."""

    def get_base_dist(self) -> Distribution:
        """The standard Normal over the vector that :meth:`get_transform` pushes forward."""
        loc = self._param("loc")
        return Normal(torch.zeros_like(loc), torch.ones_like(loc)).to_event(1)

    def get_transform(self, *args: Any, **kwargs: Any) -> Transform:
        """The bijection from :meth:`get_base_dist` to :meth:`get_posterior`."""
        raise NotImplementedError(
            f"{type(self).__name__} has no bijection from a standard Normal to its posterior"
        )

    # ------------------------------------------------------------------ pack / unpack
    def _unpack(self, latent: torch.Tensor) -> dict[str, torch.Tensor]:
        """Fold a ``(..., latent_dim)`` vector into ``{site: unconstrained value}``."""
        assert self.layout is not None  # internal: called after setup
        pieces = self.layout.fold(latent)
        batch = latent.shape[:-1]
        if not batch:
            return pieces
        return {n: self._align(self._sites[n], pieces[n], batch) for n in pieces}

    @staticmethod
    def _align(info: SiteInfo, piece: torch.Tensor, batch: torch.Size) -> torch.Tensor:
        """Right-align extra batch dims of ``piece`` with the site's own batch dims."""
        site_shape = info.init_unconstrained.shape
        n_event = info.unconstrained_event_dim
        site_batch = site_shape[: len(site_shape) - n_event]
        if not site_batch:
            return piece
        try:
            target = torch.broadcast_shapes(batch, site_batch)
        except RuntimeError:
            return piece
        if math.prod(target) != math.prod(batch) * math.prod(site_batch):
            return piece
        return piece.reshape(target + site_shape[len(site_batch) :])

    def _constrain(self, unconstrained: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map unconstrained values to their supports (detached: for summaries)."""
        return {n: self._sites[n].transform(u).detach() for n, u in unconstrained.items()}

    # ------------------------------------------------------------------ the guide
    def sample_latent(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Sample the packed vector at the auxiliary site ``_<Name>_latent``.

        Returns:
            A ``(latent_dim,)`` tensor (more leading dims under vectorized plates).
        """
        self.setup(*args, **kwargs)
        posterior = self.get_posterior(*args, **kwargs)
        return primitives.sample(
            f"_{self._pyro_name}_latent", posterior, infer={"is_auxiliary": True}
        )

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Sample the packed vector, then every model site; returns ``{site: value}``."""
        latent = self.sample_latent(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        masked = get_mask() is False
        result: dict[str, torch.Tensor] = {}
        for name, u in self._unpack(latent).items():
            info = self._sites[name]
            value = info.transform(u)
            log_density = 0.0 if masked else log_density_of(info, value, u)
            with ExitStack() as stack:
                self._enter_plates(stack, plates, info)
                delta = Delta(value, log_density=log_density, event_dim=info.event_dim)
                result[name] = primitives.sample(name, delta)
        return result

    @torch.no_grad()
    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The posterior median of each site: the transformed location (constrained space)."""
        self.setup(*args, **kwargs)
        loc, _ = self._loc_scale(*args, **kwargs)
        return self._constrain(self._unpack(loc))

    @torch.no_grad()
    def quantiles(
        self, quantiles: Sequence[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Marginal quantiles ``{site: (len(quantiles), *shape)}`` (exact for elementwise supports).

        Raises:
            ValueError: if ``quantiles`` is not a 1-D sequence of levels in (0, 1).
        """
        self.setup(*args, **kwargs)
        loc, scale = self._loc_scale(*args, **kwargs)
        q = self._quantile_tensor(quantiles, loc).unsqueeze(-1)
        if bool((scale == 0).all()):
            latents = loc.expand(q.shape[:-1] + loc.shape)
        else:
            latents = Normal(loc, scale).icdf(q)
        assert self.layout is not None
        return self._constrain(self.layout.fold(latents))


class AutoDiagonalNormal(AutoContinuous):
    """Normal with diagonal covariance over the packed vector (Pyro's ``AutoDiagonalNormal``).

    Parameters ``AutoDiagonalNormal.loc`` and ``AutoDiagonalNormal.scale``
    (``softplus_positive``), both ``(latent_dim,)``.

    Args:
        model: the model.
        init_loc_fn: init strategy (default ``init_to_median``).
        init_scale: initial scale of every coordinate.
        create_plates: see :class:`~.guide.AutoGuide`.

    Raises:
        ValueError: if ``init_scale`` is not positive; at setup, for a discrete latent
            or a latent inside a subsampled plate.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> guide = AutoDiagonalNormal(lambda: ppl.sample("x", dist.Normal(0.0, 1.0).expand([3])))
        >>> guide.setup().latent_dim
        3
    """

    scale_constraint = constraints.softplus_positive

    def __init__(
        self,
        model: Callable[..., Any],
        init_loc_fn: Callable[..., Any] | str = init_to_median,
        init_scale: float = 0.1,
        *,
        create_plates: Callable[..., Any] | None = None,
    ) -> None:
        self._init_scale = check_init_scale("AutoDiagonalNormal", init_scale)
        super().__init__(model, init_loc_fn=init_loc_fn, create_plates=create_plates)

    def _setup_params(self) -> None:
        loc = self._init_loc()
        self._add_param("loc", loc)
        self._add_param("scale", torch.full_like(loc, self._init_scale), self.scale_constraint)

    def get_posterior(self, *args: Any, **kwargs: Any) -> Distribution:
        """``Normal(loc, scale).to_event(1)``."""
        return Normal(self._param("loc"), self._param("scale")).to_event(1)

    def get_transform(self, *args: Any, **kwargs: Any) -> Transform:
        """``x = loc + scale * z``."""
        return AffineTransform(self._param("loc"), self._param("scale"), event_dim=1)

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self._lookup("loc"), self._lookup("scale")
