"""Optimizers for ppl: Pyro's ``pyro.optim`` surface over ``torch.optim``.

``ppl.optim.Adam({"lr": 1e-3})`` wraps one ``torch.optim.Adam`` for every parameter of
the ParamStore, added lazily by name; ``ClippedAdam`` adds Pyro's clipping and lr decay;
every ``torch.optim.lr_scheduler`` is wrapped with Pyro's dict signature. State is keyed
by parameter name and saves/loads safely (``state_dict``, ``get_state``/``set_state``,
``save``/``load``). See ``ppl.optim.optim`` for the design notes.
"""

import ppl.optim.multi  # noqa: F401  (Pyro exposes ``pyro.optim.multi`` on import)
from ppl.optim.horovod import HorovodOptimizer
from ppl.optim.lr_scheduler import PPLLRScheduler, PyroLRScheduler
from ppl.optim.optim import PPLOptimizer, PyroOptim, is_scheduler
from ppl.optim.pytorch_optimizers import (
    ASGD,
    LBFGS,
    OPTIMIZERS,
    SCHEDULERS,
    SGD,
    Adadelta,
    Adagrad,
    AdagradRMSProp,
    AdagradWindow,
    Adam,
    Adamax,
    AdamW,
    ClippedAdam,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    DCTAdam,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    NAdam,
    OneCycleLR,
    PolynomialLR,
    RAdam,
    ReduceLROnPlateau,
    RMSprop,
    Rprop,
    SparseAdam,
    StepLR,
    adagrad_window,
    wrap_optimizer,
    wrap_scheduler,
)

globals().update({k: v for k, v in OPTIMIZERS.items() if k not in globals()})

__all__ = [
    "HorovodOptimizer",
    "PPLOptimizer",
    "PyroOptim",
    "is_scheduler",
    "PPLLRScheduler",
    "PyroLRScheduler",
    "wrap_optimizer",
    "wrap_scheduler",
    "OPTIMIZERS",
    "adagrad_window",
    "SCHEDULERS",
    *sorted(OPTIMIZERS),
    *sorted(SCHEDULERS),
]
