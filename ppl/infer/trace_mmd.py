"""``Trace_MMD``: the ELBO's KL term replaced by a maximum mean discrepancy (MMD-VAE).

Design notes
------------
The InfoVAE / MMD-VAE objective (Zhao et al., 2017) is::

    loss = -E_q[log p(x | z)]  +  sum_sites mmd_scale[site] * MMD(q(z), p(z))

with, for a kernel ``k``, ``MMD(q, p) = E k(z, z') + E k(y, y') - 2 E k(z, y)``
(``z, z' ~ q``, ``y, y' ~ p``). The MMD of each latent site that the guide samples is
estimated from the guide's ``K`` particles against ``K`` fresh draws from the model's
prior (an independent model run), treating the particle dim as the only batch dim
(every other dim is part of one sample, as in Pyro: use many particles). Model sites
that are observed or not in the guide give the log-likelihood term. Guide and model
latents must be reparameterized.

A kernel is any callable with ``k(X) -> (N, N)`` and ``k(X, Z) -> (N, M)`` Gram
matrices on ``(N, D)`` inputs, e.g. ``ppl.contrib.gp.kernels.RBF``; its parameters are
frozen (``requires_grad_(False)``), as in Pyro. ``kernel`` and ``mmd_scale`` may be
dicts keyed by site name.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.clear_param_store(); ppl.set_rng_seed(0)
    >>> def rbf(x, z=None):
    ...     z = x if z is None else z
    ...     return torch.exp(-0.5 * torch.cdist(x, z) ** 2)
    >>> model = lambda: ppl.sample("z", dist.Normal(0.0, 1.0))
    >>> guide = lambda: ppl.sample("z", dist.Normal(0.0, 1.0))  # q = p: MMD ~ 0
    >>> abs(Trace_MMD(kernel=rbf, num_particles=2000).loss(model, guide)) < 0.01
    True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch

from ..ops.tensor import total
from ..poutine.handlers import trace
from ..poutine.trace_struct import Trace
from .elbo import ELBO
from .util import collect_param_names, is_sample_site

__all__ = ["Trace_MMD"]

Kernel = Callable[..., torch.Tensor]


def compute_mmd(x: torch.Tensor, z: torch.Tensor, kernel: Kernel) -> torch.Tensor:
    """The (biased, V-statistic) MMD estimate between samples ``x`` and ``z``, ``(N, D)``.

    Example:
        >>> lin = lambda a, b=None: a @ (a if b is None else b).T
        >>> float(compute_mmd(torch.ones(3, 1), torch.zeros(3, 1), lin))
        1.0
    """
    return kernel(x).mean() + kernel(z).mean() - 2 * kernel(x, z).mean()


def _check_kernel(kernel: Any) -> Kernel:
    if not callable(kernel):
        raise TypeError(
            f"Trace_MMD: kernel must be callable (e.g. ppl.contrib.gp.kernels.RBF), got "
            f"{type(kernel).__name__}"
        )
    freeze = getattr(kernel, "requires_grad_", None)
    if callable(freeze):
        freeze(False)
    return kernel


class Trace_MMD(ELBO):
    """MMD-VAE objective (Pyro's ``Trace_MMD``); see the module notes.

    Args:
        kernel: a kernel, or a dict ``{site name: kernel}``.
        mmd_scale: a float, or a dict ``{site name: float}``, weighting each MMD term.
        num_particles, max_plate_nesting, max_iarange_nesting, vectorize_particles
        (default True), strict_enumeration_warning, ignore_jit_warnings, retain_graph:
            as in :class:`~ppl.infer.elbo.ELBO`.

    Raises:
        TypeError: for a kernel that is not callable or an ``mmd_scale`` that is not a
            number or dict.
        ValueError: (when evaluated) naming a latent site that is not reparameterized.

    Example:
        >>> Trace_MMD(kernel=lambda x, z=None: x @ x.T, mmd_scale=2.0).mmd_scale["z"]
        2.0
    """

    def __init__(
        self,
        kernel: Kernel | dict[str, Kernel],
        mmd_scale: float | dict[str, float] = 1,
        num_particles: int = 10,
        max_plate_nesting: float = float("inf"),
        max_iarange_nesting: float | None = None,
        vectorize_particles: bool = True,
        strict_enumeration_warning: bool = True,
        ignore_jit_warnings: bool = False,
        retain_graph: bool | None = None,
    ) -> None:
        super().__init__(
            num_particles=num_particles,
            max_plate_nesting=max_plate_nesting,
            max_iarange_nesting=max_iarange_nesting,
            vectorize_particles=vectorize_particles,
            strict_enumeration_warning=strict_enumeration_warning,
            ignore_jit_warnings=ignore_jit_warnings,
            retain_graph=retain_graph,
        )
        self.kernel = kernel  # type: ignore[assignment]
        self.mmd_scale = mmd_scale  # type: ignore[assignment]

    @property
    def kernel(self) -> dict[str, Kernel]:
        """The kernel of each site (a default dict when one kernel serves all)."""
        return self._kernel

    @kernel.setter
    def kernel(self, kernel: Kernel | dict[str, Kernel]) -> None:
        if isinstance(kernel, dict):
            self._kernel = {name: _check_kernel(k) for name, k in kernel.items()}
        else:
            one = _check_kernel(kernel)
            self._kernel = defaultdict(lambda: one)

    @property
    def mmd_scale(self) -> dict[str, float]:
        """The MMD weight of each site."""
        return self._mmd_scale

    @mmd_scale.setter
    def mmd_scale(self, mmd_scale: float | dict[str, float]) -> None:
        if isinstance(mmd_scale, dict):
            self._mmd_scale = dict(mmd_scale)
        elif isinstance(mmd_scale, (int, float)) and not isinstance(mmd_scale, bool):
            value = float(mmd_scale)
            self._mmd_scale = defaultdict(lambda: value)
        else:
            raise TypeError(
                f"Trace_MMD: mmd_scale must be a float or a dict of floats, got "
                f"{type(mmd_scale).__name__}"
            )

    def _samples(self, site: Any, prior_site: Any, guide_site: Any) -> tuple[torch.Tensor, ...]:
        """Prior and guide draws of one site as ``(particles, flattened sample)``."""
        for where, s in (("model", prior_site), ("guide", guide_site)):
            if not getattr(s.fn, "has_rsample", False):
                raise ValueError(
                    f"Trace_MMD: {where} site {site.name!r} ({type(s.fn).__name__}) is not "
                    "reparameterized"
                )
        prior, post = prior_site.value, guide_site.value
        if not self.vectorize_particles:
            return prior.reshape(1, -1), post.reshape(1, -1)
        dim = -int(self.max_plate_nesting) - 1 - int(getattr(prior_site.fn, "event_dim", 0))
        out = []
        for x in (prior, post):
            if x.dim() < -dim:
                x = x.reshape((1,) * (-dim - x.dim()) + tuple(x.shape))
            x = x.movedim(dim, 0)
            x = x.expand((self.num_particles,) + x.shape[1:])
            out.append(x.reshape(self.num_particles, -1))
        return out[0], out[1]

    def _evaluate(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, list[tuple[Trace, Trace]], dict[str, None]]:
        prior_draws: dict[str, list[torch.Tensor]] = defaultdict(list)
        guide_draws: dict[str, list[torch.Tensor]] = defaultdict(list)
        loglik: Any = 0.0
        traces = list(self._get_traces(model, guide, args, kwargs))
        extra: list[Trace] = []
        for model_trace, guide_trace in traces:
            if self.vectorize_particles:
                plate = self._particle_plate(int(self.max_plate_nesting))
                with plate:
                    prior_trace = trace(model).get_trace(*args, **kwargs)
            else:
                prior_trace = trace(model).get_trace(*args, **kwargs)
            extra.append(prior_trace)
            model_trace.compute_log_prob()
            particle_loglik: Any = 0.0
            for name, site in model_trace.nodes.items():
                if not is_sample_site(site):
                    continue
                if name in guide_trace and not site.is_observed:
                    prior, post = self._samples(
                        site, prior_trace.nodes[name], guide_trace.nodes[name]
                    )
                    prior_draws[name].append(prior)
                    guide_draws[name].append(post)
                else:
                    particle_loglik = particle_loglik + total(site["log_prob"])
            loglik = loglik + particle_loglik / self.num_particles
        penalty: Any = 0.0
        for name in prior_draws:
            mmd = compute_mmd(
                torch.cat(prior_draws[name]), torch.cat(guide_draws[name]), self._kernel[name]
            )
            penalty = penalty + self._mmd_scale[name] * mmd
        loss = -loglik + penalty
        if not isinstance(loss, torch.Tensor):
            loss = torch.tensor(float(loss))
        names = collect_param_names([t for pair in traces for t in pair] + extra)
        return loss, traces, names
