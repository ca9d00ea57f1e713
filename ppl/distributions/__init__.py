"""``ppl.distributions``: torch distributions with Pyro's conveniences, plus extras.

Layout (one job per module):

* :mod:`.torch_distribution` -- ``TorchDistributionMixin`` (``to_event``, ``expand_by``,
  ``mask``, ``shape``, ``event_dim``, ``__call__``, ``score_parts``) and the
  ``TorchDistribution`` base class for new distributions.
* :mod:`.torch_dists` -- every ``torch.distributions`` class under its own name,
  subclassed with the mixin (``Normal``, ``Categorical``, ``Independent``,
  ``MixtureSameFamily``, ``TransformedDistribution``, ...).
* :mod:`.delta`, :mod:`.unit`, :mod:`.improper_uniform`, :mod:`.mixture`,
  :mod:`.masked`, :mod:`.expanded` -- the distributions torch lacks (the last two
  share :mod:`.wrapper`'s ``WrapperDistribution`` base, which delegates to ``base_dist``).
* :mod:`.constraints`, :mod:`.transforms` -- torch's, plus Pyro's extra constraints
  registered in torch's ``biject_to``/``transform_to``, and the normalizing flows.
* :mod:`.torch_transform` -- ``TransformModule``/``ComposeTransformModule`` (transforms
  with learnable parameters); :mod:`.conditional` -- context-conditioned distributions
  and transforms (``ConditionalTransformedDistribution``).

Validation is torch's: ``torch.distributions.Distribution.set_default_validate_args``
(which ``ppl.enable_validation`` calls) governs every class here, and each extra
distribution validates its arguments and ``log_prob`` values the torch way.

Example:
    >>> import ppl.distributions as dist
    >>> dist.Normal(torch.zeros(3), 1.0).to_event(1).log_prob(torch.zeros(3))
    tensor(-2.7568)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch  # noqa: F401  (doctests and `dist.torch`-style access)
from torch.distributions import kl_divergence, register_kl

if TYPE_CHECKING:  # statically, every torch distribution is one (as at run time)
    from torch.distributions import Distribution
else:
    from ppl.distributions.distribution import Distribution

from ppl.distributions import constraints, transforms
from ppl.distributions.asymmetric_laplace import AsymmetricLaplace
from ppl.distributions.conditional import (
    ConditionalDistribution,
    ConditionalTransform,
    ConditionalTransformedDistribution,
    ConditionalTransformModule,
)
from ppl.distributions.conjugate import BetaBinomial, DirichletMultinomial, GammaPoisson
from ppl.distributions.delta import Delta
from ppl.distributions.expanded import ExpandedDistribution
from ppl.distributions.extended import ExtendedBetaBinomial, ExtendedBinomial
from ppl.distributions.folded import FoldedDistribution
from ppl.distributions.improper_uniform import ImproperUniform
from ppl.distributions.logistic import Logistic, SkewLogistic
from ppl.distributions.masked import MaskedDistribution
from ppl.distributions.mixture import MixtureGeneral
from ppl.distributions.ordered_logistic import OrderedLogistic
from ppl.distributions.score_parts import ScoreParts
from ppl.distributions.softlaplace import SoftLaplace
from ppl.distributions.torch_distribution import TorchDistribution, TorchDistributionMixin
from ppl.distributions.torch_dists import (
    WRAPPED,
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Cauchy,
    Chi2,
    ContinuousBernoulli,
    Dirichlet,
    Exponential,
    FisherSnedecor,
    Gamma,
    GeneralizedPareto,
    Geometric,
    Gumbel,
    HalfCauchy,
    HalfNormal,
    Independent,
    InverseGamma,
    Kumaraswamy,
    Laplace,
    LKJCholesky,
    LogisticNormal,
    LogNormal,
    LowRankMultivariateNormal,
    MixtureSameFamily,
    Multinomial,
    MultivariateNormal,
    NegativeBinomial,
    Normal,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
    Pareto,
    Poisson,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    StudentT,
    TransformedDistribution,
    Uniform,
    VonMises,
    Weibull,
    Wishart,
)
from ppl.distributions.torch_transform import ComposeTransformModule, TransformModule
from ppl.distributions.transforms import biject_to, transform_to
from ppl.distributions.unit import Unit

# Distributions a newer torch adds (wrapped generically in torch_dists) are exported too.
globals().update({name: cls for name, cls in WRAPPED.items() if name not in globals()})

__all__ = sorted(
    {
        *WRAPPED,
        "AsymmetricLaplace",
        "BetaBinomial",
        "ComposeTransformModule",
        "ConditionalDistribution",
        "ConditionalTransform",
        "ConditionalTransformModule",
        "ConditionalTransformedDistribution",
        "DirichletMultinomial",
        "ExtendedBetaBinomial",
        "ExtendedBinomial",
        "FoldedDistribution",
        "GammaPoisson",
        "Logistic",
        "OrderedLogistic",
        "SkewLogistic",
        "SoftLaplace",
        "Delta",
        "Distribution",
        "ExpandedDistribution",
        "ImproperUniform",
        "MaskedDistribution",
        "MixtureGeneral",
        "ScoreParts",
        "TorchDistribution",
        "TorchDistributionMixin",
        "TransformModule",
        "Unit",
        "biject_to",
        "constraints",
        "kl_divergence",
        "register_kl",
        "transform_to",
        "transforms",
    }
)

# --- Pyro's distribution zoo, validation switches and the kl module (dists block) ---
from torch.distributions import ExponentialFamily  # noqa: E402

from ppl.distributions import kl  # noqa: E402
from ppl.distributions.affine_beta import AffineBeta  # noqa: E402
from ppl.distributions.asymmetric_laplace import SoftAsymmetricLaplace  # noqa: E402
from ppl.distributions.avf_mvn import AVFMultivariateNormal  # noqa: E402
from ppl.distributions.diag_normal_mixture import (  # noqa: E402
    MixtureOfDiagNormals,
    MixtureOfDiagNormalsSharedCovariance,
)
from ppl.distributions.empirical import Empirical  # noqa: E402
from ppl.distributions.gaussian_scale_mixture import GaussianScaleMixture  # noqa: E402
from ppl.distributions.hmm import (  # noqa: E402
    DiscreteHMM,
    GaussianHMM,
    IndependentHMM,
    LinearHMM,
)
from ppl.distributions.lkj import LKJ, LKJCorrCholesky  # noqa: E402
from ppl.distributions.log_normal_negative_binomial import LogNormalNegativeBinomial  # noqa: E402
from ppl.distributions.masked_mixture import MaskedMixture  # noqa: E402
from ppl.distributions.multivariate_studentt import MultivariateStudentT  # noqa: E402
from ppl.distributions.nanmasked import NanMaskedMultivariateNormal, NanMaskedNormal  # noqa: E402
from ppl.distributions.omt_mvn import OMTMultivariateNormal  # noqa: E402
from ppl.distributions.polya_gamma import TruncatedPolyaGamma  # noqa: E402
from ppl.distributions.projected_normal import ProjectedNormal  # noqa: E402
from ppl.distributions.rejector import Rejector  # noqa: E402
from ppl.distributions.relaxed_straight_through import (  # noqa: E402
    RelaxedBernoulliStraightThrough,
    RelaxedOneHotCategoricalStraightThrough,
)
from ppl.distributions.sine_bivariate_von_mises import SineBivariateVonMises  # noqa: E402
from ppl.distributions.sine_skewed import SineSkewed  # noqa: E402
from ppl.distributions.stable import Stable, StableWithLogProb  # noqa: E402
from ppl.distributions.util import (  # noqa: E402
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)
from ppl.distributions.von_mises_3d import VonMises3D  # noqa: E402
from ppl.distributions.zero_inflated import (  # noqa: E402
    ZeroInflatedDistribution,
    ZeroInflatedNegativeBinomial,
    ZeroInflatedPoisson,
)

_ZOO = [
    "AffineBeta",
    "LKJ",
    "LKJCorrCholesky",
    "LogNormalNegativeBinomial",
    "MultivariateStudentT",
    "AVFMultivariateNormal",
    "Empirical",
    "GaussianScaleMixture",
    "DiscreteHMM",
    "GaussianHMM",
    "IndependentHMM",
    "LinearHMM",
    "MixtureOfDiagNormals",
    "MixtureOfDiagNormalsSharedCovariance",
    "OMTMultivariateNormal",
    "MaskedMixture",
    "NanMaskedMultivariateNormal",
    "NanMaskedNormal",
    "ProjectedNormal",
    "RelaxedBernoulliStraightThrough",
    "RelaxedOneHotCategoricalStraightThrough",
    "Stable",
    "StableWithLogProb",
    "TruncatedPolyaGamma",
    "SineBivariateVonMises",
    "SineSkewed",
    "SoftAsymmetricLaplace",
    "VonMises3D",
    "ZeroInflatedDistribution",
    "ZeroInflatedNegativeBinomial",
    "ZeroInflatedPoisson",
    "ExponentialFamily",
    "enable_validation",
    "is_validation_enabled",
    "kl",
    "Rejector",
    "validation_enabled",
]
__all__ = sorted({*__all__, *_ZOO})
