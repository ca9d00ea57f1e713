"""Vectorized importance weights: ``log p(x, z) - log q(z)`` for many guide draws at once.

Design notes
------------
Model and guide run once inside an extra plate of ``num_samples`` particles placed left
of the model's own plates (at ``dim = -(max_plate_nesting + 1)``), so every site carries a
particle dim there. Each site's ``log_prob`` is then summed over every dim except the
particle dim, which gives one log-weight per particle. This needs a model whose structure
does not depend on the sampled values (static structure), as with vectorized particles in
:class:`~ppl.infer.trace_elbo.Trace_ELBO`.

Pyro 1.9 exposes this function as ``pyro.infer.importance.vectorized_importance_weights``;
``ppl.infer.importance`` re-exports it from here.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> def model():
    ...     ppl.sample("z", dist.Normal(0.0, 1.0))
    >>> log_w, _, _ = vectorized_importance_weights(model, model, num_samples=5,
    ...                                             max_plate_nesting=0)
    >>> log_w.shape, bool((log_w.abs() < 1e-6).all())  # guide == prior: weight 1
    (torch.Size([5]), True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..poutine.plate_messenger import PlateMessenger
from ..poutine.trace_struct import Trace
from .enum import get_importance_trace

__all__ = ["vectorized_importance_weights"]

_PARTICLES = "num_particles_vectorized"


def _per_particle(trace: Trace, dim: int, num_samples: int) -> torch.Tensor | float:
    """Sum of each sample site's log_prob over all dims but the particle dim ``dim``."""
    result: Any = 0.0
    for site in trace.nodes.values():
        if site.type != "sample" or site.extras is None or "log_prob" not in site.extras:
            continue
        lp = site.extras["log_prob"]
        if not isinstance(lp, torch.Tensor) or lp.dim() < -dim or lp.shape[dim] == 1:
            # no particle dim: the same term for every particle
            lp_t = torch.as_tensor(lp).sum()
            result = result + lp_t.expand(num_samples) if num_samples > 1 else result + lp_t
            continue
        lp = lp.movedim(dim, 0).reshape(lp.shape[dim], -1).sum(-1)
        result = result + lp
    return result


def vectorized_importance_weights(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, Trace, Trace]:
    """Log importance weights of ``num_samples`` guide draws, computed in one vectorized pass.

    Args:
        model: the model, a function of ``*args, **kwargs``.
        guide: the proposal, with the model's signature.
        *args: passed to model and guide.
        num_samples (int): number of guide draws (keyword, default 1).
        max_plate_nesting (int): bound on the number of nested plates (keyword, required).
        normalized (bool): return self-normalized log-weights (keyword, default False).
        **kwargs: the rest is passed to model and guide.

    Returns:
        ``(log_weights, model_trace, guide_trace)``; ``log_weights`` has shape
        ``(num_samples,)`` (a scalar when ``num_samples == 1``).

    Raises:
        ValueError: when ``max_plate_nesting`` is missing or ``num_samples`` is not positive.
    """
    num_samples = int(kwargs.pop("num_samples", 1))
    max_plate_nesting = kwargs.pop("max_plate_nesting", None)
    normalized = bool(kwargs.pop("normalized", False))
    if max_plate_nesting is None:
        raise ValueError(
            "vectorized_importance_weights: max_plate_nesting is required "
            "(an int bounding the number of nested plates in model and guide)"
        )
    if num_samples < 1:
        raise ValueError(
            f"vectorized_importance_weights: num_samples must be >= 1, got {num_samples}"
        )
    dim = -(int(max_plate_nesting) + 1)

    def vectorize(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*a: Any, **k: Any) -> Any:
            with PlateMessenger(_PARTICLES, num_samples, dim=dim):
                return fn(*a, **k)

        return wrapped

    model_trace, guide_trace = get_importance_trace(
        "flat", -dim, vectorize(model), vectorize(guide), args, kwargs
    )
    if num_samples == 1:
        log_weights: Any = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
    else:
        log_weights = _per_particle(model_trace, dim, num_samples) - _per_particle(
            guide_trace, dim, num_samples
        )
    log_weights = torch.as_tensor(log_weights)
    if normalized:
        log_weights = log_weights - torch.logsumexp(log_weights, dim=-1)
    return log_weights, model_trace, guide_trace
