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

from typing import Any

import torch

from ppl.distributions.torch_distribution import TorchDistributionMixin
from ppl.ops.tensor import broadcast_shape

D = torch.distributions


def _vector_shapes(param: Any, *others: Any) -> tuple[torch.Size, torch.Size]:
    """Shapes of a distribution whose event is the last dim of ``param``.

    ``others`` are ``(shape, event_dims)`` pairs whose leading dims join the batch.
    """
    batch = torch.Size(tuple(param)[:-1])
    for shape, event_dims in others:
        if shape is not None:
            shape = tuple(shape)
            batch = broadcast_shape(batch, shape[: len(shape) - event_dims])
    return batch, torch.Size(tuple(param)[-1:])


class Bernoulli(D.Bernoulli, TorchDistributionMixin):
    """:class:`torch.distributions.Bernoulli` with Pyro's conveniences."""


def _log_beta_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)


class Beta(D.Beta, TorchDistributionMixin):
    """:class:`torch.distributions.Beta` with Pyro's conveniences."""

    def conjugate_update(self, other: D.Beta) -> tuple[Beta, torch.Tensor]:
        """Fuse a Beta-shaped likelihood ``other`` (e.g. from a Binomial count):
        ``self.log_prob(p) + other.log_prob(p) == updated.log_prob(p) + log_normalizer``.

        The product of densities ``p^(a1-1) (1-p)^(b1-1)`` and ``p^(a2-1) (1-p)^(b2-1)``
        is the Beta ``(a1 + a2 - 1, b1 + b2 - 1)`` kernel, so the normalizer is a ratio
        of Beta functions.

        Raises:
            TypeError: if ``other`` is not a Beta.

        Example:
            >>> prior = Beta(torch.tensor(2.0), torch.tensor(3.0))
            >>> updated, log_norm = prior.conjugate_update(Beta(torch.tensor(4.0), 1.0))
            >>> (float(updated.concentration1), float(updated.concentration0))
            (5.0, 3.0)
        """
        if not isinstance(other, D.Beta):
            raise TypeError(
                f"Beta.conjugate_update: expected a Beta likelihood, got {type(other).__name__}"
            )
        a = self.concentration1 + other.concentration1 - 1
        b = self.concentration0 + other.concentration0 - 1
        updated = Beta(a, b, validate_args=False)
        log_normalizer = (
            _log_beta_fn(a, b)
            - _log_beta_fn(self.concentration1, self.concentration0)
            - _log_beta_fn(other.concentration1, other.concentration0)
        )
        return updated, log_normalizer


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

    @staticmethod
    def infer_shapes(concentration: Any) -> tuple[torch.Size, torch.Size]:  # type: ignore[override]
        return _vector_shapes(concentration)


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

    @staticmethod
    def infer_shapes(**kwargs: Any) -> tuple[torch.Size, torch.Size]:  # type: ignore[override]
        raise NotImplementedError("Independent.infer_shapes: shapes depend on base_dist")


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

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        loc: Any, cov_factor: Any, cov_diag: Any
    ) -> tuple[torch.Size, torch.Size]:
        return _vector_shapes(loc, (cov_factor, 2), (cov_diag, 1))


class MixtureSameFamily(D.MixtureSameFamily, TorchDistributionMixin):
    """:class:`torch.distributions.MixtureSameFamily` with Pyro's conveniences."""


class Multinomial(D.Multinomial, TorchDistributionMixin):
    """:class:`torch.distributions.Multinomial` with Pyro's conveniences."""

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        total_count: Any = None, probs: Any = None, logits: Any = None
    ) -> tuple[torch.Size, torch.Size]:
        counts = total_count if isinstance(total_count, (tuple, torch.Size)) else None
        return _vector_shapes(probs if logits is None else logits, (counts, 0))


class MultivariateNormal(D.MultivariateNormal, TorchDistributionMixin):
    """:class:`torch.distributions.MultivariateNormal` with Pyro's conveniences."""

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        loc: Any,
        covariance_matrix: Any = None,
        precision_matrix: Any = None,
        scale_tril: Any = None,
    ) -> tuple[torch.Size, torch.Size]:
        return _vector_shapes(loc, (covariance_matrix, 2), (precision_matrix, 2), (scale_tril, 2))


class NegativeBinomial(D.NegativeBinomial, TorchDistributionMixin):
    """:class:`torch.distributions.NegativeBinomial` with Pyro's conveniences."""


class Normal(D.Normal, TorchDistributionMixin):
    """:class:`torch.distributions.Normal` with Pyro's conveniences."""


class OneHotCategorical(D.OneHotCategorical, TorchDistributionMixin):
    """:class:`torch.distributions.OneHotCategorical` with Pyro's conveniences."""

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        probs: Any = None, logits: Any = None
    ) -> tuple[torch.Size, torch.Size]:
        return _vector_shapes(probs if logits is None else logits)


class OneHotCategoricalStraightThrough(D.OneHotCategoricalStraightThrough, TorchDistributionMixin):
    """:class:`torch.distributions.OneHotCategoricalStraightThrough` with Pyro's conveniences."""


class Pareto(D.Pareto, TorchDistributionMixin):
    """:class:`torch.distributions.Pareto` with Pyro's conveniences."""


class Poisson(D.Poisson, TorchDistributionMixin):
    """:class:`torch.distributions.Poisson` with Pyro's conveniences.

    With ``is_sparse=True``, ``log_prob`` evaluates ``value * log(rate) - lgamma(value + 1)``
    only where ``value > 0`` (cheaper for mostly-zero count data); results are the same.
    """

    def __init__(
        self, rate: Any, *, is_sparse: bool = False, validate_args: bool | None = None
    ) -> None:
        self.is_sparse = is_sparse
        super().__init__(rate, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = self._get_checked_instance(Poisson, _instance)
        new = super().expand(batch_shape, _instance=new)
        new.is_sparse = self.is_sparse
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if not self.is_sparse:
            return super().log_prob(value)
        if self._validate_args:
            self._validate_sample(value)
        rate, value, nonzero = torch.broadcast_tensors(self.rate, value, value > 0)
        v = value[nonzero]
        sparse = rate[nonzero].log() * v - (v + 1).lgamma()
        return torch.zeros_like(rate).masked_scatter(nonzero, sparse) - rate


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
