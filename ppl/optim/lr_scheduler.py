"""``PPLLRScheduler`` (alias ``PyroLRScheduler``): a torch LR scheduler over the wrapper.

Design notes
------------
Pyro's signature is the contract::

    ppl.optim.ExponentialLR({"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.01},
                             "gamma": 0.1})

The dict names the torch optimizer class (a ppl wrapper class such as ``ppl.optim.Adam``
is accepted too), its ``optim_args`` (dict or per-parameter callable) and the
scheduler's own keyword arguments. The user's dict is not modified.

The scheduler *is* an optimizer wrapper: SVI steps it like any other
(``step(named_params)``), and one torch scheduler is created right after the one torch
optimizer, at the first step. ``step(*args)`` with anything but a mapping steps the
scheduler (``step()``; ``step(loss)`` for ``ReduceLROnPlateau``); the two uses cannot be
confused because a scheduler never takes a mapping. Before the first optimizer step there
is no scheduler yet and ``step()`` does nothing, as in Pyro.

A param group added after the scheduler exists (a per-parameter callable giving new
settings to a parameter that appears late) joins the schedule at its current epoch:
its ``initial_lr`` is its own ``lr`` and the scheduler's per-group lists (``base_lrs``,
``min_lrs``, ``lr_lambdas``, ``max_lrs``, momenta) are extended, other missing group
keys are copied from the first group.

Saving: the scheduler's ``state_dict()`` is stored under ``"scheduler"``. Callables
(``LambdaLR``'s ``lr_lambda``, ``CyclicLR``'s ``scale_fn``) are not saved — torch drops
plain functions from its state — so pass the same callable again when rebuilding; a
callable *object* with attributes cannot be saved safely and ``state_dict()`` raises.
``SequentialLR`` and ``ChainedScheduler`` take other schedulers, not keyword arguments,
and are not wrapped.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch

from ppl.ops.tree import clone_tree, restore_containers, to_plain
from ppl.optim.optim import ClipArgs, PPLOptimizer
from ppl.params.safe_file import check_plain

_LRScheduler = torch.optim.lr_scheduler.LRScheduler
_Plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
_PER_GROUP_LISTS = (
    "base_lrs",
    "_last_lr",
    "min_lrs",
    "lr_lambdas",
    "max_lrs",
    "base_momentums",
    "max_momentums",
)


def _is_scheduler_class(cls: object) -> bool:
    return isinstance(cls, type) and issubclass(cls, (_LRScheduler, _Plateau))


class PPLLRScheduler(PPLOptimizer):
    """Wrap a torch learning-rate scheduler and the optimizer it drives.

    Args:
        scheduler_constructor: a ``torch.optim.lr_scheduler`` class.
        optim_args: ``{"optimizer": torch optimizer class, "optim_args": dict or callable,
            **scheduler_kwargs}``.
        clip_args: per-parameter gradient clipping, as for ``PPLOptimizer``.

    Raises:
        TypeError: if ``scheduler_constructor`` is not a scheduler class or
            ``optim_args`` is not a dict.
        ValueError: if ``"optimizer"`` or ``"optim_args"`` is missing, or a scheduler
            argument is unknown.

    Example:
        >>> w = torch.zeros(1, requires_grad=True)
        >>> sched = PPLLRScheduler(torch.optim.lr_scheduler.StepLR,
        ...     {"optimizer": torch.optim.SGD, "optim_args": {"lr": 1.0}, "step_size": 1,
        ...      "gamma": 0.5})
        >>> w.grad = torch.ones(1)
        >>> sched.step({"w": w})
        >>> sched.step()
        >>> sched.get_last_lr()
        [0.5]
    """

    def __init__(
        self,
        scheduler_constructor: type,
        optim_args: Mapping[str, Any],
        clip_args: ClipArgs = None,
    ) -> None:
        if not _is_scheduler_class(scheduler_constructor):
            raise TypeError(
                "scheduler_constructor: expected a torch.optim.lr_scheduler class such as "
                f"torch.optim.lr_scheduler.StepLR, but got {scheduler_constructor!r}"
            )
        if not isinstance(optim_args, Mapping):
            raise TypeError(
                f"{scheduler_constructor.__name__}: expected a dict {{'optimizer': "
                "torch.optim.Adam, 'optim_args': {'lr': 0.01}, ...scheduler args}, but got "
                f"{type(optim_args).__name__}"
            )
        args = dict(optim_args)
        for key in ("optimizer", "optim_args"):
            if key not in args:
                raise ValueError(
                    f"{scheduler_constructor.__name__}: missing key {key!r}; expected "
                    "{'optimizer': torch.optim.Adam, 'optim_args': {'lr': 0.01}, ...}"
                )
        optimizer = args.pop("optimizer")
        if isinstance(optimizer, type) and issubclass(optimizer, PPLOptimizer):
            optimizer = getattr(optimizer, "torch_class", optimizer)  # e.g. ppl.optim.Adam
        inner_args = args.pop("optim_args")
        params = inspect.signature(scheduler_constructor).parameters
        valid = sorted(n for n in params if n != "optimizer")
        unknown = sorted(set(args) - set(valid))
        if unknown:
            raise ValueError(
                f"{scheduler_constructor.__name__}: unknown scheduler argument(s) {unknown}; "
                f"valid keys are ['optimizer', 'optim_args'] + {valid}"
            )
        self.scheduler_class = scheduler_constructor
        self.kwargs = args
        super().__init__(optimizer, inner_args, clip_args)
        self._scheduler: Any = None
        self._pending_scheduler: dict[str, Any] | None = None

    @property
    def pt_scheduler_constructor(self) -> type:
        """The torch scheduler class (Pyro's attribute name for ``scheduler_class``)."""
        return self.scheduler_class

    @property
    def scheduler(self) -> Any:
        """The torch scheduler, or None before the first optimizer step."""
        return self._scheduler

    def _torch_object(self) -> Any:
        return self._scheduler

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """Step the optimizer (given a mapping of parameters) or the scheduler (otherwise).

        ``step(named_params, closure=None)`` is the optimizer step used by SVI;
        ``step()``, ``step(loss)`` (``ReduceLROnPlateau``) step the scheduler.

        Returns:
            The optimizer step's result, or None for a scheduler step.
        """
        if (args and isinstance(args[0], Mapping)) or "named_params" in kwargs:
            return super().step(*args, **kwargs)
        if self._scheduler is not None:
            self._scheduler.step(*args, **kwargs)
        return None

    def get_last_lr(self) -> list[float]:
        """Learning rate of every param group (after the last scheduler step).

        Raises:
            ValueError: before the first optimizer step (no optimizer exists yet).
        """
        if self._optimizer is None:
            raise ValueError(
                f"{self.scheduler_class.__name__}.get_last_lr: no optimizer exists before the "
                "first step; call step(named_params) (or svi.step) first"
            )
        return [float(g["lr"]) for g in self._optimizer.param_groups]

    # hooks -------------------------------------------------------------------
    def _after_create(self) -> None:
        self._scheduler = self.scheduler_class(self._optimizer, **self.kwargs)
        pending = self._pending_scheduler
        if pending is not None:
            state = restore_containers(clone_tree(pending), self._scheduler)
            self._scheduler.load_state_dict(state)
            self._pending_scheduler = None

    def _on_new_group(self, group: dict[str, Any]) -> None:
        sched = self._scheduler
        if sched is None:
            return
        groups = self._optimizer.param_groups  # type: ignore[union-attr]
        if isinstance(sched, _LRScheduler):
            group.setdefault("initial_lr", group["lr"])
        for key, value in groups[0].items():
            if key not in group:
                group[key] = value
        before = len(groups) - 1
        for attr in _PER_GROUP_LISTS:
            values = getattr(sched, attr, None)
            if isinstance(values, list) and len(values) == before and before > 0:
                if attr == "base_lrs":
                    values.append(group["initial_lr"])
                elif attr == "_last_lr":
                    values.append(group["lr"])
                else:
                    values.append(values[-1])

    def _scheduler_state(self) -> dict[str, Any] | None:
        if self._scheduler is not None:
            state = {"class": self.scheduler_class.__name__, **self._scheduler.state_dict()}
        elif self._pending_scheduler is not None:
            state = {"class": self.scheduler_class.__name__, **self._pending_scheduler}
        else:
            return {"class": self.scheduler_class.__name__}
        state = to_plain(clone_tree(state))
        check_plain(state, "state_dict['scheduler']")
        return state

    def _validate_scheduler(self, state: Any) -> None:
        name = self.scheduler_class.__name__
        if not isinstance(state, Mapping) or state.get("class") != name:
            found = state.get("class") if isinstance(state, Mapping) else None
            raise ValueError(
                f"load_state_dict: the state holds scheduler {found!r} but this wrapper is "
                f"{name}; load it into the wrapper it was saved from"
            )

    def _load_scheduler_state(self, state: dict[str, Any] | None) -> None:
        assert state is not None  # checked by _validate_scheduler
        rest = {k: v for k, v in state.items() if k != "class"}
        self._pending_scheduler = rest or None

    def _reset_scheduler(self) -> None:
        self._scheduler = None
        self._pending_scheduler = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scheduler_class.__name__}, {self.kwargs})"


PyroLRScheduler = PPLLRScheduler
