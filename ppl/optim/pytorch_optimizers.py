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

from ppl.optim import adagrad_rmsprop, clipped_adam, dct_adam
from ppl.optim import adagrad_window as _adagrad_window
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


OPTIMIZERS: dict[str, type[_WrappedOptimizer]] = {}
"""Every built-in optimizer wrapper by name, in definition order."""
SCHEDULERS: dict[str, type[_WrappedScheduler]] = {}
"""Every built-in scheduler wrapper by name, in definition order."""


def _builtin_optimizer(torch_class: type[torch.optim.Optimizer]) -> type[_WrappedOptimizer]:
    """``wrap_optimizer`` that also lists the wrapper in ``OPTIMIZERS``."""
    cls = wrap_optimizer(torch_class)
    OPTIMIZERS[cls.__name__] = cls
    return cls


def _builtin_scheduler(torch_class: type) -> type[_WrappedScheduler]:
    """``wrap_scheduler`` that also lists the wrapper in ``SCHEDULERS``."""
    cls = wrap_scheduler(torch_class)
    SCHEDULERS[cls.__name__] = cls
    return cls


Adadelta = _builtin_optimizer(torch.optim.Adadelta)
Adagrad = _builtin_optimizer(torch.optim.Adagrad)
Adam = _builtin_optimizer(torch.optim.Adam)
AdamW = _builtin_optimizer(torch.optim.AdamW)
Adamax = _builtin_optimizer(torch.optim.Adamax)
ASGD = _builtin_optimizer(torch.optim.ASGD)
LBFGS = _builtin_optimizer(torch.optim.LBFGS)
NAdam = _builtin_optimizer(torch.optim.NAdam)
RAdam = _builtin_optimizer(torch.optim.RAdam)
RMSprop = _builtin_optimizer(torch.optim.RMSprop)
Rprop = _builtin_optimizer(torch.optim.Rprop)
SGD = _builtin_optimizer(torch.optim.SGD)
SparseAdam = _builtin_optimizer(torch.optim.SparseAdam)
ClippedAdam = _builtin_optimizer(clipped_adam.ClippedAdam)
DCTAdam = _builtin_optimizer(dct_adam.DCTAdam)
AdagradRMSProp = _builtin_optimizer(adagrad_rmsprop.AdagradRMSProp)
AdagradWindow = _builtin_optimizer(_adagrad_window.AdagradWindow)
for _name in ("Adafactor", "Muon"):  # newer torch only
    if hasattr(torch.optim, _name):
        _builtin_optimizer(getattr(torch.optim, _name))

ConstantLR = _builtin_scheduler(_lrs.ConstantLR)
CosineAnnealingLR = _builtin_scheduler(_lrs.CosineAnnealingLR)
CosineAnnealingWarmRestarts = _builtin_scheduler(_lrs.CosineAnnealingWarmRestarts)
CyclicLR = _builtin_scheduler(_lrs.CyclicLR)
ExponentialLR = _builtin_scheduler(_lrs.ExponentialLR)
LambdaLR = _builtin_scheduler(_lrs.LambdaLR)
LinearLR = _builtin_scheduler(_lrs.LinearLR)
MultiplicativeLR = _builtin_scheduler(_lrs.MultiplicativeLR)
MultiStepLR = _builtin_scheduler(_lrs.MultiStepLR)
OneCycleLR = _builtin_scheduler(_lrs.OneCycleLR)
PolynomialLR = _builtin_scheduler(_lrs.PolynomialLR)
ReduceLROnPlateau = _builtin_scheduler(_lrs.ReduceLROnPlateau)
StepLR = _builtin_scheduler(_lrs.StepLR)


def adagrad_window(
    learning_rate: float = 1e-3, epsilon: float = 0.1, n_win: int = 10
) -> _WrappedOptimizer:
    """PyMC's ``pm.adagrad_window(learning_rate, epsilon, n_win)``: the default optimizer of
    ``ppl.infer.vi.fit`` for ``"advi"``/``"fullrank_advi"`` (see
    :class:`ppl.optim.adagrad_window.AdagradWindow`).

    Example:
        >>> adagrad_window(learning_rate=0.01).optim_args
        {'lr': 0.01, 'eps': 0.1, 'n_win': 10}
    """
    return AdagradWindow({"lr": learning_rate, "eps": epsilon, "n_win": n_win})
