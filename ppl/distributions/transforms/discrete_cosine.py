"""Pyro's module path ``pyro.distributions.transforms.discrete_cosine``: see :mod:`.orthogonal`.

Example:
    >>> import torch
    >>> t = DiscreteCosineTransform()
    >>> x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    >>> torch.allclose(t.inv(t(x)), x, atol=1e-6)
    True
"""

from ppl.distributions.transforms.orthogonal import DiscreteCosineTransform

__all__ = ["DiscreteCosineTransform"]
