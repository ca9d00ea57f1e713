"""``AutoDiscreteParallel``: a learnable mean-field distribution per discrete latent site.

Design notes
------------
The continuous autoguides refuse discrete sites; this guide covers exactly those,
typically next to a continuous guide in an :class:`~.guide_list.AutoGuideList` with
each one seeing its part of the model through ``poutine.block``. Every site keeps
the family of its prior (``Bernoulli``, ``Categorical``, ``OneHotCategorical``) with
learnable ``probs`` initialised at the prior's, named ``<site>_probs`` as Pyro's, and
is sampled with ``infer={"enumerate": "parallel"}`` so ``TraceEnum_ELBO`` sums it out
exactly instead of sampling it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import torch

from ppl import primitives
from ppl.distributions import Bernoulli, Categorical, OneHotCategorical
from ppl.infer.autoguide.guide import AutoGuide
from ppl.infer.autoguide.initialization import init_to_sample
from ppl.poutine.trace_struct import is_subsample_site

__all__ = ["AutoDiscreteParallel"]

_FAMILIES = (Bernoulli, Categorical, OneHotCategorical)


class AutoDiscreteParallel(AutoGuide):
    """Mean-field guide over the discrete latent sites, enumerated in parallel (Pyro's).

    Args:
        model: the model (usually ``poutine.block(model, expose=[discrete sites])``).
        create_plates: see :class:`~.guide.AutoGuide`.

    Raises:
        NotImplementedError: at setup, for a latent site whose distribution is not
            Bernoulli, Categorical or OneHotCategorical, or one inside a sequential plate.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> def model():
        ...     with ppl.plate("data", 3):
        ...         ppl.sample("c", dist.Categorical(torch.tensor([0.2, 0.8])))
        >>> guide = AutoDiscreteParallel(model)
        >>> tuple(guide()["c"].shape), sorted(ppl.get_param_store())
        ((3,), ['AutoDiscreteParallel.c_probs'])
    """

    _allows_discrete = True

    def __init__(
        self, model: Callable[..., Any], *, create_plates: Callable[..., Any] | None = None
    ) -> None:
        # draws from the prior give the prototype its values (no init for discrete sites)
        super().__init__(model, create_plates=create_plates, init_loc_fn=init_to_sample)
        self._discrete: dict[str, tuple[type, tuple[Any, ...]]] = {}

    def _setup_params(self) -> None:
        assert self.prototype_trace is not None
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            if is_subsample_site(site):
                continue
            fn = site.fn
            while hasattr(fn, "base_dist") and not isinstance(fn, _FAMILIES):
                fn = fn.base_dist  # an expanded / independent wrapper of the family
            family = type(fn)
            if not isinstance(fn, _FAMILIES):
                raise NotImplementedError(
                    f"AutoDiscreteParallel: latent site {name!r} has a {type(site.fn).__name__}"
                    " distribution; only Bernoulli, Categorical and OneHotCategorical sites are "
                    "supported (hide the others with poutine.block)"
                )
            frames = tuple(site.cond_indep_stack)
            if any(not frame.vectorized for frame in frames):
                raise NotImplementedError(
                    f"AutoDiscreteParallel: latent site {name!r} is inside a sequential "
                    "ppl.plate; only vectorized plates are supported"
                )
            probs = site.fn.expand(site.fn.batch_shape)
            probs_value = _probs_of(probs).detach().clone()
            self._add_param(f"{name}_probs", probs_value, fn.arg_constraints["probs"])
            self._discrete[name] = (family, frames)

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Sample every discrete site (marked for parallel enumeration); ``{site: value}``."""
        plates = self._create_plates(*args, **kwargs)
        result: dict[str, torch.Tensor] = {}
        for name, (family, frames) in self._discrete.items():
            with ExitStack() as stack:
                for frame in frames:
                    stack.enter_context(plates[frame.name])
                q = family(probs=self._param(f"{name}_probs"))
                result[name] = primitives.sample(name, q, infer={"enumerate": "parallel"})
        return result


def _probs_of(fn: Any) -> torch.Tensor:
    """The ``probs`` of a (possibly expanded) Bernoulli/Categorical, at full batch shape."""
    base = fn
    while hasattr(base, "base_dist") and not isinstance(base, _FAMILIES):
        base = base.base_dist
    probs = base.probs
    event = probs.shape[-1:] if not isinstance(base, Bernoulli) else torch.Size()
    return probs.expand(fn.batch_shape + event)
