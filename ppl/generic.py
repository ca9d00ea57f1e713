"""``ppl.generic``: Pyro's ``pyro.generic``, the backend-neutral API of ``pyroapi``.

Why
---
Code written against ``pyroapi`` (``from pyro.generic import pyro, infer, optim,
distributions, pyro_backend``) runs on whichever PPL ``pyro_backend(name)`` selects.
Pyro re-exports ``pyroapi`` here (and warns that it moved); so does ppl, and it also
registers two backends that run on ppl itself, without the ``pyro`` package:
``"ppl"`` and ``"ppl_minipyro"`` (:mod:`ppl.contrib.minipyro` for ``pyro``, ``infer``
and ``optim``). Under ``import ppl as pyro`` aliasing, pyroapi's own ``"pyro"`` and
``"minipyro"`` backends resolve to the same modules.

Needs the optional ``pyro-api`` package (``pip install pyro-api``).

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from ppl.generic import pyro, pyro_backend
    >>> with pyro_backend("ppl_minipyro"):
    ...     pyro.get_param_store().clear()
    ...     float(pyro.param("w", __import__("torch").tensor(2.0)))
    2.0
"""

import warnings
from typing import Any

try:
    import pyroapi as _pyroapi
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ppl.generic re-exports the pyroapi package, which is not installed: pip install pyro-api"
    ) from error

__all__ = list(_pyroapi.__all__)


def __getattr__(name: str) -> Any:
    # pyroapi's names are forwarded, not copied into this namespace: its generic modules
    # import the current backend when inspected, which tools (doctest) do to a namespace.
    if name in __all__:
        return getattr(_pyroapi, name)
    raise AttributeError(f"module 'ppl.generic' has no attribute {name!r}")


_pyroapi.register_backend(
    "ppl",
    {
        "distributions": "ppl.distributions",
        "handlers": "ppl.poutine",
        "infer": "ppl.infer",
        "ops": "torch",
        "optim": "ppl.optim",
        "pyro": "ppl",
    },
)
_pyroapi.register_backend(
    "ppl_minipyro",
    {
        "distributions": "ppl.distributions",
        "handlers": "ppl.poutine",
        "infer": "ppl.contrib.minipyro",
        "ops": "torch",
        "optim": "ppl.contrib.minipyro",
        "pyro": "ppl.contrib.minipyro",
    },
)

warnings.warn("pyro.generic has moved to the pyroapi package", DeprecationWarning, stacklevel=2)
