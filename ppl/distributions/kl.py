"""KL divergences (Pyro's ``pyro.distributions.kl`` module): torch's registry.

``kl_divergence(p, q)`` looks up the closed form registered for the pair of types;
``register_kl`` adds one. ppl's extra distributions register theirs where they are
defined (e.g. masked pairs in ``masked.py``).

Example:
    >>> import ppl.distributions as dist
    >>> float(kl_divergence(dist.Normal(0.0, 1.0), dist.Normal(1.0, 1.0)))
    0.5
"""

from torch.distributions.kl import kl_divergence, register_kl

__all__ = ["kl_divergence", "register_kl"]
