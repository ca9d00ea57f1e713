"""``ppl.contrib``: Pyro's contributed libraries (``pyro.contrib``) built on ppl.

Pyro's ``pyro.contrib`` imports its libraries when it is imported, so code that
imported any of them may reach another as an attribute (``pyro.contrib.gp.kernels``
after ``import pyro.contrib.timeseries``). Here each library is imported on the first
such attribute access instead, so ``import ppl.contrib.X`` stays as cheap as X alone.

Example:
    >>> import ppl.contrib
    >>> ppl.contrib.gp.kernels.RBF.__name__
    'RBF'
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = [
    "autoname",
    "cevae",
    "conjugate",
    "easyguide",
    "examples",
    "gp",
    "minipyro",
    "timeseries",
    "tracking",
]


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
