"""Gaussian random-walk Metropolis with a self-tuned step size (Pyro's ``RandomWalkKernel``).

Proposals are ``z + step_size * N(0, I)`` in unconstrained space, accepted with
probability ``min(1, exp(-delta_energy))``. During warmup ``log(step_size)`` moves by
``max(0.001, 0.1 / sqrt(1 + t)) * (accept_prob - target_accept_prob)`` each step.
No gradients are needed, so this also suits models whose density is not differentiable.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> from ppl.infer import MCMC
    >>> ppl.set_rng_seed(0)
    >>> mcmc = MCMC(RandomWalkKernel(lambda: ppl.sample("x", dist.Normal(0.0, 1.0))),
    ...             num_samples=30, warmup_steps=10, disable_progbar=True)
    >>> mcmc.run()
    >>> mcmc.get_samples()["x"].shape
    torch.Size([30])
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ppl.infer.mcmc.mcmc_kernel import MCMCKernel
from ppl.infer.mcmc.resume import StateMismatchError, encode, restore_into
from ppl.infer.mcmc.util import initialize_model

__all__ = ["RandomWalkKernel"]

Params = dict[str, torch.Tensor]


class RandomWalkKernel(MCMCKernel):
    """Random-walk Metropolis kernel for a model.

    Args:
        model: a function with ``ppl.sample`` statements.
        init_step_size: the initial proposal scale (a positive float).
        target_accept_prob: the acceptance rate warmup aims for, in ``(0, 1)``
            (0.234 is optimal for high-dimensional Gaussians).

    Raises:
        ValueError: for a non-positive step size or a target outside ``(0, 1)``.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        init_step_size: float = 0.1,
        target_accept_prob: float = 0.234,
    ):
        if not isinstance(init_step_size, float) or init_step_size <= 0.0:
            raise ValueError(f"init_step_size must be a positive float, got {init_step_size!r}")
        if not isinstance(target_accept_prob, float) or not 0.0 < target_accept_prob < 1.0:
            raise ValueError(
                "target_accept_prob must be a float in the interval (0, 1), "
                f"got {target_accept_prob!r}"
            )
        self.model = model
        self.init_step_size = init_step_size
        self.target_accept_prob = target_accept_prob
        self.transforms: dict[str, Any] | None = None
        self._t = 0
        self._log_step_size = math.log(init_step_size)
        self._accept_cnt = 0
        self._mean_accept_prob = 0.0
        self._warmup_steps = 0
        self._initial_params: Params | None = None
        super().__init__()

    def setup(self, warmup_steps: int, *args: Any, **kwargs: Any) -> None:
        self._warmup_steps = warmup_steps
        self._initial_params, self.potential_fn, self.transforms, self._prototype_trace = (
            initialize_model(self.model, model_args=args, model_kwargs=kwargs)
        )
        self._energy_last = self.potential_fn(self._initial_params)

    def sample(self, params: Params) -> Params:
        step_size = math.exp(self._log_step_size)
        proposal = {
            k: v + step_size * torch.randn(v.shape, dtype=v.dtype, device=v.device)
            for k, v in params.items()
        }
        energy = self.potential_fn(proposal)
        accept_prob = float((self._energy_last - energy).exp().clamp(max=1.0))
        accepted = bool(torch.rand(()) < accept_prob)
        if accepted:
            params = proposal
            self._energy_last = energy
        if self._t <= self._warmup_steps:
            speed = max(0.001, 0.1 / math.sqrt(1 + self._t))
            self._log_step_size += speed * (accept_prob - self.target_accept_prob)
        self._t += 1
        if self._t > self._warmup_steps:
            n = self._t - self._warmup_steps
            self._accept_cnt += int(accepted)
        else:
            n = self._t
        self._mean_accept_prob += (accept_prob - self._mean_accept_prob) / n
        return params.copy()

    @property
    def initial_params(self) -> Params:
        return self._initial_params  # type: ignore[return-value]

    @initial_params.setter
    def initial_params(self, params: Params) -> None:
        self._initial_params = params

    _STATE_ATTRS = ("_t", "_log_step_size", "_accept_cnt", "_mean_accept_prob", "_energy_last")

    def state_dict(self) -> dict[str, Any]:
        """This chain's state between two steps (for resumable sampling): step counter,
        adapted step size, acceptance statistics and the current energy."""
        return {name: encode(getattr(self, name), name) for name in self._STATE_ATTRS}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` into a kernel set up for the same model."""
        missing = [name for name in self._STATE_ATTRS if name not in state]
        if missing:
            raise StateMismatchError(
                f"the saved kernel state lacks {missing}; it is not a RandomWalkKernel state"
            )
        for name in self._STATE_ATTRS:
            setattr(self, name, restore_into(getattr(self, name, None), state[name], name))

    def logging(self) -> OrderedDict[str, str]:
        return OrderedDict(
            [
                ("step size", f"{math.exp(self._log_step_size):.2e}"),
                ("acc. prob", f"{self._mean_accept_prob:.3f}"),
            ]
        )

    def diagnostics(self) -> dict[str, Any]:
        num_draws = self._t - self._warmup_steps
        return {"acceptance rate": self._accept_cnt / num_draws if num_draws > 0 else float("nan")}
