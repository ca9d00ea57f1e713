"""The CEVAE's generative model and inference network (both ``PyroModule`` s).

Model (a latent confounder ``z`` drives features, treatment and outcome)::

    z ~ N(0, I)          x ~ p(x | z)          t ~ p(t | z)          y ~ p(y | t, z)

Guide (treatment and outcome are predicted from ``x``, then ``z`` is inferred)::

    t ~ q(t | x)         y ~ q(y | t, x)       z ~ q(z | y, t, x)

Every ``t``-dependent distribution uses a *pair* of networks, one for ``t = 0`` and
one for ``t = 1``, selected element-wise, so a rare treatment still gets its own
parameters. All sites sit in a plate ``"data"`` whose size is the whole data set, so
minibatch losses are scaled to it.

Parameters are registered in the ParamStore under ``"cevae_model.*"`` and
``"cevae_guide.*"``, keeping the two networks' parameters apart.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import ppl
import ppl.distributions as dist
from ppl.nn import PyroModule

from .nets import BernoulliNet, DiagNormalNet, DistributionNet, FullyConnected

__all__ = ["Guide", "Model"]


def _select(t: torch.Tensor, params0: tuple, params1: tuple) -> list[torch.Tensor]:
    """Element-wise choice between the ``t = 0`` and ``t = 1`` parameters."""
    chosen = t.bool()
    return [torch.where(chosen, p1, p0) for p0, p1 in zip(params0, params1)]


def _data_plate(x: torch.Tensor, size: int | None) -> Any:
    n = x.size(0)
    return ppl.plate(
        "data", n if size is None else size, subsample=torch.arange(n, device=x.device)
    )


class Model(PyroModule):
    """The generative model; ``config`` holds ``feature_dim``, ``latent_dim``,
    ``hidden_dim``, ``num_layers`` and ``outcome_dist``."""

    y0_nn: Any  # a DistributionNet subclass (its make_dist signature varies by family)
    y1_nn: Any

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(name="cevae_model")
        self.latent_dim = config["latent_dim"]
        hidden = [config["hidden_dim"]] * config["num_layers"]
        outcome_net = DistributionNet.get_class(config["outcome_dist"])
        self.x_nn = DiagNormalNet([config["latent_dim"], *hidden, config["feature_dim"]])
        self.y0_nn = outcome_net([config["latent_dim"], *hidden])
        self.y1_nn = outcome_net([config["latent_dim"], *hidden])
        self.t_nn = BernoulliNet([config["latent_dim"]])

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        size: int | None = None,
    ) -> torch.Tensor:
        with _data_plate(x, size):
            z = ppl.sample("z", self.z_dist())
            ppl.sample("x", self.x_dist(z), obs=x)
            t = ppl.sample("t", self.t_dist(z), obs=t)
            return ppl.sample("y", self.y_dist(t, z), obs=y)

    def y_mean(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        """``E[y | t, z]`` with ``z`` (and ``t``) sampled or supplied by handlers."""
        with ppl.plate("data", x.size(0)):
            z = ppl.sample("z", self.z_dist())
            ppl.sample("x", self.x_dist(z), obs=x)
            t = ppl.sample("t", self.t_dist(z), obs=t)
        return self.y_dist(t, z).mean

    def z_dist(self) -> dist.Distribution:
        return dist.Normal(0.0, 1.0).expand([self.latent_dim]).to_event(1)

    def x_dist(self, z: torch.Tensor) -> dist.Distribution:
        loc, scale = self.x_nn(z)
        return dist.Normal(loc, scale).to_event(1)

    def y_dist(self, t: torch.Tensor, z: torch.Tensor) -> dist.Distribution:
        return self.y0_nn.make_dist(*_select(t, self.y0_nn(z), self.y1_nn(z)))

    def t_dist(self, z: torch.Tensor) -> dist.Distribution:
        (logits,) = self.t_nn(z)
        return dist.Bernoulli(logits=logits)


class Guide(PyroModule):
    """The inference network; ``config`` as for :class:`Model`.

    The ``y`` and ``z`` networks share all but their last layer between the two
    treatment values.
    """

    y0_nn: Any  # a DistributionNet subclass (its make_dist signature varies by family)
    y1_nn: Any

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(name="cevae_guide")
        self.latent_dim = config["latent_dim"]
        hidden = [config["hidden_dim"]] * (config["num_layers"] - 1)
        outcome_net = DistributionNet.get_class(config["outcome_dist"])
        self.t_nn = BernoulliNet([config["feature_dim"]])
        self.y_nn = FullyConnected([config["feature_dim"], *hidden], final_activation=nn.ELU())
        self.y0_nn = outcome_net([config["hidden_dim"]])
        self.y1_nn = outcome_net([config["hidden_dim"]])
        self.z_nn = FullyConnected([1 + config["feature_dim"], *hidden], final_activation=nn.ELU())
        self.z0_nn = DiagNormalNet([config["hidden_dim"], config["latent_dim"]])
        self.z1_nn = DiagNormalNet([config["hidden_dim"], config["latent_dim"]])

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        size: int | None = None,
    ) -> None:
        with _data_plate(x, size):
            # t and y are observed in training (they enter the CEVAE's extra loss
            # terms) and sampled for prediction; they are not latents of the model
            t = ppl.sample("t", self.t_dist(x), obs=t, infer={"is_auxiliary": True})
            y = ppl.sample("y", self.y_dist(t, x), obs=y, infer={"is_auxiliary": True})
            ppl.sample("z", self.z_dist(y, t, x))

    def t_dist(self, x: torch.Tensor) -> dist.Distribution:
        (logits,) = self.t_nn(x)
        return dist.Bernoulli(logits=logits)

    def y_dist(self, t: torch.Tensor, x: torch.Tensor) -> dist.Distribution:
        hidden = self.y_nn(x)
        return self.y0_nn.make_dist(*_select(t, self.y0_nn(hidden), self.y1_nn(hidden)))

    def z_dist(self, y: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> dist.Distribution:
        # y and t may carry extra batch dims (particles); broadcast x to them
        x = x.expand(y.shape + x.shape[-1:])
        hidden = self.z_nn(torch.cat([y.unsqueeze(-1), x], dim=-1))
        loc, scale = _select(t.unsqueeze(-1), self.z0_nn(hidden), self.z1_nn(hidden))
        return dist.Normal(loc, scale).to_event(1)
