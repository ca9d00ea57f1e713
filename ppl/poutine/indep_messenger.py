"""Pyro's ``pyro.poutine.indep_messenger`` path: plate frames and the plate handler.

Example:
    >>> CondIndepStackFrame(name="data", dim=-1, size=3).vectorized
    True
"""

from .plate_messenger import PlateMessenger
from .runtime import CondIndepStackFrame

IndepMessenger = PlateMessenger

__all__ = ["CondIndepStackFrame", "IndepMessenger"]
