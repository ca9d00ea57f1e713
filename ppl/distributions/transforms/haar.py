"""Pyro's module path ``pyro.distributions.transforms.haar``: see :mod:`.orthogonal`.

Example:
    >>> import torch
    >>> t = HaarTransform()
    >>> x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    >>> torch.allclose(t.inv(t(x)), x)
    True
"""

from ppl.distributions.transforms.orthogonal import HaarTransform

__all__ = ["HaarTransform"]
