"""GP latent variable model: the inputs of a GP model become latent (Lawrence, 2005)."""

from __future__ import annotations

from typing import Any

import ppl.distributions as dist
from ppl.nn import PyroSample, pyro_method

from ..parameterized import Parameterized

__all__ = ["GPLVM"]


class GPLVM(Parameterized):
    """Bayesian GPLVM: ``X ~ Normal(0, 1)`` (independent), ``y ~ base_model(X)``.

    ``X`` gets a mean-field Normal guide initialised at ``base_model.X`` (e.g. PCA of
    ``y``); ``model``/``guide`` plug the current ``X`` into the base model, whose
    ``y`` has shape ``(output_dim, N)``.

    Args:
        base_model: a GP model (usually sparse) with 2-D ``X`` of shape ``(N, latent_dim)``.

    Raises:
        ValueError: ``base_model.X`` is not 2-D.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> from ppl.contrib.gp.models import GPRegression
        >>> gp = GPRegression(torch.zeros(4, 2), torch.ones(3, 4), RBF(2))
        >>> GPLVM(gp).X_loc.shape
        torch.Size([4, 2])
    """

    def __init__(self, base_model: Any) -> None:
        super().__init__()
        X = base_model.X
        if X.dim() != 2:
            raise ValueError(
                f"GPLVM: the base model's latent X must be 2-D (N, latent_dim), got shape "
                f"{tuple(X.shape)}"
            )
        self.base_model = base_model
        self.X = PyroSample(dist.Normal(X.new_zeros(X.shape), 1.0).to_event())
        self.autoguide("X", dist.Normal)
        self.X_loc.data = X.detach().clone()

    @pyro_method
    def model(self) -> None:
        self.mode = "model"
        self.base_model.set_data(self.X, self.base_model.y)
        self.base_model.model()

    @pyro_method
    def guide(self) -> None:
        self.mode = "guide"
        self.base_model.set_data(self.X, self.base_model.y)
        self.base_model.guide()

    def forward(self, **kwargs: Any) -> Any:
        """Predict with the base model at the guide's current ``X`` (kwargs forwarded)."""
        self.mode = "guide"
        self.base_model.set_data(self.X, self.base_model.y)
        return self.base_model(**kwargs)
