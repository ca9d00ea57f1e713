"""Importance sampling with a guide as proposal, and the PSIS diagnostic of a guide.

Design notes
------------
* :class:`Importance` is a :class:`~ppl.infer.abstract_infer.TracePosterior`: each
  draw runs the guide, replays the model against it and weights the model trace by
  ``log p(x, z) - log q(z)``. Without a guide, the model with its observed sites
  hidden is the proposal (the prior), so the weight is the likelihood.
* :class:`LogWeightsMixin` holds the estimates every weighted sampler shares
  (``Importance``, ``WeighedPredictive``'s results): the log normalizer
  ``log mean_i w_i`` (an unbiased estimate of the evidence in the linear domain),
  the normalized weights and Kish's effective sample size ``1 / sum_i wbar_i^2``.
* :func:`vectorized_importance_weights` draws all particles in one run, inside a
  plate left of the model's own plates; :func:`psis_diagnostic` fits a generalized
  Pareto distribution to the largest of those weights (Yao et al., 2018): its
  shape ``k`` below 0.5 says the guide covers the posterior well, above 0.7 poorly.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> def model():
    ...     z = ppl.sample("z", dist.Normal(0.0, 1.0))
    ...     ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.5))
    >>> ppl.set_rng_seed(0)
    >>> post = Importance(model, num_samples=2000).run()
    >>> exact = float(dist.Normal(0.0, 2 ** 0.5).log_prob(torch.tensor(0.5)))
    >>> abs(float(post.get_log_normalizer()) - exact) < 0.05
    True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..ops.stats import fit_generalized_pareto
from ..poutine.block_messenger import block
from ..poutine.plate_messenger import PlateMessenger
from ..poutine.replay_messenger import replay
from ..poutine.trace_messenger import trace
from ..poutine.trace_struct import Trace
from .abstract_infer import TracePosterior
from .enum import get_importance_trace
from .util import particle_log_prob_sum

__all__ = ["Importance", "LogWeightsMixin", "psis_diagnostic", "vectorized_importance_weights"]


class LogWeightsMixin:
    """Estimates from a ``log_weights`` attribute (a list of scalars or a 1-d tensor)."""

    log_weights: Any

    def _log_weights_tensor(self) -> torch.Tensor | None:
        """The log-weights as one detached 1-d tensor (None when there are none)."""
        log_w = self.log_weights
        if isinstance(log_w, torch.Tensor):
            return log_w.detach().reshape(-1) if log_w.numel() else None
        if len(log_w) == 0:
            return None
        scalars = [
            w.detach().reshape(()) if isinstance(w, torch.Tensor) else torch.tensor(float(w))
            for w in log_w
        ]
        return torch.stack(scalars)

    def get_log_normalizer(self) -> torch.Tensor | None:
        """``log(mean_i exp(log_weights_i))``: the log evidence estimate (None, with a
        warning, when there are no weights)."""
        log_w = self._log_weights_tensor()
        if log_w is None:
            warnings.warn("no log-weights yet: cannot estimate the normalizing constant")
            return None
        return torch.logsumexp(log_w, 0) - math.log(log_w.numel())

    def get_normalized_weights(self, log_scale: bool = False) -> torch.Tensor | None:
        """The weights divided by their sum (their logs if ``log_scale``)."""
        log_w = self._log_weights_tensor()
        if log_w is None:
            warnings.warn("no log-weights yet: there is nothing to normalize")
            return None
        log_norm = log_w - torch.logsumexp(log_w, 0)
        return log_norm if log_scale else log_norm.exp()

    def get_ESS(self) -> torch.Tensor | int:
        """Kish's effective sample size ``1 / sum_i wbar_i^2`` (0 without weights)."""
        if self._log_weights_tensor() is None:
            warnings.warn("no log-weights yet: the effective sample size is zero")
            return 0
        log_norm = self.get_normalized_weights(log_scale=True)
        assert log_norm is not None  # internal: weights exist
        return torch.exp(-torch.logsumexp(2 * log_norm, 0))


