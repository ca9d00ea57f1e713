"""Gaussian tensor algebra (Pyro's ``pyro.ops.gaussian``): not implemented in ppl yet.

Design notes
------------
Pyro's ``Gaussian`` is an unnormalized Gaussian in information form with batched
marginalization and conditioning, the engine of ``AutoGaussian`` and the Gaussian
HMMs. ppl does not have it yet: the name exists at Pyro's path so modules importing
it still load, and constructing one raises ``NotImplementedError``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Gaussian"]


class Gaussian:
    """Placeholder for Pyro's ``Gaussian``; constructing it raises.

    Raises:
        NotImplementedError: always (see the module notes).

    Example:
        >>> Gaussian()
        Traceback (most recent call last):
        ...
        NotImplementedError: ppl.ops.gaussian.Gaussian is not implemented yet...
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Gaussian:
        raise NotImplementedError(
            "ppl.ops.gaussian.Gaussian is not implemented yet; ppl.distributions has "
            "MultivariateNormal for Gaussian densities"
        )
