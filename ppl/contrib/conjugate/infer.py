"""Collapse conjugate latents for a sampler, then draw them back (Pyro's conjugate.infer).

Design notes
------------
With a conjugate pair (:mod:`ppl.contrib.conjugate.pairs`) a latent such as a Binomial's
success probability can be integrated out exactly, which leaves HMC/NUTS a smaller,
better-conditioned posterior over the remaining sites:

* :func:`collapse_conjugate` hides the collapsible latent site from every outer handler
  (a trace, a potential energy, a condition) and replaces the observed conditional by
  the pair's compound distribution (e.g. ``BetaBinomial``);
* :func:`uncollapse_conjugate` re-runs the model replaying a collapsed trace and draws
  each collapsed latent from the pair's exact posterior given the observed data;
* :func:`posterior_replay` does both, once per posterior draw of the collapsed model,
  giving joint posterior samples of every site.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl import poutine
    >>> def model(heads):
    ...     coin = BetaBinomialPair()
    ...     p = ppl.sample("p", coin.latent(torch.tensor(1.0), torch.tensor(1.0)))
    ...     ppl.sample("k", coin.conditional(probs=p, total_count=torch.tensor(20.0)), obs=heads)
    >>> tr = poutine.trace(collapse_conjugate(model)).get_trace(torch.tensor(12.0))
    >>> tr.stochastic_nodes, type(tr.nodes["k"]["fn"]).__name__
    ([], '_BetaBinomial')
    >>> draws = posterior_replay(model, {}, torch.tensor(12.0), num_samples=500)
    >>> abs(float(draws["p"].mean()) - 13 / 22) < 0.02  # Beta(13, 9)
    True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ppl.poutine import condition, trace
from ppl.poutine.messenger import Messenger, make_handler
from ppl.poutine.runtime import Message, broadcast_to_plates
from ppl.poutine.trace_struct import Trace, is_subsample_site

from .pairs import BetaBinomialPair, ConjugatePair, GammaPoissonPair

__all__ = [
    "BetaBinomialPair",
    "CollapseConjugateMessenger",
    "ConjugatePair",
    "GammaPoissonPair",
    "UncollapseConjugateMessenger",
    "collapse_conjugate",
    "posterior_replay",
    "uncollapse_conjugate",
]


class CollapseConjugateMessenger(Messenger):
    """Hide collapsible latent sites; observe conditionals through the pair's compound.

    The site's distribution is first broadcast over its plates, so the pair sees the
    batch shapes the model uses (as if the plates had already expanded it).
    """

    def process_message(self, msg: Message) -> None:
        if msg.type != "sample":
            return
        fn = msg.fn
        if getattr(fn, "collapsible", False):
            broadcast_to_plates(msg)
            msg.fn.site_name = msg.name
            msg.stop = True
        elif getattr(fn, "marginalize_latent", False):
            broadcast_to_plates(msg)
            msg.fn = msg.fn.parent.compound()


collapse_conjugate = make_handler(CollapseConjugateMessenger)


class UncollapseConjugateMessenger(Messenger):
    """Replay ``trace`` (a run of the collapsed model) and draw collapsed latents exactly.

    Every latent site found in ``trace`` takes its value; a collapsible latent instead
    takes a draw from ``pair.posterior(obs)``, where ``pair`` is the one whose
    conditional site in ``trace`` refers to this latent.

    Raises:
        ValueError: for a collapsible site no conditional in ``trace`` refers to, or a
            replayed site that is not a sample site in ``trace``.
    """

    def __init__(self, trace: Trace) -> None:
        super().__init__()
        self.trace = trace

    def _pair_of(self, name: str) -> tuple[ConjugatePair, torch.Tensor] | None:
        for site in self.trace.nodes.values():
            if site.type != "sample":
                continue
            pair = getattr(site.fn, "parent", None)
            latent = getattr(pair, "_latent", None)
            if latent is not None and getattr(latent, "site_name", None) == name:
                return pair, site.value  # type: ignore[return-value]
        return None

    def process_message(self, msg: Message) -> None:
        if msg.type != "sample":
            return
        name = msg.name
        if getattr(msg.fn, "collapsible", False):
            found = self._pair_of(name)  # type: ignore[arg-type]
            if found is None:
                raise ValueError(
                    f"uncollapse_conjugate: collapsible latent site {name!r} has no "
                    "conjugate site in the replayed trace: run the model under "
                    "collapse_conjugate and observe pair.conditional(...)"
                )
            pair, obs = found
            msg.fn = pair.posterior(obs)
            msg.value = msg.fn.sample()
            return
        source = self.trace.nodes.get(name)  # type: ignore[arg-type]
        if source is None or msg.is_observed:
            return
        if source.type != "sample":
            raise ValueError(
                f"uncollapse_conjugate: site {name!r} must be a sample site in the replayed "
                f"trace, got {source.type!r}"
            )
        msg.value = source.value
        msg.infer = source.infer
        msg.done = True


uncollapse_conjugate = make_handler(UncollapseConjugateMessenger)


def posterior_replay(
    model: Callable[..., Any],
    posterior_samples: Mapping[str, torch.Tensor],
    *args: Any,
    **kwargs: Any,
) -> dict[str, torch.Tensor]:
    """Joint posterior (or predictive) draws of every site from draws of the collapsed model.

    For each draw ``i`` the collapsed model is run conditioned on
    ``{site: value[i]}``, then the original model replays that run, drawing every
    collapsed latent from its exact conjugate posterior (and any unconditioned site
    from its distribution, which gives posterior predictive draws).

    Args:
        model: the model written with conjugate pairs (not wrapped in
            :func:`collapse_conjugate`).
        posterior_samples: site -> draws with the draw dim first (e.g.
            ``mcmc.get_samples()`` of ``collapse_conjugate(model)``); may be empty.
        args, kwargs: the model's arguments; the keyword ``num_samples`` (needed when
            ``posterior_samples`` is empty) is taken out of ``kwargs``.

    Returns:
        site -> stacked draws of shape ``(num_samples, *site_shape)`` for every
        non-subsample sample site (latent and observed).

    Raises:
        ValueError: when ``posterior_samples`` is empty and ``num_samples`` is not given.
    """
    samples = dict(posterior_samples)
    num_samples = kwargs.pop("num_samples", None)
    if num_samples is None:
        if not samples:
            raise ValueError(
                "posterior_replay: `num_samples` must be provided if `posterior_samples` is empty."
            )
        num_samples = next(iter(samples.values())).shape[0]
    draws: dict[str, list[torch.Tensor]] = defaultdict(list)
    for i in range(num_samples):
        fixed = {name: value[i] for name, value in samples.items()}
        collapsed = trace(condition(collapse_conjugate(model), data=fixed)).get_trace(
            *args, **kwargs
        )
        full = trace(uncollapse_conjugate(model, trace=collapsed)).get_trace(*args, **kwargs)
        for name, site in full.nodes.items():
            if site.type == "sample" and not is_subsample_site(site):
                draws[name].append(site.value)
    return {name: torch.stack(values) for name, values in draws.items()}
