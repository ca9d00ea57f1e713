"""Pyro's ``pyro.poutine.subsample_messenger`` path: the plate's subsampling machinery.

ppl implements subsampling inside its one plate handler
(:class:`~ppl.poutine.plate_messenger.PlateMessenger`); this module only gives it and
the index distribution Pyro's names.

Example:
    >>> SubsampleMessenger is PlateMessenger
    True
"""

from .plate_messenger import PlateMessenger
from .plate_messenger import Subsample as _Subsample

SubsampleMessenger = PlateMessenger

__all__ = ["SubsampleMessenger", "_Subsample"]
