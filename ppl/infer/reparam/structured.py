"""``StructuredReparam``: precondition a model's latent sites with a trained ``AutoStructured``.

A trained :class:`~ppl.infer.autoguide.AutoStructured` guide is a map from auxiliary
noise (its ``<site>_aux`` sites, standard normal) to the model's latent values, with
the per-site scales and the linear dependencies between sites learned by SVI. Putting
that map into the model makes the auxiliary noise the new latent variables: each
original site becomes a ``Delta`` at the guide's value, carrying the model's density
plus the guide's log-density correction, so MCMC on the rewritten model samples the
noise, whose posterior is close to isotropic when the guide fits well (the idea of
NeuTra, restricted to AutoStructured's shape). Sites the guide treats as ``delta``
are fixed at their point estimates, an approximation.

The rewritten model's density of the noise ``u`` is the exact change of variables
``p(x(u), data) |dx/du|`` (the sheared map is triangular, so ``|dx/du|`` is the
product of each site's own scale and support Jacobian), however well the guide fits:
exact MCMC on it samples the model's posterior. (Pyro 1.9 keeps the noise's own
density ``N(u)`` and adds ``-log|dx/du|``, so its rewritten density in ``u`` is
``p(x(u)) q(x(u))``, which in ``x`` is ``p(x) q(x)``: half the posterior variance
for a well-fitted Gaussian guide.)

All sites share one instance (the joint draw is made at the first site and consumed
site by site), so the model must have static structure; observed sites are rejected.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> from ppl.infer.autoguide import AutoStructured
    >>> def model():
    ...     x = ppl.sample("x", dist.Normal(0.0, 10.0))
    ...     ppl.sample("y", dist.Normal(x, 1.0), obs=torch.tensor(3.0))
    >>> guide = AutoStructured(model, conditionals="normal").setup()
    >>> rep = StructuredReparam(guide)
    >>> tr = ppl.poutine.trace(rep.reparam(model)).get_trace()
    >>> tr.stochastic_nodes, tr.nodes["x"]["is_observed"]
    (['x_aux'], True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import torch

from ... import poutine
from ...distributions import Delta, Normal
from ...poutine.plate_messenger import block_plate
from ..autoguide.structured import AutoStructured
from .reparam import Reparam, ReparamMessage, ReparamResult

__all__ = ["StructuredReparam"]


class StructuredReparam(Reparam):
    """Rewrite every latent site the guide knows into a ``Delta`` driven by the guide's noise.

    Args:
        guide: a trained :class:`AutoStructured` (set up and fitted; its parameters are
            frozen with ``requires_grad_(False)``).

    Raises:
        TypeError: if ``guide`` is not an ``AutoStructured``.
        NotImplementedError: at an observed site of the guide's.
    """

    def __init__(self, guide: AutoStructured) -> None:
        if not isinstance(guide, AutoStructured):
            raise TypeError(
                f"StructuredReparam expected an AutoStructured guide, got {type(guide).__name__}"
            )
        self.guide = guide.requires_grad_(False)
        self.deltas: dict[str, Delta] = {}
        self._noise: dict[str, torch.Tensor] = {}

    def _sites(self) -> Any:
        proto = self.guide.prototype_trace
        if proto is None:
            raise ValueError(
                "StructuredReparam: the guide is not set up; call guide.setup(*model_args) "
                "(or train it) first"
            )
        return proto.nodes

    def _config(self, site: Any) -> Reparam | None:
        # only the guide's latent sites: the likelihood keeps its own distribution
        proto = self._sites().get(site["name"])
        if proto is None or proto["type"] != "sample" or proto["is_observed"]:
            return None
        return self

    def reparam(self, fn: Callable[..., Any] | None = None) -> Any:
        """``poutine.reparam(fn, config)`` with this instance at every latent site of the
        guide (observed sites keep their distributions)."""
        return poutine.reparam(fn, config=self._config)

    def _plate_dims(self) -> list[int]:
        dims: set[int] = set()
        for site in self._sites().values():
            for frame in site.get("cond_indep_stack", ()):
                if frame.vectorized and frame.dim is not None:
                    dims.add(frame.dim)
        return sorted(dims)

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any = msg["fn"]
        value = msg["value"]
        if name not in self._sites():
            return {"fn": fn, "value": value, "is_observed": bool(msg["is_observed"])}
        if msg["is_observed"]:
            raise NotImplementedError(
                f"at site {name!r}: StructuredReparam does not support observed sites"
            )
        if name not in self.deltas:  # the first site of a model run: one joint draw
            with ExitStack() as stack:
                for dim in self._plate_dims():
                    stack.enter_context(block_plate(dim=dim, strict=False))
                tracer = stack.enter_context(poutine.trace())
                self.deltas = self.guide.get_deltas()
            self._noise = {
                site: tracer.trace.nodes[f"{site}_aux"]["value"]
                for site in self.deltas
                if f"{site}_aux" in tracer.trace.nodes
            }
        new_fn = self.deltas.pop(name)
        value = new_fn.v
        if poutine.get_mask() is not False:
            # density of the noise u: log p(x(u)) + log|dx/du|. The guide's Delta holds
            # log q(x) - log N(u) = -log|dx/du| and the noise site counts log N(u), so
            # the site carries log p(x) - (log q(x) - log N(u)) - log N(u).
            log_density = fn.log_prob(value) - new_fn.log_density
            noise = self._noise.pop(name, None)
            if noise is not None:
                per_elem = Normal(torch.zeros((), dtype=noise.dtype, device=noise.device), 1.0)
                log_noise = per_elem.log_prob(noise)
                log_density = log_density - log_noise.reshape(new_fn.batch_shape + (-1,)).sum(-1)
            new_fn = Delta(value, log_density, new_fn.event_dim)
        return {"fn": new_fn, "value": value, "is_observed": True}

    def transform_samples(
        self, aux_samples: dict[str, torch.Tensor], save_params: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Map draws of the auxiliary sites (e.g. from MCMC on the reparameterized model,
        with a leading sample dim) to values of the model's latent sites.

        Args:
            aux_samples: ``{"<site>_aux": tensor}`` for every auxiliary site needed.
            save_params: only these model sites (default all).

        Returns:
            ``{site: value}``.
        """
        with poutine.condition(data=aux_samples), poutine.mask(mask=False):
            deltas = self.guide.get_deltas(save_params)
        return {name: delta.v for name, delta in deltas.items()}
