"""``ELBOModule``: a (model, guide) pair bound to an ELBO, as one ``torch.nn.Module``.

``elbo(model, guide)`` (any ELBO instance called with a model and a guide) returns one.
Its ``forward(*args, **kwargs)`` is ``elbo.differentiable_loss(model, guide, *args,
**kwargs)``, and, because model and guide are its sub-modules, its ``parameters()``
are theirs: the ``nn.Parameter`` s of the model (``PyroModule`` attributes, including
``PyroParam`` s, whose unconstrained leaves are parameters) and of the guide (an
autoguide's leaves). That is what a plain ``torch.optim`` loop, PyTorch Lightning or
``.to(device)`` need. A model or guide that is a plain callable (not a module) is
kept, but contributes no parameters.

Parameters only read through ``ppl.param`` (not owned by a module) are not included;
with ``ppl.settings.set(module_local_params=True)`` a ``PyroModule`` keeps its
parameters to itself, so the module's parameters are exactly what is learned.
An autoguide creates its parameters at its first run, so call the module once (on a
minibatch) before building the optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn


class _DifferentiableLoss(Protocol):
    def differentiable_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor: ...


__all__ = ["ELBOModule"]


class ELBOModule(nn.Module):
    """The loss ``-ELBO(model, guide)`` as a module (what ``elbo(model, guide)`` returns).

    Args:
        model: the model; an ``nn.Module`` (e.g. a ``PyroModule``) is a sub-module.
        guide: the guide; an ``nn.Module`` (e.g. an autoguide) is a sub-module.
        elbo: the estimator, anything with ``differentiable_loss(model, guide, ...)``.

    Raises:
        TypeError: ``model`` or ``guide`` is not callable, or ``elbo`` has no
            ``differentiable_loss``.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> from ppl.infer import Trace_ELBO
        >>> from ppl.infer.autoguide import AutoNormal
        >>> from ppl.nn import PyroModule, PyroSample
        >>> class Model(PyroModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.mu = PyroSample(dist.Normal(0.0, 1.0))
        ...     def forward(self, data):
        ...         mu = self.mu
        ...         with ppl.plate("data", len(data)):
        ...             ppl.sample("obs", dist.Normal(mu, 1.0), obs=data)
        >>> ppl.clear_param_store()
        >>> model = Model()
        >>> loss_fn = Trace_ELBO()(model, AutoNormal(model))
        >>> loss = loss_fn(torch.zeros(3))  # first call: the guide creates its parameters
        >>> sorted(name for name, _ in loss_fn.named_parameters())
        ['guide.locs.mu_unconstrained', 'guide.scales.mu_unconstrained']
    """

    def __init__(
        self, model: Callable[..., Any], guide: Callable[..., Any], elbo: _DifferentiableLoss
    ) -> None:
        super().__init__()
        for what, fn in (("model", model), ("guide", guide)):
            if not callable(fn):
                raise TypeError(f"ELBOModule: {what} must be callable, got {type(fn).__name__}")
        if not callable(getattr(elbo, "differentiable_loss", None)):
            raise TypeError(
                f"ELBOModule: elbo must be an ELBO (with differentiable_loss), got "
                f"{type(elbo).__name__}"
            )
        self.model = model
        self.guide = guide
        self.elbo = elbo

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The differentiable loss ``elbo.differentiable_loss(model, guide, *args, **kwargs)``."""
        return self.elbo.differentiable_loss(self.model, self.guide, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"elbo={type(self.elbo).__name__}"
