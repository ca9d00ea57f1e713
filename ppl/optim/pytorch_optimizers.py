"""One ``PPLOptimizer`` class per torch optimizer and one ``PPLLRScheduler`` per scheduler.

Pyro's call style is the contract: ``ppl.optim.Adam({"lr": 1e-3})``,
``ppl.optim.ClippedAdam({"lr": 0.01, "lrd": 0.999})``,
``ppl.optim.StepLR({"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1},
"step_size": 10})``. Pyro generates factory functions; ppl generates small *classes*
(``Adam`` is a subclass of ``PPLOptimizer`` whose ``optimizer_class`` is
``torch.optim.Adam``), so ``isinstance(opt, ppl.optim.PyroOptim)`` holds, the repr
names the optimizer, and a wrapper class can be given as a scheduler's ``"optimizer"``.

Every optimizer in ``torch.optim`` of the installed torch is wrapped; names that only
newer torch versions have (``Adafactor``, ``Muon``) are wrapped when present.
``SequentialLR``/``ChainedScheduler`` take scheduler objects and are not wrapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.optim import lr_scheduler as _lrs

from ppl.optim import clipped_adam
from ppl.optim.lr_scheduler import PPLLRScheduler
from ppl.optim.optim import ClipArgs, OptimArgs, PPLOptimizer


class _WrappedOptimizer(PPLOptimizer):
    """Base of the generated wrappers: the torch class is a class attribute."""

    torch_class: type[torch.optim.Optimizer] = torch.optim.Optimizer

    def __init__(self, optim_args: OptimArgs, clip_args: ClipArgs = None) -> None:
        super().__init__(self.torch_class, optim_args, clip_args)


class _WrappedScheduler(PPLLRScheduler):
    """Base of the generated scheduler wrappers."""

    torch_class: type = _lrs.LRScheduler

    def __init__(self, optim_args: Mapping[str, Any], clip_args: ClipArgs = None) -> None:
        super().__init__(self.torch_class, optim_args, clip_args)


def wrap_optimizer(torch_class: type[torch.optim.Optimizer]) -> type[_WrappedOptimizer]:
    """Make a Pyro-style wrapper class for a torch optimizer class.

    Args:
        torch_class: a ``torch.optim.Optimizer`` subclass (also a user-defined one).

    Returns:
        A ``PPLOptimizer`` subclass called as ``Wrapper(optim_args, clip_args=None)``.

    Raises:
        TypeError: if ``torch_class`` is not an Optimizer subclass.

    Example:
        >>> MySGD = wrap_optimizer(torch.optim.SGD)
        >>> MySGD({"lr": 0.1})
        SGD(SGD, {'lr': 0.1})
    """
    if not (isinstance(torch_class, type) and issubclass(torch_class, torch.optim.Optimizer)):
        raise TypeError(f"wrap_optimizer: expected an Optimizer subclass, got {torch_class!r}")
    doc = (
        f"Wraps :class:`{torch_class.__module__}.{torch_class.__name__}` in a "
        "``PPLOptimizer``: call with ``optim_args`` (dict or per-parameter callable) and "
        "optional ``clip_args``."
    )
    attrs = {"torch_class": torch_class, "__doc__": doc, "__module__": __name__}
    return type(torch_class.__name__, (_WrappedOptimizer,), attrs)


def wrap_scheduler(torch_class: type) -> type[_WrappedScheduler]:
    """Make a Pyro-style wrapper class for a ``torch.optim.lr_scheduler`` class.

    Args:
        torch_class: a scheduler class (``LRScheduler`` subclass or ``ReduceLROnPlateau``).

    Returns:
        A ``PPLLRScheduler`` subclass called as ``Wrapper({"optimizer": ...,
        "optim_args": ..., **scheduler_kwargs}, clip_args=None)``.

    Raises:
        TypeError: if ``torch_class`` is not a scheduler class.
    """
    if not (
        isinstance(torch_class, type)
        and issubclass(torch_class, (_lrs.LRScheduler, _lrs.ReduceLROnPlateau))
    ):
        raise TypeError(f"wrap_scheduler: expected a scheduler class, got {torch_class!r}")
    doc = (
        f"Wraps :class:`torch.optim.lr_scheduler.{torch_class.__name__}` in a "
        "``PPLLRScheduler``: call with ``{'optimizer': ..., 'optim_args': ..., **kwargs}``."
    )
    attrs = {"torch_class": torch_class, "__doc__": doc, "__module__": __name__}
    return type(torch_class.__name__, (_WrappedScheduler,), attrs)


Adadelta = wrap_optimizer(torch.optim.Adadelta)
Adagrad = wrap_optimizer(torch.optim.Adagrad)
Adam = wrap_optimizer(torch.optim.Adam)
AdamW = wrap_optimizer(torch.optim.AdamW)
Adamax = wrap_optimizer(torch.optim.Adamax)
ASGD = wrap_optimizer(torch.optim.ASGD)
LBFGS = wrap_optimizer(torch.optim.LBFGS)
NAdam = wrap_optimizer(torch.optim.NAdam)
RAdam = wrap_optimizer(torch.optim.RAdam)
RMSprop = wrap_optimizer(torch.optim.RMSprop)
Rprop = wrap_optimizer(torch.optim.Rprop)
SGD = wrap_optimizer(torch.optim.SGD)
SparseAdam = wrap_optimizer(torch.optim.SparseAdam)
ClippedAdam = wrap_optimizer(clipped_adam.ClippedAdam)

OPTIMIZERS: dict[str, type[_WrappedOptimizer]] = {
    cls.__name__: cls
    for cls in (
        Adadelta,
        Adagrad,
        Adam,
        AdamW,
        Adamax,
        ASGD,
        LBFGS,
        NAdam,
        RAdam,
        RMSprop,
        Rprop,
        SGD,
        SparseAdam,
        ClippedAdam,
    )
}
for _name in ("Adafactor", "Muon"):  # newer torch only
    if hasattr(torch.optim, _name):
        OPTIMIZERS[_name] = wrap_optimizer(getattr(torch.optim, _name))

ConstantLR = wrap_scheduler(_lrs.ConstantLR)
CosineAnnealingLR = wrap_scheduler(_lrs.CosineAnnealingLR)
CosineAnnealingWarmRestarts = wrap_scheduler(_lrs.CosineAnnealingWarmRestarts)
CyclicLR = wrap_scheduler(_lrs.CyclicLR)
ExponentialLR = wrap_scheduler(_lrs.ExponentialLR)
LambdaLR = wrap_scheduler(_lrs.LambdaLR)
LinearLR = wrap_scheduler(_lrs.LinearLR)
MultiplicativeLR = wrap_scheduler(_lrs.MultiplicativeLR)
MultiStepLR = wrap_scheduler(_lrs.MultiStepLR)
OneCycleLR = wrap_scheduler(_lrs.OneCycleLR)
PolynomialLR = wrap_scheduler(_lrs.PolynomialLR)
ReduceLROnPlateau = wrap_scheduler(_lrs.ReduceLROnPlateau)
StepLR = wrap_scheduler(_lrs.StepLR)

SCHEDULERS: dict[str, type[_WrappedScheduler]] = {
    cls.__name__: cls
    for cls in (
        ConstantLR,
        CosineAnnealingLR,
        CosineAnnealingWarmRestarts,
        CyclicLR,
        ExponentialLR,
        LambdaLR,
        LinearLR,
        MultiplicativeLR,
        MultiStepLR,
        OneCycleLR,
        PolynomialLR,
        ReduceLROnPlateau,
        StepLR,
    )
}
