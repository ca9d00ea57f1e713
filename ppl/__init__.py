"""ppl: probabilistic programming on PyTorch, with Pyro's surface.

``import ppl as pyro`` runs typical Pyro scripts: the primitives, ``poutine``,
``distributions``, ``optim`` and ``infer`` keep Pyro's names and semantics.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.set_rng_seed(0)
    >>> x = ppl.sample("x", dist.Normal(0.0, 1.0))
"""

from . import distributions, logger, optim, params, poutine
from .params.param_store import clear_param_store, get_param_store
from .poutine import condition, do
from .poutine.markov_messenger import markov
from .primitives import (
    deterministic,
    factor,
    module,
    param,
    plate,
    plate_stack,
    random_module,
    sample,
    subsample,
)
from .rng import set_rng_seed
from .settings import enable_validation, is_validation_enabled, validation_enabled

__version__ = "0.1.0"

_LAZY_SUBMODULES: tuple[str, ...] = ("infer", "distributed", "nn", "patterns")
_LAZY_SUBMODULES += ("util",)  # pyro.util.optional(...) in Pyro's tests and scripts


def __getattr__(name: str):
    """Import ``ppl.infer`` etc. on first use, so ``import ppl as pyro; pyro.infer.SVI`` works
    without loading inference code for users who only need the primitives."""
    if name == "render_model":  # pyro.render_model; lazy, so importing ppl stays cheap
        import importlib  # absolute import: a relative one warns under Pyro's alias

        return importlib.import_module(f"{__name__}.infer.inspect").render_model
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "clear_param_store",
    "condition",
    "deterministic",
    "distributions",
    "do",
    "enable_validation",
    "factor",
    "get_param_store",
    "is_validation_enabled",
    "markov",
    "module",
    "optim",
    "param",
    "params",
    "plate",
    "random_module",
    "plate_stack",
    "poutine",
    "render_model",
    "sample",
    "set_rng_seed",
    "subsample",
    "validation_enabled",
]
