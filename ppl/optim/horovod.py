"""``HorovodOptimizer``: data-parallel training with Horovod (Pyro's ``pyro.optim.horovod``).

Each worker (launched by ``horovodrun``) computes gradients on its own shard of the data;
before every optimizer step the gradients are averaged across workers with Horovod's
in-place all-reduce, one named tensor per param, in sorted name order so every worker
issues the same collectives in the same order. The wrapped optimizer then takes the same
step on every worker, so the replicas stay identical. ``all_finite`` lets ``SVI`` agree
on a non-finite step across workers, as with :class:`ppl.distributed.DistributedOptimizer`
(torch.distributed's counterpart).

``horovod.torch`` is an optional extra, imported at the first step, so a script can build
the optimizer unconditionally (as Pyro's ``svi_horovod`` example does) and run without
Horovod when it is not asked for.

Example:
    >>> import ppl.optim
    >>> opt = HorovodOptimizer(ppl.optim.Adam({"lr": 0.01}))
    >>> opt.optimizer_class.__name__
    'Adam'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from .optim import PPLOptimizer

__all__ = ["HorovodOptimizer"]

_ACCEPTED = ("op", "prescale_factor", "postscale_factor")


def _horovod() -> Any:
    try:
        import horovod.torch as hvd
    except ImportError as error:
        raise ImportError(
            "HorovodOptimizer needs horovod (pip install 'horovod[pytorch]'), run under "
            "horovodrun; for torch.distributed use ppl.distributed.DistributedOptimizer"
        ) from error
    return hvd


class HorovodOptimizer(PPLOptimizer):
    """Average gradients over Horovod workers before each step of ``pyro_optim``.

    Args:
        pyro_optim: the optimizer to distribute (its class, ``optim_args`` and
            ``clip_args`` are taken over; ``pyro_optim`` itself is not stepped).
        **horovod_kwargs: passed to ``horovod.torch.allreduce_``: ``op`` (default
            ``hvd.Average``), ``prescale_factor``, ``postscale_factor``.

    Raises:
        TypeError: ``pyro_optim`` is not a ppl optimizer, or an unknown keyword.
    """

    def __init__(self, pyro_optim: PPLOptimizer, **horovod_kwargs: Any) -> None:
        if not isinstance(pyro_optim, PPLOptimizer):
            raise TypeError(
                f"HorovodOptimizer: expected a ppl.optim optimizer such as "
                f"ppl.optim.Adam({{'lr': 1e-3}}), got {type(pyro_optim).__name__}"
            )
        unknown = sorted(set(horovod_kwargs) - set(_ACCEPTED))
        if unknown:
            raise TypeError(
                f"HorovodOptimizer: unknown keyword(s) {unknown}; accepted: {list(_ACCEPTED)}"
            )
        super().__init__(pyro_optim.optimizer_class, pyro_optim.optim_args, pyro_optim.clip_args)
        self.horovod_kwargs = dict(horovod_kwargs)

    def step(
        self,
        named_params: Mapping[str, torch.Tensor],
        closure: Callable[[], Any] | None = None,
    ) -> Any:
        """All-reduce each param's gradient across workers, then take the step."""
        hvd = _horovod()
        kwargs = {"op": hvd.Average, **self.horovod_kwargs}
        for name in sorted(named_params):
            grad = named_params[name].grad
            if grad is not None:
                hvd.allreduce_(grad, name=name, **kwargs)
        return super().step(named_params, closure)

    def all_finite(self, finite: bool) -> bool:
        """True only if ``finite`` is True on every worker (one tiny all-reduce)."""
        hvd = _horovod()
        flag = torch.tensor([float(bool(finite))])
        return bool(hvd.allreduce(flag, name="ppl.all_finite", op=hvd.Min).item() > 0)
