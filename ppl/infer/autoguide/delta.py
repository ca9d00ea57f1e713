"""``AutoDelta``: a point mass per latent site (MAP estimation).

Design notes
------------
Each latent site ``x`` gets one parameter ``AutoDelta.x`` holding its value in the
site's *constrained* space (the store keeps it unconstrained through
``biject_to(support)``), created at full plate size with ``event_dim`` so a
subsampled plate slices it. The guide puts ``Delta(value)`` at ``x``; with
``Trace_ELBO`` the loss is then ``-log p(x, data)`` up to a constant: MAP inference.
The posterior is a point, so its median and every quantile are that point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import torch

from ppl import primitives
from ppl.distributions import Delta
from ppl.infer.autoguide.guide import AutoGuide
from ppl.infer.autoguide.initialization import init_to_median

__all__ = ["AutoDelta"]


class AutoDelta(AutoGuide):
    """MAP guide: a learnable point per latent site (Pyro's ``AutoDelta``).

    Args:
        model: the model.
        init_loc_fn: init strategy (default ``init_to_median``).
        create_plates: see :class:`~.guide.AutoGuide`.

    Raises:
        ValueError: at setup, for a discrete latent site.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> model = lambda: ppl.sample("s", dist.LogNormal(0.0, 1.0))
        >>> guide = AutoDelta(model, init_loc_fn="feasible")
        >>> float(guide.median()["s"])  # biject_to(positive)(0) = exp(0)
        1.0
    """

    _needs_bijection = False  # its points live on the support itself (transform_to)

    def __init__(
        self,
        model: Callable[..., Any],
        init_loc_fn: Callable[..., Any] | str = init_to_median,
        *,
        create_plates: Callable[..., Any] | None = None,
    ) -> None:
        # Pyro's signature: the init strategy may be passed positionally
        super().__init__(model, create_plates=create_plates, init_loc_fn=init_loc_fn)

    def _setup_params(self) -> None:
        for name, info in self._sites.items():
            support = self.prototype_trace.nodes[name].fn.support  # type: ignore[union-attr]
            self._add_param(name, info.init_value, support, info.event_dim)

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Put a ``Delta`` at every latent site; returns ``{site: value}``."""
        plates = self._create_plates(*args, **kwargs)
        result: dict[str, torch.Tensor] = {}
        for name, info in self._sites.items():
            with ExitStack() as stack:
                self._enter_plates(stack, plates, info)
                value = self._param(name)
                result[name] = primitives.sample(name, Delta(value, event_dim=info.event_dim))
        return result

    def sample_latent(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The point of every site, in unconstrained space (full size)."""
        self.setup(*args, **kwargs)
        return {n: i.transform.inv(self._lookup(n)) for n, i in self._sites.items()}

    @torch.no_grad()
    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The point of every site (full size)."""
        self.setup(*args, **kwargs)
        return {name: self._lookup(name).detach() for name in self._sites}

    @torch.no_grad()
    def quantiles(
        self, quantiles: Sequence[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Every quantile of a point mass is the point: ``{site: (len(quantiles), *shape)}``.

        Raises:
            ValueError: if ``quantiles`` is not a 1-D sequence of levels in (0, 1).
        """
        self.setup(*args, **kwargs)
        result = {}
        for name in self._sites:
            value = self._lookup(name).detach()
            q = self._quantile_tensor(quantiles, value)
            result[name] = value.expand((len(q),) + value.shape)
        return result
