"""Multi-class likelihood: one latent GP per class, ``y ~ Categorical(softmax(f))``."""

from __future__ import annotations

from collections.abc import Callable

import torch

import ppl
import ppl.distributions as dist

from .likelihood import Likelihood, observe_shape

__all__ = ["MultiClass"]


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


class MultiClass(Likelihood):
    """``y_n | f ~ Categorical(response_function(f[..., :, n]))``.

    The latent ``f`` has shape ``(..., num_classes, N)`` (its class dimension is the
    second to last), so the model's ``latent_shape`` ends with ``num_classes``.

    Args:
        num_classes: number of classes.
        response_function: maps ``(..., N, num_classes)`` scores to probabilities;
            the default softmax is applied as logits.

    Raises:
        ValueError: ``f`` has fewer than 2 dims or not ``num_classes`` rows.

    Example:
        >>> import torch
        >>> MultiClass(3)(torch.zeros(3, 5), torch.ones(3, 5)).shape
        torch.Size([5])
    """

    def __init__(
        self,
        num_classes: int,
        response_function: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.response_function = _softmax if response_function is None else response_function

    def forward(
        self, f_loc: torch.Tensor, f_var: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        f = dist.Normal(f_loc, f_var.sqrt()).rsample()
        if f.dim() < 2:
            raise ValueError(
                "MultiClass: the latent f needs at least 2 dims (num_classes, N), got "
                f"shape {tuple(f.shape)}; set latent_shape=(..., num_classes) on the model"
            )
        scores = f.transpose(-2, -1)
        if scores.size(-1) != self.num_classes:
            raise ValueError(
                f"MultiClass: expected {self.num_classes} latent GPs (f.shape[-2]), got "
                f"{scores.size(-1)} (f has shape {tuple(f.shape)})"
            )
        if self.response_function is _softmax:
            fn = dist.Categorical(logits=scores)
        else:
            fn = dist.Categorical(probs=self.response_function(scores))
        fn = observe_shape(fn, y, f.dim() - 1)
        return ppl.sample(self._pyro_get_fullname("y"), fn, obs=y)
