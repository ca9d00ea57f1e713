"""The model's posterior dependency edges between latent sites (internal helper).

Design notes
------------
The model runs once (hidden from outer handlers) with every latent value tagged by
its site name (:mod:`ppl.ops.provenance`). The provenance of ``fn.log_prob(value)``
at a site names the latent sites its factor depends on. Conditioning on the observed
sites couples every pair of latents that share a factor (moralization), so each
factor's latents form a clique of the posterior dependency graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ppl.ops.provenance import detach_provenance, get_provenance, track_provenance
from ppl.poutine.block_messenger import BlockMessenger
from ppl.poutine.messenger import Messenger
from ppl.poutine.runtime import Message
from ppl.poutine.trace_struct import is_subsample_site

__all__ = ["posterior_edges", "prior_parents"]


def _fn_provenance(fn: Any) -> frozenset[str]:
    """Tags on the tensors a distribution holds (recursing into wrapped ones)."""
    out: frozenset[str] = frozenset()
    for value in vars(fn).values():
        if isinstance(value, torch.Tensor):
            out = out | get_provenance(value)
        elif hasattr(value, "log_prob") and hasattr(value, "batch_shape"):
            out = out | _fn_provenance(value)
    return out


class _FactorRecorder(Messenger):
    """Tags latent values with their site name and records each factor's latents."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        self.factors: list[frozenset[str]] = []
        self.sites: list[tuple[str, bool, frozenset[str]]] = []  # name, observed, parents

    def postprocess_message(self, msg: Message) -> None:
        if msg.type != "sample" or is_subsample_site(msg):
            return
        name = str(msg.name)
        try:
            parents = get_provenance(msg.fn.log_prob(msg.value))
        except Exception:  # a log_prob refusing tagged tensors: read the parameters
            parents = _fn_provenance(msg.fn)
        self.sites.append((name, bool(msg.is_observed), parents - {name}))
        factor = set(parents)
        if not msg.is_observed:
            self.order.append(name)
            factor.add(name)
            msg.value = track_provenance(detach_provenance(msg.value), frozenset({name}))
        self.factors.append(frozenset(factor))


def posterior_edges(
    model: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[list[str], set[frozenset[str]]]:
    """Latent sites in prior order, and the undirected posterior edges between them.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def model():
        ...     a = ppl.sample("a", dist.Normal(0.0, 1.0))
        ...     b = ppl.sample("b", dist.Normal(0.0, 1.0))
        ...     ppl.sample("y", dist.Normal(a + b, 1.0), obs=torch.tensor(0.0))
        >>> order, edges = posterior_edges(model, (), {})
        >>> order, sorted(sorted(e) for e in edges)
        (['a', 'b'], [['a', 'b']])
    """
    recorder = _FactorRecorder()
    with torch.no_grad(), BlockMessenger(), recorder:
        model(*args, **kwargs)
    latent = set(recorder.order)
    edges: set[frozenset[str]] = set()
    for factor in recorder.factors:
        members = sorted(factor & latent)
        for i, u in enumerate(members):
            for v in members[i + 1 :]:
                edges.add(frozenset((u, v)))
    return recorder.order, edges


def prior_parents(
    model: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, list[str]]:
    """``{site: [site, *latent parents in sampling order]}`` for every sample site.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def model():
        ...     a = ppl.sample("a", dist.Normal(0.0, 1.0))
        ...     ppl.sample("y", dist.Normal(a, 1.0), obs=torch.tensor(0.0))
        >>> prior_parents(model, (), {})
        {'a': ['a'], 'y': ['y', 'a']}
    """
    recorder = _FactorRecorder()
    with torch.no_grad(), BlockMessenger(), recorder:
        model(*args, **kwargs)
    rank = {name: i for i, name in enumerate(recorder.order)}
    return {
        name: [name] + sorted((p for p in parents if p in rank), key=rank.__getitem__)
        for name, _, parents in recorder.sites
    }
