"""The interface every MCMC transition kernel implements (Pyro's ``MCMCKernel``).

A kernel is a Markov transition ``params -> params`` on a dict of unconstrained
tensors. :class:`~ppl.infer.mcmc.api.MCMC` drives it: ``setup`` once per chain,
``sample`` once per step (warmup first, then sampling), ``cleanup`` at the end.
``logging`` feeds the progress bar and ``diagnostics`` the final report.

Example:
    >>> import torch
    >>> class Stay(MCMCKernel):
    ...     initial_params = {"x": torch.zeros(())}
    ...     def sample(self, params):
    ...         return dict(params)
    >>> Stay()(Stay.initial_params)["x"].item()
    0.0
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from typing import Any

import torch

__all__ = ["MCMCKernel"]

Params = dict[str, torch.Tensor]


class MCMCKernel(metaclass=ABCMeta):
    """Base class of MCMC kernels; subclasses implement :meth:`sample`."""

    def setup(self, warmup_steps: int, *args: Any, **kwargs: Any) -> None:  # noqa: B027
        """Prepare a new chain with ``warmup_steps`` adaptation steps.

        ``args``/``kwargs`` are the arguments given to ``MCMC.run`` (the model's data).
        """

    def cleanup(self) -> None:  # noqa: B027
        """Drop per-chain state once a chain is finished."""

    def logging(self) -> OrderedDict[str, str] | None:
        """Short per-step status (e.g. step size, acceptance) for the progress bar."""
        return None

    def diagnostics(self) -> dict[str, Any]:
        """Statistics about the finished chain (e.g. divergences, acceptance rate)."""
        return {}

    def end_warmup(self) -> None:  # noqa: B027
        """Hook called when warmup is over; the default does nothing."""

    @property
    def initial_params(self) -> Params:
        """The unconstrained values the chain starts from, keyed by site name."""
        raise NotImplementedError

    @initial_params.setter
    def initial_params(self, params: Params) -> None:
        raise NotImplementedError

    @abstractmethod
    def sample(self, params: Params) -> Params:
        """One Markov transition from ``params``; returns the new dict of values."""
        raise NotImplementedError

    def __call__(self, params: Params) -> Params:
        return self.sample(params)
