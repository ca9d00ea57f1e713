"""GP models (Pyro's ``pyro.contrib.gp.models``).

Example:
    >>> from ppl.contrib.gp.models import GPRegression
"""

from .gpr import GPRegression

__all__ = ["GPRegression"]
