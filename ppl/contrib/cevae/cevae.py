"""``CEVAE``: fit a causal effect VAE and estimate individual treatment effects."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import ppl
from ppl import poutine
from ppl.infer import SVI
from ppl.optim import ClippedAdam

from .loss import TraceCausalEffect_ELBO
from .model import Guide, Model
from .nets import DistributionNet, PreWhitener

__all__ = ["CEVAE"]

logger = logging.getLogger(__name__)


class CEVAE(nn.Module):
    """Causal Effect Variational Autoencoder (Louizos et al. 2017).

    Assumes the graph ``z -> x, z -> t, z -> y, t -> y``: ``t`` a binary treatment,
    ``y`` the outcome, ``z`` an unobserved confounder and ``x`` noisy features of it.
    :meth:`fit` trains the :class:`~.model.Model` and :class:`~.model.Guide` with
    :class:`~.loss.TraceCausalEffect_ELBO`; :meth:`ite` estimates
    ``E[y | x, do(t=1)] - E[y | x, do(t=0)]`` for each row of ``x``.

    Args:
        feature_dim: size of ``x``.
        outcome_dist: ``"bernoulli"`` (default), ``"exponential"``, ``"laplace"``,
            ``"normal"`` or ``"studentt"``.
        latent_dim: size of ``z`` (default 20).
        hidden_dim: width of hidden layers (default 200).
        num_layers: number of hidden layers (default 3).
        num_samples: default number of Monte Carlo samples of :meth:`ite` (default 100).

    Raises:
        ValueError: for a non-positive size or an unknown ``outcome_dist``.

    Example:
        >>> import torch
        >>> x = torch.randn(20, 3)
        >>> t = (x[:, 0] > 0).float()
        >>> y = (x[:, 1] + t > 0.5).float()
        >>> cevae = CEVAE(feature_dim=3, latent_dim=2, hidden_dim=8, num_samples=10)
        >>> losses = cevae.fit(x, t, y, num_epochs=1, batch_size=10)
        >>> cevae.ite(x).shape
        torch.Size([20])
    """

    whiten: PreWhitener

    def __init__(
        self,
        feature_dim: int,
        outcome_dist: str = "bernoulli",
        latent_dim: int = 20,
        hidden_dim: int = 200,
        num_layers: int = 3,
        num_samples: int = 100,
    ) -> None:
        config: dict[str, Any] = dict(
            feature_dim=feature_dim,
            latent_dim=latent_dim,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            num_samples=num_samples,
        )
        for name, size in config.items():
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise ValueError(f"CEVAE: expected {name} > 0 but got {size!r}")
        DistributionNet.get_class(outcome_dist)  # fail early on an unknown family
        config["outcome_dist"] = outcome_dist
        super().__init__()
        self.feature_dim = feature_dim
        self.num_samples = num_samples
        self.model = Model(config)
        self.guide = Guide(config)

    def _check_x(self, who: str, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.size(-1) != self.feature_dim:
            raise ValueError(
                f"CEVAE.{who}: expected x of shape (num_data, {self.feature_dim}), got "
                f"{tuple(x.shape)}"
            )

    def fit(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor,
        num_epochs: int = 100,
        batch_size: int = 100,
        learning_rate: float = 1e-3,
        learning_rate_decay: float = 0.1,
        weight_decay: float = 1e-4,
        log_every: int = 100,
    ) -> list[float]:
        """Train by SVI on shuffled minibatches; return the per-step loss per datum.

        The learning rate decays geometrically from ``learning_rate`` to
        ``learning_rate * learning_rate_decay`` over all steps (``ClippedAdam``).

        Raises:
            ValueError: for inconsistent shapes of ``x``, ``t``, ``y``.
            ValueError: if a loss is NaN (training diverged).
        """
        self._check_x("fit", x)
        if t.shape != x.shape[:1] or y.shape != x.shape[:1]:
            raise ValueError(
                f"CEVAE.fit: expected t and y of shape ({x.size(0)},), got {tuple(t.shape)} "
                f"and {tuple(y.shape)}"
            )
        self.whiten = PreWhitener(x)
        dataset = TensorDataset(x, t, y)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=True,
            generator=torch.Generator(device=x.device),
        )
        num_steps = num_epochs * len(loader)
        optim = ClippedAdam(
            {
                "lr": learning_rate,
                "weight_decay": weight_decay,
                "lrd": learning_rate_decay ** (1 / num_steps),
            }
        )
        svi = SVI(self.model, self.guide, optim, TraceCausalEffect_ELBO())
        losses: list[float] = []
        for _ in range(num_epochs):
            for x_batch, t_batch, y_batch in loader:
                loss = svi.step(self.whiten(x_batch), t_batch, y_batch, size=len(dataset))
                loss /= len(dataset)
                if math.isnan(loss):
                    raise ValueError(f"CEVAE.fit: the loss is NaN at step {len(losses)}")
                if log_every and len(losses) % log_every == 0:
                    logger.debug("step %5d loss = %0.6g", len(losses), loss)
                losses.append(loss)
        return losses

    @torch.no_grad()
    def ite(
        self, x: torch.Tensor, num_samples: int | None = None, batch_size: int | None = None
    ) -> torch.Tensor:
        """Individual treatment effects ``E[y | x, do(t=1)] - E[y | x, do(t=0)]``.

        For each of ``num_samples`` particles the guide draws ``z`` given ``x`` (and its
        own predictions of ``t``, ``y``); the model's outcome mean is evaluated at that
        ``z`` under both interventions. Cost ``O(len(x) * num_samples)``.

        Args:
            x: features, shape ``(N, feature_dim)``.
            num_samples: particles (default ``self.num_samples``).
            batch_size: rows per batch (default: all at once).

        Returns:
            A tensor of shape ``(N,)``.

        Raises:
            ValueError: if ``x`` has the wrong shape, or :meth:`fit` was not called.
        """
        if not hasattr(self, "whiten"):
            raise ValueError("CEVAE.ite: call fit() first (the features' whitening is fit there)")
        self._check_x("ite", x)
        num_samples = self.num_samples if num_samples is None else num_samples
        batches = [x] if batch_size is None else list(torch.split(x, batch_size))
        effects = []
        for batch in batches:
            batch = self.whiten(batch)
            with ppl.plate("num_particles", num_samples, dim=-2):
                with poutine.trace() as tr, poutine.block(hide=["y", "t"]):
                    self.guide(batch)
                zero, one = batch.new_zeros(()), batch.new_ones(())
                with poutine.do(data={"t": zero}):
                    y0 = poutine.replay(self.model.y_mean, trace=tr.trace)(batch)
                with poutine.do(data={"t": one}):
                    y1 = poutine.replay(self.model.y_mean, trace=tr.trace)(batch)
            effects.append((y1 - y0).mean(0))
        return torch.cat(effects)
