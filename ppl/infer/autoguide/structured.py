"""``AutoStructured`` (Pyro's ``pyro.infer.autoguide.structured``): not implemented in ppl yet.

Design notes
------------
Pyro's ``AutoStructured`` combines per-site Delta/Normal/MVN conditionals with
linear or learned dependencies between sites, inferred from the model's posterior
dependency graph. The name exists at Pyro's path so code importing it still loads;
constructing one raises ``NotImplementedError`` naming the alternatives.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AutoStructured"]


class AutoStructured:
    """Placeholder for Pyro's ``AutoStructured``; constructing it raises.

    Raises:
        NotImplementedError: always (see the module notes).

    Example:
        >>> AutoStructured(lambda: None)
        Traceback (most recent call last):
        ...
        NotImplementedError: AutoStructured is not implemented in ppl yet...
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> AutoStructured:
        raise NotImplementedError(
            "AutoStructured is not implemented in ppl yet; for dependent latents use "
            "AutoMultivariateNormal, AutoLowRankMultivariateNormal, or the effect guides "
            "AutoHierarchicalNormalMessenger / AutoRegressiveMessenger (which follow the "
            "model's dependencies)"
        )
