"""``ppl.contrib.cevae``: the Causal Effect Variational Autoencoder (Pyro's path).

Louizos, Shalit, Mooij, Sontag, Zemel, Welling (2017), *Causal Effect Inference with
Deep Latent-Variable Models* (https://github.com/AMLab-Amsterdam/CEVAE): a
generative model with a hidden confounder, twin networks for treated and untreated
units (imbalanced treatment), and a loss that also trains the guide's predictors of
treatment and outcome, so it can answer counterfactual queries.

The main entry point is :class:`CEVAE` (``fit``, ``ite``); the parts are
:class:`Model`, :class:`Guide`, :class:`TraceCausalEffect_ELBO` and the networks.

Example:
    >>> cevae = CEVAE(feature_dim=5, latent_dim=2, hidden_dim=8)
    >>> type(cevae.model).__name__, type(cevae.guide).__name__
    ('Model', 'Guide')
"""

from .cevae import CEVAE
from .loss import TraceCausalEffect_ELBO
from .model import Guide, Model
from .nets import (
    BernoulliNet,
    DiagNormalNet,
    DistributionNet,
    ExponentialNet,
    FullyConnected,
    LaplaceNet,
    NormalNet,
    PreWhitener,
    StudentTNet,
)

__all__ = [
    "BernoulliNet",
    "CEVAE",
    "DiagNormalNet",
    "DistributionNet",
    "ExponentialNet",
    "FullyConnected",
    "Guide",
    "LaplaceNet",
    "Model",
    "NormalNet",
    "PreWhitener",
    "StudentTNet",
    "TraceCausalEffect_ELBO",
]
