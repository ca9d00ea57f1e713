"""Every ``torch.distributions`` class, subclassed to carry Pyro's conveniences.

Design notes
------------
Each class here is ``class X(torch.distributions.X, TorchDistributionMixin)`` whose
body is a docstring: torch's constructor, shapes, validation, ``expand`` and KL rules are
unchanged (``kl_divergence`` dispatches on the torch base classes), and the mixin adds
``to_event``, ``expand_by``, ``mask``, ``shape``, ``event_dim`` and ``__call__``.
Because no wrapper defines ``__init__``, torch's ``expand`` allocates ``type(self)``,
so ``ppl.distributions.Normal(...).expand(...)`` is again a ``ppl`` ``Normal``.

The classes are spelled out (one short statement each) so that mypy and IDEs see them;
:func:`_wrap_new_torch_distributions` then wraps, under the same name, any distribution
a newer torch adds, so the module never falls behind torch.
"""

from __future__ import annotations

import torch

from ppl.distributions.torch_distribution import TorchDistributionMixin

D = torch.distributions


class Bernoulli(D.Bernoulli, TorchDistributionMixin):
    """:class:`torch.distributions.Bernoulli` with Pyro's conveniences."""


class Beta(D.Beta, TorchDistributionMixin):
    """:class:`torch.distributions.Beta` with Pyro's conveniences."""


class Binomial(D.Binomial, TorchDistributionMixin):
    """:class:`torch.distributions.Binomial` with Pyro's conveniences."""


class Categorical(D.Categorical, TorchDistributionMixin):
    """:class:`torch.distributions.Categorical` with Pyro's conveniences."""


class Cauchy(D.Cauchy, TorchDistributionMixin):
    """:class:`torch.distributions.Cauchy` with Pyro's conveniences."""


class Chi2(D.Chi2, TorchDistributionMixin):
    """:class:`torch.distributions.Chi2` with Pyro's conveniences."""


class ContinuousBernoulli(D.ContinuousBernoulli, TorchDistributionMixin):
    """:class:`torch.distributions.ContinuousBernoulli` with Pyro's conveniences."""


class Dirichlet(D.Dirichlet, TorchDistributionMixin):
    """:class:`torch.distributions.Dirichlet` with Pyro's conveniences."""


class Exponential(D.Exponential, TorchDistributionMixin):
    """:class:`torch.distributions.Exponential` with Pyro's conveniences."""


class FisherSnedecor(D.FisherSnedecor, TorchDistributionMixin):
    """:class:`torch.distributions.FisherSnedecor` with Pyro's conveniences."""


class Gamma(D.Gamma, TorchDistributionMixin):
    """:class:`torch.distributions.Gamma` with Pyro's conveniences."""


class GeneralizedPareto(D.GeneralizedPareto, TorchDistributionMixin):
    """:class:`torch.distributions.GeneralizedPareto` with Pyro's conveniences."""


class Geometric(D.Geometric, TorchDistributionMixin):
    """:class:`torch.distributions.Geometric` with Pyro's conveniences."""


class Gumbel(D.Gumbel, TorchDistributionMixin):
    """:class:`torch.distributions.Gumbel` with Pyro's conveniences."""


class HalfCauchy(D.HalfCauchy, TorchDistributionMixin):
    """:class:`torch.distributions.HalfCauchy` with Pyro's conveniences."""


class HalfNormal(D.HalfNormal, TorchDistributionMixin):
    """:class:`torch.distributions.HalfNormal` with Pyro's conveniences."""


class Independent(D.Independent, TorchDistributionMixin):
    """:class:`torch.distributions.Independent` with Pyro's conveniences."""


class InverseGamma(D.InverseGamma, TorchDistributionMixin):
    """:class:`torch.distributions.InverseGamma` with Pyro's conveniences."""


class Kumaraswamy(D.Kumaraswamy, TorchDistributionMixin):
    """:class:`torch.distributions.Kumaraswamy` with Pyro's conveniences."""


class LKJCholesky(D.LKJCholesky, TorchDistributionMixin):
    """:class:`torch.distributions.LKJCholesky` with Pyro's conveniences."""


class Laplace(D.Laplace, TorchDistributionMixin):
    """:class:`torch.distributions.Laplace` with Pyro's conveniences."""


