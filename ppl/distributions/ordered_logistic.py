"""``OrderedLogistic``: an ordinal categorical from a latent logistic and ordered cutpoints.

``P(y <= k) = sigmoid(cutpoints[k] - predictor)``; category probabilities are the differences.

Example:
    >>> import torch
    >>> d = OrderedLogistic(torch.tensor(0.0), torch.tensor([0.0]))
    >>> d.probs
    tensor([0.5000, 0.5000])
"""

from __future__ import annotations

from typing import Any

import torch

from ppl.distributions.torch_dists import Categorical


class OrderedLogistic(Categorical):
    """Categorical over ``K + 1`` ordered outcomes given ``K`` increasing cutpoints.

    Args:
        predictor: real latent location, shape ``batch``.
        cutpoints: increasing thresholds, shape ``batch + (K,)`` (broadcast with predictor).
    """

    def __init__(
        self, predictor: torch.Tensor, cutpoints: torch.Tensor, validate_args: bool | None = None
    ) -> None:
        predictor = torch.as_tensor(predictor, dtype=cutpoints.dtype, device=cutpoints.device)
        if validate_args or (validate_args is None and Categorical._validate_args):
            if cutpoints.dim() < 1 or bool((cutpoints[..., 1:] <= cutpoints[..., :-1]).any()):
                raise ValueError(
                    "OrderedLogistic: cutpoints must be a strictly increasing "
                    f"vector, got {cutpoints}"
                )
        shape = torch.broadcast_shapes(predictor.shape, cutpoints.shape[:-1])
        self.predictor = predictor.expand(shape)
        self.cutpoints = cutpoints.expand(shape + cutpoints.shape[-1:])
        cdf = torch.sigmoid(self.cutpoints - self.predictor.unsqueeze(-1))
        ones = torch.ones_like(cdf[..., :1])
        zeros = torch.zeros_like(cdf[..., :1])
        probs = torch.cat([cdf, ones], -1) - torch.cat([zeros, cdf], -1)
        super().__init__(probs=probs, validate_args=validate_args)

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        predictor: Any, cutpoints: Any
    ) -> tuple[torch.Size, torch.Size]:
        """Batch shape: ``predictor`` broadcast with ``cutpoints`` minus its last dim."""
        from ppl.ops.tensor import broadcast_shape

        return broadcast_shape(tuple(predictor), tuple(cutpoints)[:-1]), torch.Size()

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        return Categorical(probs=self.probs).expand(batch_shape)
