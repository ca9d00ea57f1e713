"""``ppl.contrib.conjugate``: integrate conjugate latents out of a model (Pyro's path).

Example:
    >>> from ppl.contrib.conjugate.infer import BetaBinomialPair, collapse_conjugate
    >>> BetaBinomialPair().latent(1.0, 1.0).collapsible
    True
"""

from .infer import (
    BetaBinomialPair,
    GammaPoissonPair,
    collapse_conjugate,
    posterior_replay,
    uncollapse_conjugate,
)

__all__ = [
    "BetaBinomialPair",
    "GammaPoissonPair",
    "collapse_conjugate",
    "posterior_replay",
    "uncollapse_conjugate",
]
