"""The chi-squared survival function, for goodness-of-fit p-values.

``chi2sf(x, dof) = P(X > x)`` for ``X ~ Chi2(dof)``, the regularised upper incomplete
gamma function ``Q(dof / 2, x / 2)`` (``torch.special.gammaincc`` in double precision).

Example:
    >>> round(chi2sf(2.0, 2), 6)  # exp(-1)
    0.367879
"""

from __future__ import annotations

import torch

__all__ = ["chi2sf"]


def chi2sf(x: float, s: float) -> float:
    """Survival function of the chi-squared distribution with ``s`` degrees of freedom."""
    if x <= 0:
        return 1.0
    a = torch.tensor(0.5 * s, dtype=torch.float64)
    return float(torch.special.gammaincc(a, torch.tensor(0.5 * x, dtype=torch.float64)))