class Importance(TracePosterior, LogWeightsMixin):
    """Importance sampling: guide draws weighted by ``log p(x, z) - log q(z)``.

    Args:
        model: the model.
        guide: the proposal (same arguments as the model); default: the model's prior
            (the model with its observed sites hidden).
        num_samples: number of draws (default 10, with a warning).

    Raises:
        ValueError: if ``num_samples`` is not a positive int.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any] | None = None,
        num_samples: int | None = None,
    ) -> None:
        super().__init__()
        if num_samples is None:
            num_samples = 10
            warnings.warn(f"Importance: num_samples not given, using {num_samples}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"Importance: num_samples must be an int >= 1, got {num_samples!r}")
        if guide is None:
            guide = block(model, hide_types=["observe"])
        self.model = model
        self.guide = guide
        self.num_samples = num_samples

    def _traces(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Trace, torch.Tensor]]:
        for _ in range(self.num_samples):
            guide_trace = trace(self.guide).get_trace(*args, **kwargs)
            model_trace = trace(replay(self.model, trace=guide_trace)).get_trace(*args, **kwargs)
            log_weight = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
            yield model_trace, torch.as_tensor(log_weight).detach()


def vectorized_importance_weights(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, Trace, Trace]:
    """Importance log-weights of ``num_samples`` particles drawn in one vectorized run.

    Keyword options (taken out of ``kwargs``; the rest go to model and guide):
    ``num_samples`` (default 1), ``max_plate_nesting`` (required: the particles
    plate goes at dim ``-max_plate_nesting - 1``), ``normalized`` (default False:
    return log-weights minus their logsumexp).

    Returns:
        ``(log_weights, model_trace, guide_trace)``; ``log_weights`` has shape
        ``(num_samples,)`` (a scalar when ``num_samples == 1``).

    Raises:
        ValueError: if ``max_plate_nesting`` is missing.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> model = lambda: ppl.sample("z", dist.Normal(0.0, 1.0))
        >>> lw, _, _ = vectorized_importance_weights(model, model, num_samples=4,
        ...                                          max_plate_nesting=0)
        >>> lw.tolist()
        [0.0, 0.0, 0.0, 0.0]
    """
    num_samples = kwargs.pop("num_samples", 1)
    max_plate_nesting = kwargs.pop("max_plate_nesting", None)
    normalized = kwargs.pop("normalized", False)
    if max_plate_nesting is None:
        raise ValueError(
            "vectorized_importance_weights: pass max_plate_nesting= (the number of nested "
            "plates in the model), e.g. max_plate_nesting=1"
        )
    dim = -int(max_plate_nesting) - 1

    def vectorize(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **k: Any) -> Any:
            with PlateMessenger("num_particles_vectorized", num_samples, dim=dim):
                return fn(*a, **k)

        return run

    model_trace, guide_trace = get_importance_trace(
        "flat", -dim, vectorize(model), vectorize(guide), args, kwargs
    )
    if num_samples == 1:
        log_weights = torch.as_tensor(model_trace.log_prob_sum() - guide_trace.log_prob_sum())
    else:
        log_weights = particle_log_prob_sum(model_trace, num_samples, dim) - particle_log_prob_sum(
            guide_trace, num_samples, dim
        )
    if normalized:
        log_weights = log_weights - torch.logsumexp(log_weights.reshape(-1), 0)
    return log_weights, model_trace, guide_trace


@torch.no_grad()
def psis_diagnostic(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> float:
    """The Pareto tail shape ``k`` of the guide's importance weights (Yao et al., 2018).

    ``k < 0.5``: the guide approximates the posterior well; ``0.5 <= k <= 0.7``: usable
    but suboptimal; ``k > 0.7``: poor. Model and guide must be vectorizable with
    static structure. Keyword options: ``num_particles`` (default 1000),
    ``max_simultaneous_particles`` (default ``num_particles``; must divide it),
    ``max_plate_nesting`` (default 7); the rest go to model and guide.

    Returns:
        ``k`` (``inf``, with a warning, when fewer than 10 tail weights are found).

    Raises:
        ValueError: if ``num_particles`` is not a multiple of ``max_simultaneous_particles``.
    """
    num_particles = kwargs.pop("num_particles", 1000)
    chunk = kwargs.pop("max_simultaneous_particles", num_particles)
    max_plate_nesting = kwargs.pop("max_plate_nesting", 7)
    if num_particles % chunk != 0:
        raise ValueError(
            f"psis_diagnostic: num_particles={num_particles} must be a multiple of "
            f"max_simultaneous_particles={chunk}"
        )
    log_w = torch.cat(
        [
            vectorized_importance_weights(
                model,
                guide,
                *args,
                num_samples=chunk,
                max_plate_nesting=max_plate_nesting,
                **kwargs,
            )[0].reshape(-1)
            for _ in range(num_particles // chunk)
        ]
    )
    log_w = (log_w - log_w.max()).sort().values
    tail = int(math.ceil(min(0.2 * num_particles, 3.0 * math.sqrt(num_particles))))
    cutoff = max(math.log(1.0e-15), float(log_w[-tail - 1]))
    lw_tail = log_w[log_w > cutoff]
    if lw_tail.numel() < 10:
        warnings.warn("psis_diagnostic: fewer than 10 tail weights; increase num_particles")
        return float("inf")
    k, _ = fit_generalized_pareto(lw_tail.exp() - math.exp(cutoff))
    return k
