"""``ppl.contrib.tracking``: multi-object tracking tools (Pyro's ``pyro.contrib.tracking``).

Submodules: :mod:`.assignment` (marginal data association), :mod:`.hashing` (grid
hashing and point merging), :mod:`.dynamic_models` (NCP/NCV target motion),
:mod:`.measurements` (Gaussian position measurements), :mod:`.extended_kalman_filter`
(``EKFState``) and :mod:`.distributions` (``EKFDistribution``).

Example:
    >>> import torch
    >>> from ppl.contrib.tracking import assignment
    >>> solver = assignment.MarginalAssignment(torch.zeros(1), torch.zeros(1, 1))
    >>> solver.assign_dist.probs.shape
    torch.Size([1, 2])
"""

from . import assignment

__all__ = ["assignment"]
