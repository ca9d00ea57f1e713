"""``ppl.contrib.easyguide``: guides written by hand with autoguide-like helpers (Pyro's path).

Example:
    >>> import ppl, ppl.distributions as dist
    >>> def model():
    ...     ppl.sample("z", dist.Normal(0.0, 1.0))
    >>> @easy_guide(model)
    ... def guide(self):
    ...     return self.map_estimate("z")
    >>> guide().shape
    torch.Size([])
"""

from .easyguide import EasyGuide, Group, easy_guide

__all__ = ["EasyGuide", "Group", "easy_guide"]
