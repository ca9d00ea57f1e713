"""``AutoGaussian`` (Pyro's ``pyro.infer.autoguide.gaussian``): not implemented in ppl yet.

Design notes
------------
Pyro's ``AutoGaussian`` is a joint Gaussian guide whose precision matrix follows the
model's factor graph, fitted with Gaussian tensor algebra (``pyro.ops.gaussian``) or
funsor. ppl has neither backend yet, so the names exist at Pyro's paths (scripts and
test modules that import them still load) and constructing one raises
``NotImplementedError`` with the alternatives.
"""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["AutoGaussian", "AutoGaussianFunsor"]


def _unavailable(name: str) -> NoReturn:
    raise NotImplementedError(
        f"{name} is not implemented in ppl yet (it needs Gaussian tensor algebra, "
        "ppl.ops.gaussian); use AutoMultivariateNormal for a joint Gaussian guide or "
        "AutoLowRankMultivariateNormal for many latents"
    )


class AutoGaussian:
    """Placeholder for Pyro's ``AutoGaussian``; constructing it raises.

    Raises:
        NotImplementedError: always (see the module notes).

    Example:
        >>> AutoGaussian(lambda: None)
        Traceback (most recent call last):
        ...
        NotImplementedError: AutoGaussian is not implemented in ppl yet ...
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> AutoGaussian:
        _unavailable(cls.__name__)


class AutoGaussianFunsor(AutoGaussian):
    """Placeholder for Pyro's funsor backend of ``AutoGaussian``; constructing it raises."""
