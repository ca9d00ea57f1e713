"""``CSIS``: compiled sequential importance sampling (Le, Baydin & Wood, 2017).

Design notes
------------
Inference compilation trains the guide *before* seeing data, on draws from the
model's joint distribution: for ``(z, y) ~ p(z, y)`` the loss is
``-log q(z | y)``, whose expectation is ``KL(p(z | y) || q(z | y))`` up to a
constant, so an amortized guide learns to propose from the posterior of any
observation. The model must take its observations as a keyword argument
``observations={site: value}``; so must the guide, which receives the drawn
observations there during training. Inference is then plain
:class:`~ppl.infer.importance.Importance` with the trained guide as proposal.

Training draws the joint by running the model under ``uncondition`` (observed
sites are sampled, marked ``infer["was_observed"]``); each step averages the loss
over ``training_batch_size`` draws and hands the guide's params (by name) to the
optimizer. ``validation_loss`` scores one fixed batch of draws, a less noisy
progress signal.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.optim import Adam
    >>> def model(observations={"y": 0.0}):
    ...     z = ppl.sample("z", dist.Normal(0.0, 1.0))
    ...     ppl.sample("y", dist.Normal(z, 1.0), obs=observations["y"])
    >>> def guide(observations={"y": 0.0}):
    ...     w = ppl.param("w", torch.tensor(0.0))
    ...     ppl.sample("z", dist.Normal(w * observations["y"], 0.75))
    >>> ppl.clear_param_store(); ppl.set_rng_seed(0)
    >>> csis = CSIS(model, guide, Adam({"lr": 0.05}), training_batch_size=20)
    >>> for _ in range(300):
    ...     _ = csis.step()
    >>> abs(float(ppl.param("w")) - 0.5) < 0.15  # the posterior mean is y / 2
    True
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch

from ..optim.optim import PPLOptimizer
from ..poutine.replay_messenger import replay
from ..poutine.trace_messenger import TraceMessenger, trace
from ..poutine.trace_struct import Trace, is_subsample_site
from ..poutine.uncondition_messenger import uncondition
from .elbo import check_model_guide_match
from .importance import Importance
from .util import torch_item, unconstrained_params, zero_grads

__all__ = ["CSIS"]


class CSIS(Importance):
    """Train a guide on the model's joint, then importance-sample with it.

    Args:
        model: the model; takes ``observations={site: value}`` as keyword argument.
        guide: the amortized guide; takes the same ``observations`` keyword.
        optim: a ``ppl.optim`` optimizer (or any callable taking a list of leaves).
        num_inference_samples: importance samples drawn by ``run``.
        training_batch_size: joint draws averaged per ``step``.
        validation_batch_size: size of the fixed batch of ``validation_loss``.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        optim: PPLOptimizer | Callable[..., Any],
        num_inference_samples: int = 10,
        training_batch_size: int = 10,
        validation_batch_size: int = 20,
    ) -> None:
        super().__init__(model, guide, num_inference_samples)
        self.optim = optim
        self.training_batch_size = training_batch_size
        self.validation_batch_size = validation_batch_size
        self.validation_batch: list[Trace] | None = None

    def set_validation_batch(self, *args: Any, **kwargs: Any) -> None:
        """Draw and keep ``validation_batch_size`` joint traces (arguments go to the model)."""
        self.validation_batch = [
            self._sample_from_joint(*args, **kwargs) for _ in range(self.validation_batch_size)
        ]

    def step(self, *args: Any, **kwargs: Any) -> float:
        """One gradient step on the loss over a fresh training batch; returns the loss."""
        names: dict[str, None] = {}
        loss = self._loss(True, None, args, kwargs, names)
        params = unconstrained_params(names)
        optim = self.optim
        if isinstance(optim, PPLOptimizer):
            optim.step({k: v for k, v in params.items() if v.grad is not None})
        else:
            touched = [v for v in params.values() if v.grad is not None]
            optim(touched)
            zero_grads(touched)
        return loss

    def loss_and_grads(
        self, grads: bool, batch: Iterable[Trace] | None, *args: Any, **kwargs: Any
    ) -> float:
        """``mean over the batch of -log q(z | y)``; with ``grads`` also accumulate its
        gradient into the guide params. ``batch=None`` draws a fresh training batch."""
        return self._loss(grads, batch, args, kwargs, {})

    def validation_loss(self, *args: Any, **kwargs: Any) -> float:
        """The loss on the fixed validation batch (drawn on first use)."""
        if self.validation_batch is None:
            self.set_validation_batch(*args, **kwargs)
        return self._loss(False, self.validation_batch, args, kwargs, {})

    # ------------------------------------------------------------------ internals
    def _loss(
        self,
        grads: bool,
        batch: Iterable[Trace] | None,
        args: tuple,
        kwargs: dict,
        names: dict[str, None],
    ) -> float:
        if batch is None:
            size = self.training_batch_size
            batch = (self._sample_from_joint(*args, **kwargs) for _ in range(size))
        else:
            batch = list(batch)
            size = len(batch)
        total = 0.0
        for model_trace in batch:
            params = TraceMessenger(param_only=True)
            with params:
                guide_trace = self._get_matched_trace(model_trace, *args, **kwargs)
            particle_loss = -guide_trace.log_prob_sum() / size
            if grads and isinstance(particle_loss, torch.Tensor) and particle_loss.requires_grad:
                site_names = [n for n, s in params.trace.nodes.items() if s.type == "param"]
                names.update(dict.fromkeys(site_names))
                leaves = list(unconstrained_params(site_names).values())
                for leaf, grad in zip(
                    leaves, torch.autograd.grad(particle_loss, leaves, allow_unused=True)
                ):
                    if grad is not None:
                        leaf.grad = grad if leaf.grad is None else leaf.grad + grad
            total += torch_item(particle_loss)
        if math.isnan(total):
            warnings.warn("CSIS: the loss is NaN", stacklevel=3)
        return total

    def _get_matched_trace(self, model_trace: Trace, *args: Any, **kwargs: Any) -> Trace:
        """The guide's trace with its draws fixed to ``model_trace``'s values, given the
        model's drawn observations as ``observations=``."""
        observations = {}
        for name in itertools.chain(model_trace.stochastic_nodes, model_trace.observation_nodes):
            site = model_trace.nodes[name]
            if "was_observed" in site.infer:
                site.is_observed = True
                observations[name] = site.value
        kwargs = dict(kwargs, observations=observations)
        guide_trace = trace(replay(self.guide, trace=model_trace)).get_trace(*args, **kwargs)
        check_model_guide_match(model_trace, guide_trace)
        for name in [n for n, s in guide_trace.nodes.items() if is_subsample_site(s)]:
            guide_trace.remove_node(name)
        return guide_trace

    def _sample_from_joint(self, *args: Any, **kwargs: Any) -> Trace:
        """One trace of the model with its observed sites sampled too."""
        return trace(uncondition(self.model)).get_trace(*args, **kwargs)
