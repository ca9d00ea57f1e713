"""``ppl.contrib.autoname``: automatic, meaningful names for sample sites (Pyro's path).

* :func:`scope` / :func:`name_count` (``scoping``): prefix site names with the enclosing
  scopes (``"model/a/x"``) and number repeats (``"x__1"``);
* :func:`autoname` / :func:`sample` (``autoname``): sites named from the distribution
  and the path of scopes (``"model/f1__1/Normal"``), loops as scopes;
* :mod:`named`: models written over nested data (``state.xs[0].z.sample_(...)``).

Example:
    >>> import ppl, ppl.distributions as dist
    >>> @scope(prefix="a")
    ... def model():
    ...     return ppl.sample("x", dist.Bernoulli(0.5))
    >>> "a/x" in ppl.poutine.trace(model).get_trace()
    True
"""

from . import named
from .autoname import autoname, sample
from .scoping import name_count, scope

__all__ = ["autoname", "name_count", "named", "sample", "scope"]