class LogNormal(D.LogNormal, TorchDistributionMixin):
    """:class:`torch.distributions.LogNormal` with Pyro's conveniences."""


class LogisticNormal(D.LogisticNormal, TorchDistributionMixin):
    """:class:`torch.distributions.LogisticNormal` with Pyro's conveniences."""


class LowRankMultivariateNormal(D.LowRankMultivariateNormal, TorchDistributionMixin):
    """:class:`torch.distributions.LowRankMultivariateNormal` with Pyro's conveniences."""


class MixtureSameFamily(D.MixtureSameFamily, TorchDistributionMixin):
    """:class:`torch.distributions.MixtureSameFamily` with Pyro's conveniences."""


class Multinomial(D.Multinomial, TorchDistributionMixin):
    """:class:`torch.distributions.Multinomial` with Pyro's conveniences."""


class MultivariateNormal(D.MultivariateNormal, TorchDistributionMixin):
    """:class:`torch.distributions.MultivariateNormal` with Pyro's conveniences."""


class NegativeBinomial(D.NegativeBinomial, TorchDistributionMixin):
    """:class:`torch.distributions.NegativeBinomial` with Pyro's conveniences."""


class Normal(D.Normal, TorchDistributionMixin):
    """:class:`torch.distributions.Normal` with Pyro's conveniences."""


class OneHotCategorical(D.OneHotCategorical, TorchDistributionMixin):
    """:class:`torch.distributions.OneHotCategorical` with Pyro's conveniences."""


class OneHotCategoricalStraightThrough(D.OneHotCategoricalStraightThrough, TorchDistributionMixin):
    """:class:`torch.distributions.OneHotCategoricalStraightThrough` with Pyro's conveniences."""


class Pareto(D.Pareto, TorchDistributionMixin):
    """:class:`torch.distributions.Pareto` with Pyro's conveniences."""


class Poisson(D.Poisson, TorchDistributionMixin):
    """:class:`torch.distributions.Poisson` with Pyro's conveniences."""


class RelaxedBernoulli(D.RelaxedBernoulli, TorchDistributionMixin):
    """:class:`torch.distributions.RelaxedBernoulli` with Pyro's conveniences."""


class RelaxedOneHotCategorical(D.RelaxedOneHotCategorical, TorchDistributionMixin):
    """:class:`torch.distributions.RelaxedOneHotCategorical` with Pyro's conveniences."""


class StudentT(D.StudentT, TorchDistributionMixin):
    """:class:`torch.distributions.StudentT` with Pyro's conveniences."""


class TransformedDistribution(D.TransformedDistribution, TorchDistributionMixin):
    """:class:`torch.distributions.TransformedDistribution` with Pyro's conveniences."""


class Uniform(D.Uniform, TorchDistributionMixin):
    """:class:`torch.distributions.Uniform` with Pyro's conveniences."""


class VonMises(D.VonMises, TorchDistributionMixin):
    """:class:`torch.distributions.VonMises` with Pyro's conveniences."""


class Weibull(D.Weibull, TorchDistributionMixin):
    """:class:`torch.distributions.Weibull` with Pyro's conveniences."""


class Wishart(D.Wishart, TorchDistributionMixin):
    """:class:`torch.distributions.Wishart` with Pyro's conveniences."""


WRAPPED: dict[str, type] = {
    name: cls
    for name, cls in list(globals().items())
    if isinstance(cls, type)
    and issubclass(cls, TorchDistributionMixin)
    and cls.__module__ == __name__
}
"""Name -> wrapped class, for every torch distribution class (filled below)."""


def _wrap_new_torch_distributions() -> None:
    """Wrap every public torch distribution class not spelled out above."""
    skip = {"Distribution", "ExponentialFamily"}
    for name in D.__all__:
        cls = getattr(D, name)
        if not isinstance(cls, type) or not issubclass(cls, D.Distribution) or name in skip:
            continue
        if name not in WRAPPED:
            doc = f":class:`torch.distributions.{name}` with Pyro's conveniences."
            wrapped = type(name, (cls, TorchDistributionMixin), {"__doc__": doc})
            wrapped.__module__ = __name__
            globals()[name] = wrapped
            WRAPPED[name] = wrapped


_wrap_new_torch_distributions()

__all__ = sorted(WRAPPED)
