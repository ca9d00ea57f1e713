"""``AutoNormal``: an independent Normal per latent site, in unconstrained space.

Design notes
------------
Each latent site ``x`` gets two parameters of the site's unconstrained shape,
``AutoNormal.locs.x`` and ``AutoNormal.scales.x`` (``softplus_positive``), created at
full plate size with ``event_dim`` so a subsampled plate slices them to its minibatch.

For a site whose support is the real line the guide samples ``Normal(loc, scale)``
at ``x`` directly. For a constrained site it samples the auxiliary site
``x_unconstrained`` (``infer={"is_auxiliary": True}``) and puts a ``Delta`` at
``x = biject_to(support)(u)`` whose log-density is the log-Jacobian of the inverse
map, so the guide's density at ``x`` is exactly the pushforward density (as Pyro's).
The direct form halves the sites of unconstrained models (the common case in
regression), which matters for per-step overhead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import torch

from ppl import primitives
from ppl.distributions import Delta, Normal, constraints
from ppl.infer.autoguide.guide import AutoGuide
from ppl.infer.autoguide.initialization import init_to_feasible
from ppl.infer.autoguide.utils import check_init_scale, log_density_of
from ppl.poutine.mask_messenger import get_mask

__all__ = ["AutoNormal"]


class AutoNormal(AutoGuide):
    """Mean-field Normal guide with per-site ``loc``/``scale`` parameters (Pyro's ``AutoNormal``).

    Args:
        model: the model.
        init_loc_fn: init strategy for the locs (default ``init_to_feasible``, as Pyro's:
            unconstrained zero, so training starts from a deterministic point).
        init_scale: initial scale of every coordinate (unconstrained space).
        create_plates: see :class:`~.guide.AutoGuide`.

    Raises:
        ValueError: if ``init_scale`` is not a positive number; at setup, for a discrete
            latent site.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> def model(data):
        ...     mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
        ...     with ppl.plate("data", len(data)):
        ...         ppl.sample("obs", dist.Normal(mu, 1.0), obs=data)
        >>> guide = AutoNormal(model).setup(torch.zeros(3))
        >>> sorted(name for name, _ in guide.named_parameters())
        ['locs.mu_unconstrained', 'scales.mu_unconstrained']
        >>> sorted(ppl.get_param_store())
        ['AutoNormal.locs.mu', 'AutoNormal.scales.mu']
    """

    scale_constraint = constraints.softplus_positive

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        init_loc_fn: Callable[..., Any] | str = init_to_feasible,
        init_scale: float = 0.1,
        create_plates: Callable[..., Any] | None = None,
    ) -> None:
        init_scale = check_init_scale("AutoNormal", init_scale)
        super().__init__(model, create_plates=create_plates, init_loc_fn=init_loc_fn)
        self._init_scale = init_scale

    def _setup_params(self) -> None:
        self._add_loc_scale_params(self._init_scale, self.scale_constraint)

    def _get_loc_and_scale(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return self._param(f"locs.{name}"), self._param(f"scales.{name}")

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Sample every latent site; returns ``{site: constrained value}``."""
        plates = self._create_plates(*args, **kwargs)
        result: dict[str, torch.Tensor] = {}
        for name, info in self._sites.items():
            with ExitStack() as stack:
                self._enter_plates(stack, plates, info)
                loc, scale = self._get_loc_and_scale(name)
                q = Normal(loc, scale).to_event(info.unconstrained_event_dim)
                if info.identity:
                    result[name] = primitives.sample(name, q)
                    continue
                u = primitives.sample(f"{name}_unconstrained", q, infer={"is_auxiliary": True})
                value = info.transform(u)
                log_density = 0.0 if get_mask() is False else log_density_of(info, value, u)
                delta = Delta(value, log_density=log_density, event_dim=info.event_dim)
                result[name] = primitives.sample(name, delta)
        return result

    def sample_latent(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """One draw of every site's unconstrained value (full size, no sites recorded)."""
        self.setup(*args, **kwargs)
        out = {}
        for name in self._sites:
            loc = self._lookup(f"locs.{name}")
            scale = self._lookup(f"scales.{name}")
            out[name] = loc + scale * torch.randn_like(loc)
        return out

    @torch.no_grad()
    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """``biject_to(support)(loc)`` for every site (full size)."""
        self.setup(*args, **kwargs)
        return {
            name: info.transform(self._lookup(f"locs.{name}")).detach()
            for name, info in self._sites.items()
        }

    @torch.no_grad()
    def quantiles(
        self, quantiles: Sequence[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Marginal quantiles ``{site: (len(quantiles), *shape)}`` (exact for elementwise supports).

        Raises:
            ValueError: if ``quantiles`` is not a 1-D sequence of levels in (0, 1).

        Example:
            >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
            >>> guide = AutoNormal(lambda: ppl.sample("s", dist.LogNormal(0.0, 1.0)))
            >>> tuple(guide.quantiles([0.1, 0.5, 0.9])["s"].shape)
            (3,)
        """
        self.setup(*args, **kwargs)
        result = {}
        for name, info in self._sites.items():
            loc = self._lookup(f"locs.{name}")
            scale = self._lookup(f"scales.{name}")
            q = self._quantile_tensor(quantiles, loc).reshape((-1,) + (1,) * loc.dim())
            result[name] = info.transform(Normal(loc, scale).icdf(q)).detach()
        return result
