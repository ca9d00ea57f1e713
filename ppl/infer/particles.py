"""Per-particle log-density sums, for estimators that weight particles against each other.

``RenyiELBO``, ``TraceTailAdaptive_ELBO`` and ``ReweightedWakeSleep`` need one number
``log p(x, z_k) - log q(z_k)`` per particle ``k`` rather than an average. With
``vectorize_particles=True`` the particles share one run and sit on the particle plate
at dim ``-(max_plate_nesting + 1)``; :func:`particle_log_prob_sum` reads them off there
(a site whose ``log_prob`` does not vary along that dim counts for every particle).
Sequential runs give one trace each and are stacked with :func:`stack_particles`.

Example:
    >>> import torch
    >>> from ppl.poutine.runtime import Message
    >>> site = Message("sample", "z", None)
    >>> site["log_prob"] = torch.ones(3, 1)  # 3 particles, max_plate_nesting=1
    >>> particle_site_sum(site, num_particles=3, nesting=1).tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from ..poutine.runtime import Message
from ..poutine.trace_struct import Trace
from .util import is_sample_site

__all__ = ["particle_log_prob_sum", "particle_site_sum", "stack_particles"]


def particle_site_sum(site: Message, num_particles: int, nesting: int) -> torch.Tensor:
    """A site's ``log_prob`` summed over everything but the particle plate: shape ``(K,)``.

    Args:
        site: a sample site of a vectorized-particle trace (``log_prob`` computed).
        num_particles: ``K``.
        nesting: the model's ``max_plate_nesting`` (the particle plate is at
            ``-(nesting + 1)``).

    Raises:
        ValueError: naming the site, if its ``log_prob`` has a particle dim of a size
            other than 1 or ``K``.
    """
    lp = torch.as_tensor(site["log_prob"])
    rank = nesting + 1
    if lp.dim() < rank:
        lp = lp.reshape((1,) * (rank - lp.dim()) + tuple(lp.shape))
    lp = lp.reshape(lp.shape[: lp.dim() - rank + 1] + (-1,)).sum(-1)
    while lp.dim() > 1:  # dims left of the particle plate (none in a valid trace)
        lp = lp.sum(0)
    if lp.shape[0] not in (1, num_particles):
        raise ValueError(
            f"at site {site.name!r}: expected {num_particles} particles at dim "
            f"{-rank} of log_prob, got shape {tuple(site['log_prob'].shape)}; set "
            "max_plate_nesting to the number of plates the model uses"
        )
    return lp.expand(num_particles)


def particle_log_prob_sum(trace: Trace, num_particles: int, nesting: int) -> Any:
    """Sum of :func:`particle_site_sum` over the sample sites of ``trace`` (or 0.0)."""
    trace.compute_log_prob()
    total: Any = 0.0
    for site in trace.nodes.values():
        if is_sample_site(site):
            total = total + particle_site_sum(site, num_particles, nesting)
    return total


def stack_particles(values: Iterable[Any]) -> torch.Tensor:
    """Stack per-run scalars (tensors or numbers) into a ``(K,)`` tensor.

    Example:
        >>> stack_particles([torch.tensor(1.0), 2.0]).tolist()
        [1.0, 2.0]
    """
    values = list(values)
    proto = next((v for v in values if isinstance(v, torch.Tensor)), None)
    if proto is None:
        return torch.tensor([float(v) for v in values])
    return torch.stack(
        [v if isinstance(v, torch.Tensor) else proto.new_tensor(float(v)) for v in values]
    )
