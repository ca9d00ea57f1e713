"""Hamiltonian Monte Carlo with a fixed trajectory length (Pyro's ``HMC``).

Design notes
------------
State is a dict of unconstrained tensors ``z``. Each step draws a momentum
``r ~ N(0, M)``, runs ``num_steps = trajectory_length / step_size`` leapfrog steps
(:func:`ppl.ops.integrator.velocity_verlet`) and accepts the end point with probability
``min(1, exp(-delta_energy))``. The last accepted point, its energy and gradient are
cached so a rejected proposal costs no extra gradient. During warmup a
:class:`~ppl.infer.mcmc.adaptation.WarmupAdapter` tunes the step size (dual averaging
towards ``target_accept_prob``) and the mass matrix (Welford windows); when it restarts
step-size adaptation it calls :meth:`HMC._find_reasonable_step_size`, which doubles or
halves the step until one leapfrog step crosses an acceptance of 0.8.

With ``jit_compile=True`` the potential is a
:class:`~ppl.infer.mcmc.fast.CompiledPotential` (energy and gradient in one graph); when
one mass-matrix block covers every site, the leapfrog runs on one flat vector of all
sites instead of per-site dicts (``_flat_sample``), with the same arithmetic and draws.

Randomness comes from torch's global generator (``ppl.set_rng_seed`` fixes it).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer import MCMC
    >>> def model():
    ...     ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> ppl.set_rng_seed(0)
    >>> mcmc = MCMC(HMC(model, step_size=0.5, num_steps=4), num_samples=20,
    ...             warmup_steps=10, disable_progbar=True)
    >>> mcmc.run()
    >>> mcmc.get_samples()["x"].shape
    torch.Size([20])
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.distributions import Transform

from ppl.infer.autoguide.initialization import init_to_uniform
from ppl.infer.mcmc.adaptation import BlockMassMatrix, WarmupAdapter, _matvec
from ppl.infer.mcmc.fast import CompiledPotential
from ppl.infer.mcmc.mcmc_kernel import MCMCKernel
from ppl.infer.mcmc.resume import StateMismatchError, encode, restore_into
from ppl.infer.mcmc.util import initialize_model
from ppl.ops.context import optional
from ppl.ops.integrator import _EXCEPTION_HANDLERS, potential_grad, velocity_verlet
from ppl.settings import validation_enabled

__all__ = ["HMC"]

Params = dict[str, torch.Tensor]
Block = tuple[str, ...]


def _check_positive(name: str, value: float | None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


@dataclass
class _FlatOps:
    """The compiled potential and the one mass-matrix block of the fast path."""

    potential: CompiledPotential
    inv_mass: torch.Tensor
    sqrt: torch.Tensor
    sqrt_inverse: torch.Tensor


class HMC(MCMCKernel):
    """Hamiltonian Monte Carlo kernel (Neal, "MCMC using Hamiltonian dynamics", 2011).

    Args:
        model: a function with ``ppl.sample`` statements (give this or ``potential_fn``).
        potential_fn: ``dict of unconstrained tensors -> scalar energy`` (then
            ``initial_params`` must be set before ``setup``, or passed to ``MCMC``).
        step_size: the leapfrog step size (``None`` means 1); tuned in warmup when
            ``adapt_step_size``.
        trajectory_length: simulated time per step; default ``step_size * num_steps``, or
            ``2 pi`` when ``num_steps`` is not given either.
        num_steps: leapfrog steps per proposal; always read back as
            ``max(1, int(trajectory_length / step_size))``.
        adapt_step_size: dual-average the step size during warmup.
        adapt_mass_matrix: estimate the mass matrix during warmup.
        full_mass: ``False`` (diagonal), ``True`` (one dense block) or a list of tuples of
            site names, each one dense block (remaining sites share a diagonal block).
        transforms: site -> bijection to real space (default: ``biject_to(support).inv``).
        max_plate_nesting: the number of plate dims the model uses; discrete latent sites
            are enumerated (summed out of the potential) left of them. Guessed when None.
        jit_compile: the fast path: energy and gradient as one traced graph of the flat
            latent vector (:mod:`ppl.infer.mcmc.fast`), and, when one mass-matrix block
            covers all sites, trajectories on flat vectors; eager if tracing fails.
        jit_options: accepted for Pyro compatibility (its ``torch.jit.trace`` options).
        ignore_jit_warnings: silence tracer warnings.
        target_accept_prob: the acceptance probability step-size adaptation aims for.
        init_strategy: per-site initialization (``ppl.infer.autoguide`` strategies).
        min_stepsize, max_stepsize: bounds on the step size search.

    Raises:
        ValueError: if both or neither of ``model``/``potential_fn`` are given, or a size
            argument is not positive.
    """

    def __init__(
        self,
        model: Callable[..., Any] | None = None,
        potential_fn: Callable[[Params], torch.Tensor] | None = None,
        step_size: float | None = 1,
        trajectory_length: float | None = None,
        num_steps: int | None = None,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        full_mass: bool | list[Block] = False,
        transforms: dict[str, Transform] | None = None,
        max_plate_nesting: int | None = None,
        jit_compile: bool = False,
        jit_options: Mapping[str, Any] | None = None,
        ignore_jit_warnings: bool = False,
        target_accept_prob: float = 0.8,
        init_strategy: Callable[..., Any] = init_to_uniform,
        *,
        min_stepsize: float = 1e-10,
        max_stepsize: float = 1e10,
    ) -> None:
        if not ((model is None) ^ (potential_fn is None)):
            raise ValueError("Only one of `model` or `potential_fn` must be specified.")
        _check_positive("step_size", step_size)
        _check_positive("trajectory_length", trajectory_length)
        if num_steps is not None and (not isinstance(num_steps, int) or num_steps < 1):
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
        if not 0 < target_accept_prob < 1:
            raise ValueError(f"target_accept_prob must be in (0, 1), got {target_accept_prob!r}")
        self.model = model
        self.potential_fn = potential_fn
        self.transforms = transforms
        self._max_plate_nesting = max_plate_nesting
        self._jit_compile = jit_compile
        self._jit_options = jit_options
        self._ignore_jit_warnings = ignore_jit_warnings
        self._init_strategy = init_strategy
        self._min_stepsize = min_stepsize
        self._max_stepsize = max_stepsize
        if trajectory_length is not None:
            self.trajectory_length = float(trajectory_length)
        elif num_steps is not None:
            self.trajectory_length = (1.0 if step_size is None else step_size) * num_steps
        else:
            self.trajectory_length = 2 * math.pi  # Stan's default
        self._direction_threshold = math.log(0.8)  # Stan's
        self._max_sliced_energy = 1000.0
        self._reset()
        self._adapter = WarmupAdapter(
            step_size,
            adapt_step_size=adapt_step_size,
            adapt_mass_matrix=adapt_mass_matrix,
            target_accept_prob=target_accept_prob,
            dense_mass=full_mass,
        )
        super().__init__()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        self._t = 0
        self._accept_cnt = 0
        self._mean_accept_prob = 0.0
        self._divergences: list[int] = []
        self._prototype_trace: Any = None
        self._initial_params: Params | None = None
        self._z_last: Params | None = None
        self._potential_energy_last: torch.Tensor | None = None
        self._z_grads_last: Params | None = None
        self._warmup_steps: int | None = None

    def _cache(
        self, z: Params, potential_energy: torch.Tensor, z_grads: Params | None = None
    ) -> None:
        self._z_last = z
        self._potential_energy_last = potential_energy
        self._z_grads_last = z_grads

    def clear_cache(self) -> None:
        """Forget the cached point so the next :meth:`sample` starts from its argument."""
        self._z_last = None
        self._potential_energy_last = None
        self._z_grads_last = None

    def _fetch_from_cache(self) -> tuple[Params | None, torch.Tensor | None, Params | None]:
        return self._z_last, self._potential_energy_last, self._z_grads_last

    # ------------------------------------------------------------------ properties
    @property
    def mass_matrix_adapter(self) -> Any:
        return self._adapter.mass_matrix_adapter

    @mass_matrix_adapter.setter
    def mass_matrix_adapter(self, value: Any) -> None:
        self._adapter.mass_matrix_adapter = value

    @property
    def inverse_mass_matrix(self) -> dict[Block, torch.Tensor]:
        return self.mass_matrix_adapter.inverse_mass_matrix

    @property
    def step_size(self) -> float:
        return self._adapter.step_size

    @property
    def num_steps(self) -> int:
        return max(1, int(self.trajectory_length / self.step_size))

    @property
    def initial_params(self) -> Params:
        return self._initial_params  # type: ignore[return-value]

    @initial_params.setter
    def initial_params(self, params: Params) -> None:
        self._initial_params = params

    # ------------------------------------------------------------------ energy pieces
    def _kinetic_energy(self, r_unscaled: Mapping[Block, torch.Tensor]) -> torch.Tensor:
        energy: Any = 0.0
        for value in r_unscaled.values():
            energy = energy + value.dot(value)
        return 0.5 * energy

    def _tensor_options(self) -> dict[str, Any]:
        ref = self._potential_energy_last
        if ref is None:
            ref = next(iter(self.initial_params.values()))
        return {"dtype": ref.dtype, "device": ref.device}

    def _sample_r(self, name: str) -> tuple[Params, dict[Block, torch.Tensor]]:
        """Momentum ``r ~ N(0, M)`` per site, and its whitened flat form per block."""
        options = self._tensor_options()
        r_unscaled = {
            block: torch.randn(size, **options)
            for block, size in self.mass_matrix_adapter.mass_matrix_size.items()
        }
        return self.mass_matrix_adapter.scale(
            r_unscaled, r_prototype=self.initial_params
        ), r_unscaled

    def _energy_after_one_step(
        self, z: Params, potential_energy: torch.Tensor, step_size: float
    ) -> torch.Tensor:
        r, r_unscaled = self._sample_r("r_presample")
        current = self._kinetic_energy(r_unscaled) + potential_energy
        _, r_new, _, pe_new = velocity_verlet(
            z,
            r,
            self.potential_fn,  # type: ignore[arg-type]
            self.mass_matrix_adapter.kinetic_grad,
            step_size,
        )
        return self._kinetic_energy(self.mass_matrix_adapter.unscale(r_new)) + pe_new - current

    def _find_reasonable_step_size(self, z: Params) -> float:
        """Double (or halve) the step size until one leapfrog step crosses acceptance 0.8."""
        step_size = self.step_size
        try:
            potential_energy = self.potential_fn(z)  # type: ignore[misc]
        except Exception as e:
            if any(handler(e) for handler in _EXCEPTION_HANDLERS.values()):
                return step_size
            raise
        z = {k: v.clone() for k, v in z.items()}

        def direction_at(eps: float) -> int:
            delta = self._energy_after_one_step(z, potential_energy, eps)
            return 1 if self._direction_threshold < -delta else -1

        direction = direction_at(step_size)
        factor = 2.0**direction
        new_direction = direction
        while new_direction == direction and self._min_stepsize < step_size < self._max_stepsize:
            step_size = factor * step_size
            new_direction = direction_at(step_size)
        return min(max(step_size, self._min_stepsize), self._max_stepsize)

    # ------------------------------------------------------------------ setup
    def _initialize_model_properties(
        self, model_args: tuple, model_kwargs: Mapping[str, Any]
    ) -> None:
        init_params, potential_fn, transforms, trace = initialize_model(
            self.model,  # type: ignore[arg-type]
            model_args,
            model_kwargs,
            transforms=self.transforms,
            max_plate_nesting=self._max_plate_nesting,
            jit_compile=self._jit_compile,
            jit_options=self._jit_options,
            skip_jit_warnings=self._ignore_jit_warnings,
            init_strategy=self._init_strategy,
            initial_params=self._initial_params,
        )
        self.potential_fn = potential_fn
        self.transforms = transforms
        self._initial_params = init_params
        self._prototype_trace = trace

    def _mass_matrix_shape(self) -> OrderedDict[Block, tuple[int, ...]]:
        params = self.initial_params
        dense = self._adapter.dense_mass
        if dense is False:
            dense_blocks: list[Block] = []
        elif dense is True:
            dense_blocks = [tuple(sorted(params))]
        else:
            msg = (
                "full_mass should be a bool or a list of tuples of site names from "
                f"{sorted(params)}, got {dense!r}"
            )
            if not isinstance(dense, list):
                raise ValueError(msg)
            for block in dense:
                if not (
                    block
                    and isinstance(block, tuple)
                    and all(isinstance(n, str) and n in params for n in block)
                ):
                    raise ValueError(msg)
            dense_blocks = list(dense)
        in_dense = [name for block in dense_blocks for name in block]
        if len(set(in_dense)) != len(in_dense):
            raise ValueError(f"Site names specified in full_mass are duplicated: {dense_blocks}")
        diag_block = tuple(sorted(name for name in params if name not in in_dense))
        shape: OrderedDict[Block, tuple[int, ...]] = OrderedDict()
        for block in dense_blocks:
            size = sum(params[name].numel() for name in block)
            shape[block] = (size, size)
        if diag_block:
            shape[diag_block] = (sum(params[name].numel() for name in diag_block),)
        return shape

    def _initialize_adapter(self) -> None:
        self._adapter.configure(
            self._warmup_steps,  # type: ignore[arg-type]
            mass_matrix_shape=self._mass_matrix_shape(),
            find_reasonable_step_size_fn=self._find_reasonable_step_size,
            options=self._tensor_options(),
        )
        if self._adapter.adapt_step_size:
            self._adapter.reset_step_size_adaptation(self._initial_params)  # type: ignore[arg-type]

    def setup(self, warmup_steps: int, *args: Any, **kwargs: Any) -> None:
        """Build the potential (from the model and ``args``), cache the start, configure warmup."""
        self._warmup_steps = warmup_steps
        if self.model is not None:
            self._initialize_model_properties(args, kwargs)
        if self.initial_params is None:
            raise ValueError(
                "Must provide valid initial parameters to begin sampling when using "
                "`potential_fn` in HMC/NUTS kernel: set `kernel.initial_params` or pass "
                "`initial_params` to MCMC."
            )
        if self.initial_params:
            z = {k: v.detach() for k, v in self.initial_params.items()}
            z_grads, potential_energy = potential_grad(self.potential_fn, z)  # type: ignore[arg-type]
        else:
            z_grads, potential_energy = {}, torch.as_tensor(self.potential_fn(self.initial_params))  # type: ignore[misc]
        self._cache(self.initial_params, potential_energy, z_grads)
        if self.initial_params:
            self._initialize_adapter()

    def cleanup(self) -> None:
        self._reset()

    # ------------------------------------------------------------------ fast path
    def _flat_ops(self, z: Params) -> _FlatOps | None:
        """What the flat fast path needs, or None when it does not apply.

        It applies when the potential is a compiled graph laid out like ``z`` and one
        block of the mass matrix covers every site in the graph's (name) order; then a
        tree is built on flat vectors and the draws equal those of the per-site path."""
        pe = self.potential_fn
        adapter = self.mass_matrix_adapter
        if not isinstance(pe, CompiledPotential) or type(adapter) is not BlockMassMatrix:
            return None
        if not pe.accepts(z):
            return None
        single = adapter.single_block()
        if single is None or single[0] != tuple(sorted(z)):
            return None
        return _FlatOps(pe, *single[1:])

    @staticmethod
    def _flat_leapfrog(
        ops: _FlatOps,
        z: torch.Tensor,
        r: torch.Tensor,
        z_grads: torch.Tensor,
        step_size: float,
        num_steps: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:func:`~ppl.ops.integrator.velocity_verlet` on flat vectors (same arithmetic)."""
        half = 0.5 * step_size
        potential_energy = z.new_zeros(())  # num_steps >= 1 replaces it
        for _ in range(num_steps):
            r = r - half * z_grads
            z = z + step_size * _matvec(ops.inv_mass, r)
            z_grads, potential_energy = ops.potential.flat_grad(z)
            r = r - half * z_grads
        return z, r, z_grads, potential_energy

    def _flat_sample(
        self, ops: _FlatOps, z: Params, potential_energy: torch.Tensor, z_grads: Params
    ) -> Params:
        """:meth:`sample` on flat vectors: one trajectory, then back to per-site values."""
        pack, unpack = ops.potential.pack, ops.potential.unpack
        size = next(iter(self.mass_matrix_adapter.mass_matrix_size.values()))
        r_unscaled = torch.randn(size, **self._tensor_options())
        energy_current = 0.5 * r_unscaled.dot(r_unscaled) + potential_energy
        z_new, r_new, z_grads_new, potential_energy_new = self._flat_leapfrog(
            ops, pack(z), _matvec(ops.sqrt, r_unscaled), pack(z_grads), self.step_size,
            self.num_steps,
        )  # fmt: skip
        r_new_unscaled = _matvec(ops.sqrt_inverse, r_new)
        energy_proposal = 0.5 * r_new_unscaled.dot(r_new_unscaled) + potential_energy_new
        return self._accept(
            z, z_grads, energy_proposal - energy_current,
            lambda: (unpack(z_new), potential_energy_new, unpack(z_grads_new)),
        )  # fmt: skip

    # ------------------------------------------------------------------ transition
    def _start(self, params: Params) -> tuple[Params, torch.Tensor, Params] | None:
        """The cached point (or ``params``), or None for a model without latent sites."""
        z, potential_energy, z_grads = self._fetch_from_cache()
        if z is None:
            z = params
            z_grads, potential_energy = potential_grad(self.potential_fn, z)  # type: ignore[arg-type]
            self._cache(z, potential_energy, z_grads)
        elif len(z) == 0:
            self._t += 1
            self._mean_accept_prob = 1.0
            if self._t > self._warmup_steps:  # type: ignore[operator]
                self._accept_cnt += 1
            return None
        return z, potential_energy, z_grads  # type: ignore[return-value]

    def _finish(
        self, z: Params, z_grads: Params, accept_prob: torch.Tensor, accepted: bool
    ) -> None:
        """Count the step, adapt during warmup, update the running acceptance mean."""
        self._t += 1
        warmup = self._warmup_steps or 0
        if self._t > warmup:
            n = self._t - warmup
            if accepted:
                self._accept_cnt += 1
        else:
            n = self._t
            self._adapter.step(self._t, z, accept_prob, z_grads)
        self._mean_accept_prob += (float(accept_prob) - self._mean_accept_prob) / n

    def sample(self, params: Params) -> Params:
        start = self._start(params)
        if start is None:
            return params
        z, potential_energy, z_grads = start
        ops = self._flat_ops(z)
        if ops is not None:
            return self._flat_sample(ops, z, potential_energy, z_grads)
        r, r_unscaled = self._sample_r(f"r_t={self._t}")
        energy_current = self._kinetic_energy(r_unscaled) + potential_energy
        with optional(validation_enabled(False), self._t < (self._warmup_steps or 0)):
            z_new, r_new, z_grads_new, potential_energy_new = velocity_verlet(
                z,
                r,
                self.potential_fn,  # type: ignore[arg-type]
                self.mass_matrix_adapter.kinetic_grad,
                self.step_size,
                self.num_steps,
                z_grads=z_grads,
            )
            energy_proposal = (
                self._kinetic_energy(self.mass_matrix_adapter.unscale(r_new)) + potential_energy_new
            )
        return self._accept(
            z, z_grads, energy_proposal - energy_current,
            lambda: (z_new, potential_energy_new, z_grads_new),
        )  # fmt: skip

    def _accept(
        self,
        z: Params,
        z_grads: Params,
        delta_energy: torch.Tensor,
        proposal: Callable[[], tuple[Params, torch.Tensor, Params]],
    ) -> Params:
        """Metropolis step on ``delta_energy``: move to ``proposal()`` or stay at ``z``."""
        if torch.isnan(delta_energy):
            delta_energy = torch.full_like(delta_energy, float("inf"))
        if delta_energy > self._max_sliced_energy and self._t >= (self._warmup_steps or 0):
            self._divergences.append(self._t - (self._warmup_steps or 0))
        accept_prob = (-delta_energy).exp().clamp(max=1.0)
        accepted = bool(
            torch.rand((), dtype=accept_prob.dtype, device=accept_prob.device) < accept_prob
        )
        if accepted:
            z, potential_energy_new, z_grads = proposal()
            self._cache(z, potential_energy_new, z_grads)
        self._finish(z, z_grads, accept_prob, accepted)
        return z.copy()

    # ------------------------------------------------------------------ resumable state
    _STATE_ATTRS = (
        "_t", "_accept_cnt", "_mean_accept_prob", "_divergences", "_z_last",
        "_potential_energy_last", "_z_grads_last", "_adapter",
    )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """This chain's state between two steps, as plain data (for resumable sampling).

        The step counter, acceptance statistics, divergences, the cached point with its
        potential energy and gradient, and the whole warm-up adapter (step size,
        dual averaging, mass matrix, Welford window). Setup rebuilds the rest.

        Example:
            >>> k = HMC(potential_fn=lambda z: (z["x"] ** 2).sum())
            >>> k.initial_params = {"x": torch.zeros(2)}
            >>> k.setup(10)
            >>> k.state_dict()["_t"]
            0
        """
        return {name: encode(getattr(self, name), name) for name in self._STATE_ATTRS}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` into a kernel that has been set up for the same model.

        Raises:
            StateMismatchError: the state is not an HMC/NUTS kernel state, or its
                adapter has another structure (e.g. another mass-matrix layout).
        """
        missing = [name for name in self._STATE_ATTRS if name not in state]
        if missing:
            raise StateMismatchError(
                f"the saved kernel state lacks {missing}; it is not a state of "
                f"{type(self).__name__}"
            )
        for name in self._STATE_ATTRS:
            setattr(self, name, restore_into(getattr(self, name), state[name], name))

    # ------------------------------------------------------------------ reporting
    def logging(self) -> OrderedDict[str, str]:
        return OrderedDict(
            [
                ("step size", f"{self.step_size:.2e}"),
                ("acc. prob", f"{self._mean_accept_prob:.3f}"),
                ("div", str(len(self._divergences))),
            ]
        )

    def diagnostics(self) -> dict[str, Any]:
        num_draws = self._t - (self._warmup_steps or 0)
        return {
            "divergences": self._divergences,
            "acceptance rate": self._accept_cnt / num_draws if num_draws > 0 else float("nan"),
        }
