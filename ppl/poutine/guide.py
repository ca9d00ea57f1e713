"""``GuideMessenger``: a guide written as a handler around the model (Pyro's path).

Design notes
------------
An effect-based guide runs the *model* and, at each latent sample site, swaps the
prior ``msg.fn`` for a posterior computed by :meth:`GuideMessenger.get_posterior`
from that prior, which already depends on the upstream posterior draws. Calling the
guide returns every sample value of the run, and :meth:`GuideMessenger.get_traces`
splits the run's trace into a model trace (priors) and a guide trace (posteriors).

The guide also works as an ordinary guide, so every ELBO runs it unchanged: observed
(and deterministic) sites are stopped at this handler, hence the handlers outside a
guide call (an ELBO's guide trace, ``Predictive``) record exactly the latent sites,
with the posterior as ``fn``, and the model is then replayed against them. The
model runs twice per step that way, which keeps the ELBOs free of guide-type
branches.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> class PriorTimesTwo(GuideMessenger):
    ...     def get_posterior(self, name, prior):
    ...         return prior.mean * 2
    >>> def model():
    ...     z = ppl.sample("z", dist.Normal(1.5, 1.0))
    ...     ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))
    >>> out = PriorTimesTwo(model)()
    >>> float(out["z"]), sorted(out)
    (3.0, ['x', 'z'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Distribution

from ppl.distributions import Delta

from .runtime import Message, broadcast_to_plates
from .trace_messenger import TraceMessenger
from .trace_struct import Trace, is_subsample_site
from .util import prune_subsample_sites

__all__ = ["GuideMessenger"]


class GuideMessenger(TraceMessenger):
    """Base class of effect-based guides: subclasses implement :meth:`get_posterior`.

    Args:
        model: the model the guide wraps.

    Inside :meth:`get_posterior`, ``self.upstream_value(name)`` reads an earlier
    site's value, ``self.trace`` holds the sites so far and ``self.args_kwargs`` the
    model's inputs.
    """

    def __init__(self, model: Callable[..., Any]) -> None:
        super().__init__()
        self._model = (model,)  # a tuple, so an nn.Module model is not a sub-module

    @property
    def model(self) -> Callable[..., Any]:
        """The wrapped model."""
        return self._model[0]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("trace", None)
        return state

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Run the model with posteriors at its latent sites; every sample site's value."""
        return self._run_guide(*args, **kwargs)

    def _run_guide(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        self.args_kwargs = args, kwargs
        try:
            with self:
                self.model(*args, **kwargs)
        finally:
            del self.args_kwargs
        return {
            name: site.value
            for name, site in self.trace.nodes.items()
            if site.type == "sample" and not is_subsample_site(site)
        }

    def process_message(self, msg: Message) -> None:
        if msg.type != "sample" or msg.done or is_subsample_site(msg):
            return
        if msg.is_observed:
            msg.stop = True  # observed and deterministic sites stay the model's own
            return
        if msg.cond_indep_stack:
            broadcast_to_plates(msg)  # the prior over the site's plates
        prior = msg.fn
        msg.infer["prior"] = prior
        posterior = self.get_posterior(str(msg.name), prior)
        if isinstance(posterior, torch.Tensor):
            event_dim = len(getattr(prior, "event_shape", ()))
            posterior = Delta(posterior, event_dim=event_dim)
        batch_shape = getattr(prior, "batch_shape", None)
        if batch_shape is not None and posterior.batch_shape != batch_shape:
            posterior = posterior.expand(batch_shape)
        msg.fn = posterior

    def postprocess_message(self, msg: Message) -> None:
        prior = msg.infer.get("prior") if msg.type == "sample" else None
        if prior is not None and prior.batch_shape != msg.fn.batch_shape:
            msg.infer["prior"] = prior.expand(msg.fn.batch_shape)
        super().postprocess_message(msg)

    def get_posterior(self, name: str, prior: Distribution) -> Distribution | torch.Tensor:
        """The posterior at site ``name`` given its ``prior`` (conditioned upstream).

        May call ``ppl.param`` and ``ppl.sample`` (auxiliary sites need
        ``infer={"is_auxiliary": True}``). Returns a distribution or a value.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement get_posterior(name, prior)"
        )

    def upstream_value(self, name: str) -> Any:
        """The value of an earlier sample or deterministic site of the current run."""
        return self.trace.nodes[name].value

    def get_traces(self) -> tuple[Trace, Trace]:
        """``(model_trace, guide_trace)`` of the last run (guide: latent sites only)."""
        guide_trace = prune_subsample_sites(self.trace)
        model_trace = guide_trace.copy()
        for name, site in list(guide_trace.nodes.items()):
            if site.type != "sample" or site.is_observed:
                guide_trace.remove_node(name)
                continue
            model_site = site.copy()
            model_site.fn = site.infer["prior"]
            model_trace.nodes[name] = model_site
        return model_trace, guide_trace
