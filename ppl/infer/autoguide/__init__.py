"""Automatic guides (Pyro's ``pyro.infer.autoguide``): one line gives a guide for a model.

Design notes
------------
One module per concept:

* :mod:`.guide` -- :class:`AutoGuide`: prototype trace, eager ``setup``, plates
  (with subsampling), parameter naming and attribute access, the discrete-site check.
* :mod:`.normal` / :mod:`.delta` -- per-site guides :class:`AutoNormal` and
  :class:`AutoDelta` (these minibatch local latents).
* :mod:`.continuous` -- :class:`AutoContinuous` (all latents packed into one
  unconstrained vector with :class:`ppl.ops.layout.Layout`) and
  :class:`AutoDiagonalNormal`; :mod:`.multivariate_normal`, :mod:`.low_rank`,
  :mod:`.laplace` -- the other members of that family; :mod:`.flows` --
  :class:`AutoNormalizingFlow` and :class:`AutoIAFNormal` (a Normal through a flow).
* :mod:`.guide_list` -- :class:`AutoGuideList` and :class:`AutoCallable`.
* :mod:`.effect` -- effect-based guides on :class:`ppl.poutine.guide.GuideMessenger`:
  :class:`AutoNormalMessenger`, :class:`AutoHierarchicalNormalMessenger`,
  :class:`AutoRegressiveMessenger`; :mod:`.discrete` -- :class:`AutoDiscreteParallel`.
* :mod:`.structured` -- :class:`AutoStructured` (per-site Delta/Normal/MVN/custom
  conditionals sheared by linear or custom dependencies between sites).
* :mod:`.gaussian` -- :class:`AutoGaussian` (a joint Gaussian whose sparse precision
  follows the model's factors; dense backend, ``AutoGaussianDense``).
* :mod:`.initialization` -- ``init_to_*`` strategies, their ``register`` registry
  and ``InitMessenger``; :mod:`.affine` -- the ``LowerCholeskyAffine`` transform.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.clear_param_store()
    >>> def model(data):
    ...     loc = ppl.sample("loc", dist.Normal(0.0, 10.0))
    ...     with ppl.plate("data", len(data)):
    ...         ppl.sample("obs", dist.Normal(loc, 1.0), obs=data)
    >>> guide = AutoNormal(model)
    >>> sorted(guide(torch.zeros(4)))
    ['loc']
"""

from ppl.infer.autoguide.affine import LowerCholeskyAffine
from ppl.infer.autoguide.continuous import AutoContinuous, AutoDiagonalNormal
from ppl.infer.autoguide.delta import AutoDelta
from ppl.infer.autoguide.discrete import AutoDiscreteParallel
from ppl.infer.autoguide.effect import (
    AutoHierarchicalNormalMessenger,
    AutoMessenger,
    AutoNormalMessenger,
    AutoRegressiveMessenger,
)
from ppl.infer.autoguide.flows import AutoIAFNormal, AutoNormalizingFlow
from ppl.infer.autoguide.gaussian import AutoGaussian
from ppl.infer.autoguide.guide import AutoGuide
from ppl.infer.autoguide.guide_list import AutoCallable, AutoGuideList
from ppl.infer.autoguide.initialization import (
    init_to_feasible,
    init_to_generated,
    init_to_mean,
    init_to_median,
    init_to_sample,
    init_to_uniform,
    init_to_value,
)
from ppl.infer.autoguide.laplace import AutoLaplaceApproximation
from ppl.infer.autoguide.low_rank import AutoLowRankMultivariateNormal
from ppl.infer.autoguide.multivariate_normal import AutoMultivariateNormal
from ppl.infer.autoguide.normal import AutoNormal
from ppl.infer.autoguide.structured import AutoStructured

__all__ = [
    "AutoCallable",
    "AutoContinuous",
    "AutoDelta",
    "AutoDiagonalNormal",
    "AutoDiscreteParallel",
    "AutoGaussian",
    "AutoGuide",
    "AutoGuideList",
    "AutoHierarchicalNormalMessenger",
    "AutoIAFNormal",
    "AutoLaplaceApproximation",
    "AutoLowRankMultivariateNormal",
    "AutoMessenger",
    "AutoMultivariateNormal",
    "AutoNormal",
    "AutoNormalMessenger",
    "AutoNormalizingFlow",
    "AutoRegressiveMessenger",
    "AutoStructured",
    "LowerCholeskyAffine",
    "init_to_feasible",
    "init_to_generated",
    "init_to_mean",
    "init_to_median",
    "init_to_sample",
    "init_to_uniform",
    "init_to_value",
]

# Pyro code reaches guides as attributes of this package's submodule (appended line)
from ppl.infer.autoguide import guides  # noqa: E402, F401
