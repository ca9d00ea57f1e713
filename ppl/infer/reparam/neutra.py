"""``NeuTraReparam``: Neural Transport, HMC in the warped space of a trained guide.

A trained :class:`~ppl.infer.autoguide.AutoContinuous` guide ``q`` is a bijection ``T``
from a standard normal ``z`` to the packed unconstrained latents ``u = T(z)``. If
``q`` is close to the posterior, the posterior pulled back through ``T`` is close to
a standard normal, which HMC/NUTS explore easily (Hoffman et al. 2019,
"NeuTra-lizing Bad Geometry in Hamiltonian Monte Carlo Using Neural Transport").

The reparameterized model draws one shared latent ``<first site>_shared_latent``
(a masked standard normal: its density is accounted for below), maps it through
``T``, and every latent site of the guide takes its slice of ``u``, mapped to the
site's support. Each site is a ``Delta`` carrying

    log p(x) + log|det d x / d u|   (+ log|det d u / d z| at the first site)

so the joint density of the rewritten model is the original posterior density
pulled back to ``z``. All sites must share one ``NeuTraReparam`` instance, and the
model must have a static structure.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> from ppl.infer.autoguide import AutoDiagonalNormal
    >>> def model():
    ...     ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> guide = AutoDiagonalNormal(model)
    >>> guide()  # doctest: +ELLIPSIS
    {...}
    >>> neutra = NeuTraReparam(guide)
    >>> ppl.poutine.trace(neutra.reparam(model)).get_trace().stochastic_nodes
    ['x_shared_latent']
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import torch
from torch.distributions import biject_to

from ... import poutine, primitives
from ...distributions import Delta
from ...distributions.util import sum_rightmost
from ...poutine.plate_messenger import block_plate
from ..autoguide.continuous import AutoContinuous
from .reparam import Reparam, ReparamMessage, ReparamResult

__all__ = ["NeuTraReparam"]


class NeuTraReparam(Reparam):
    """Rewrite the latent sites of a trained ``AutoContinuous`` guide's model as one warped latent.

    Args:
        guide: a trained guide (already run once) with a ``get_transform()`` that does
            not depend on the model's arguments (e.g. AutoDiagonalNormal,
            AutoMultivariateNormal, AutoIAFNormal).

    Raises:
        TypeError: if ``guide`` is not an ``AutoContinuous``.

    Typical use::

        neutra = NeuTraReparam(guide.requires_grad_(False))
        mcmc = MCMC(NUTS(neutra.reparam(model)), num_samples=500)
        mcmc.run(data)
        z = mcmc.get_samples()["<first site>_shared_latent"]
        samples = neutra.transform_sample(z)
    """

    def __init__(self, guide: AutoContinuous) -> None:
        if not isinstance(guide, AutoContinuous):
            raise TypeError(
                f"NeuTraReparam expected an AutoContinuous guide, but got {type(guide).__name__}"
            )
        self.guide = guide
        self.transform: Any = None
        self.x_unconstrained: dict[str, torch.Tensor] = {}
        self.is_observed = None

    # ----------------------------------------------------------------- the guide's sites
    def _latent_names(self) -> tuple[str, ...]:
        layout = getattr(self.guide, "layout", None)
        if layout is None:
            raise ValueError(
                "NeuTraReparam: the guide has not been set up; run it (or train it) once "
                "before reparameterizing the model"
            )
        return tuple(layout.names)

    def _reparam_config(self, site: Any) -> NeuTraReparam | None:
        return self if site["name"] in self._latent_names() else None

    def reparam(self, fn: Callable[..., Any] | None = None) -> Any:
        """``poutine.reparam(fn)`` rewriting exactly the guide's latent sites with this object."""
        return poutine.reparam(fn, config=self._reparam_config)

    # ----------------------------------------------------------------- rewriting a site
    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any = msg["fn"]
        if name not in self._latent_names():
            return {"fn": fn, "value": msg["value"], "is_observed": bool(msg["is_observed"])}
        if msg["is_observed"]:
            raise NotImplementedError(
                f"At ppl.sample({name!r},...), NeuTraReparam does not support observe statements."
            )

        log_density: Any = 0.0
        compute_density = poutine.get_mask() is not False
        if name not in self.x_unconstrained:  # the first site of a run: draw the shared latent
            try:
                self.transform = self.guide.get_transform()
            except (NotImplementedError, TypeError) as e:
                raise ValueError(
                    "NeuTraReparam only supports guides that implement a `get_transform` "
                    "method that does not depend on the model's `*args, **kwargs`"
                ) from e
            with ExitStack() as stack:
                for dim in self._plate_dims():
                    stack.enter_context(block_plate(dim=dim, strict=False))
                base: Any = self.guide.get_base_dist()
                z = primitives.sample(f"{name}_shared_latent", base.mask(False))
            x_unconstrained = self.transform(z)
            if compute_density:
                log_density = self.transform.log_abs_det_jacobian(z, x_unconstrained)
            # guide._unpack: the guide's fold of the packed vector into its sites
            self.x_unconstrained = dict(self.guide._unpack(x_unconstrained))

        unconstrained = self.x_unconstrained.pop(name)
        transform = biject_to(fn.support)
        value = transform(unconstrained)
        if compute_density:
            logdet = transform.log_abs_det_jacobian(unconstrained, value)
            logdet = sum_rightmost(logdet, logdet.dim() - value.dim() + len(fn.event_shape))
            log_density = log_density + fn.log_prob(value) + logdet
        new_fn = Delta(value, log_density, event_dim=len(fn.event_shape))
        return {"fn": new_fn, "value": value, "is_observed": True}

    def _plate_dims(self) -> list[int]:
        dims: set[int] = set()
        trace = getattr(self.guide, "prototype_trace", None)
        if trace is not None:
            for site in trace.nodes.values():
                for frame in site["cond_indep_stack"]:
                    if frame.dim is not None:
                        dims.add(frame.dim)
        return sorted(dims)

    # ----------------------------------------------------------------- after sampling
    def transform_sample(self, latent: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map warped samples ``z`` (shape ``(..., latent_dim)``) to ``{site: constrained value}``.

        Leading batch dims of ``latent`` must lie left of the model's plate dims.
        """
        if self.transform is None:
            self.transform = self.guide.get_transform()
        x_unconstrained = self.transform(latent)
        trace: Any = self.guide.prototype_trace
        samples = {}
        for name, value in self.guide._unpack(x_unconstrained).items():
            samples[name] = biject_to(trace.nodes[name]["fn"].support)(value)
        return samples
