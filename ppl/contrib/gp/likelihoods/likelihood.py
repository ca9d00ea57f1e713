"""``Likelihood``: the observation model ``p(y | f)`` of a variational GP.

A likelihood gets the marginal mean and variance of the latent ``f`` at each point
(``f_loc``, ``f_var``, shape ``(..., N)``) and emits the observation site ``y``.
Non-Gaussian likelihoods draw one reparameterised ``f ~ Normal(f_loc, sqrt(f_var))``,
a single-sample Monte-Carlo estimate of the expected log-likelihood term of the ELBO.
"""

from __future__ import annotations

from typing import Any

import torch

from ..parameterized import Parameterized

__all__ = ["Likelihood"]


class Likelihood(Parameterized):
    """Base class: ``forward(f_loc, f_var, y=None)`` samples (or scores) ``y``."""

    def forward(
        self, f_loc: torch.Tensor, f_var: torch.Tensor, y: torch.Tensor | None = None
    ) -> Any:
        raise NotImplementedError


def observe_shape(fn: Any, y: torch.Tensor | None, latent_dims: int) -> Any:
    """Expand ``fn`` over the leading dims of ``y`` beyond ``latent_dims`` and make all
    of ``y``'s dims events (one joint log-likelihood); unchanged when ``y`` is None."""
    if y is None:
        return fn
    return fn.expand_by(y.shape[: y.dim() - latent_dims]).to_event(y.dim())
