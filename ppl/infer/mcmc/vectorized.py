"""Vectorized chains: ``MCMC(..., num_chains=k, chain_method="vectorized")``.

Design notes
------------
* **One state, a leading chain dim.** All chains live in one ``(chains, size)`` tensor
  of flat unconstrained latents (sites in name order, each flattened, as
  :class:`~ppl.infer.mcmc.fast.CompiledPotential` lays them out), with their momenta,
  gradients and energies beside it. Every leapfrog step of every chain is one call of
  a batched potential (:class:`BatchedPotential`): the compiled single-point graph
  mapped over the chain dim by ``torch.func.vmap`` and traced again, or, when the
  model cannot be traced, one eager evaluation per chain.
* **HMC.** Chains run ``max_c num_steps_c`` leapfrog steps together; a chain whose own
  ``trajectory_length / step_size`` is shorter stops moving (masked) after its count.
* **NUTS, iterative and masked.** The recursive tree of :class:`~ppl.infer.mcmc.NUTS`
  becomes loops that all chains share: over tree depths (each chain doubles its
  trajectory in a direction of its own), and inside a depth over the ``2 ** depth``
  leaves of the new subtree, one leaf per batched gradient. A chain whose subtree turns
  or diverges, or whose trajectory is finished, is masked: its values stay as they
  are while the others go on, and the loops end when no chain is left. Inside a
  subtree the draw is progressive and uniform (a new leaf replaces the subtree's
  proposal with probability ``w_leaf / w_subtree``, which draws each leaf with
  probability proportional to its weight, as the recursive halving does); a finished
  subtree replaces the trajectory's proposal with the biased probability
  ``min(1, w_subtree / w_old)``. The U-turn checks of every balanced sub-block are
  made when its last leaf is added, from the momentum of its first leaf and the sum of
  whitened momenta over it, as the recursion makes them.
* **Per-chain adaptation.** Each chain has its own
  :class:`~ppl.infer.mcmc.adaptation.WarmupAdapter` (dual-averaged step size, Welford
  mass matrix in Stan's windows, the same schedule as a sequential chain); the
  step sizes and flat (inverse) mass matrices are stacked over chains after every
  change.
* **Seeds.** Chain ``i`` takes the ``i``-th seed of
  :func:`~ppl.infer.mcmc.parallel.chain_seeds`: its starting point is drawn from the
  init strategy under that seed (the same start as sequential chain ``i``), and its
  momenta, directions and uniforms come from a ``torch.Generator`` of its own, drawn
  only while the chain is active. So chain ``i``'s draws do not depend on how many
  chains run beside it (up to floating-point rounding of batched arithmetic).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer.mcmc import MCMC, NUTS
    >>> def model():
    ...     ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> ppl.set_rng_seed(0)
    >>> mcmc = MCMC(NUTS(model), num_samples=20, warmup_steps=20, num_chains=3,
    ...             chain_method="vectorized", disable_progbar=True)
    >>> mcmc.run()
    >>> mcmc.get_samples(group_by_chain=True)["x"].shape
    torch.Size([3, 20])
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from ppl.infer.mcmc.adaptation import WarmupAdapter
from ppl.infer.mcmc.fast import CompiledPotential
from ppl.infer.mcmc.hmc import HMC
from ppl.infer.mcmc.nuts import NUTS
from ppl.infer.mcmc.parallel import chain_seeds
from ppl.infer.mcmc.resume import StateMismatchError, encode, restore_into
from ppl.infer.mcmc.util import initialize_model
from ppl.ops.integrator import _EXCEPTION_HANDLERS, potential_grad
from ppl.rng import set_rng_seed, set_rng_state

__all__ = ["BatchedPotential", "VectorizedChains"]

Params = dict[str, torch.Tensor]
Hook = Callable[[Any, Params, str, int], None]


class _Layout:
    """Site names (sorted), shapes and offsets of the flat latent vector."""

    def __init__(self, prototype: Mapping[str, torch.Tensor]) -> None:
        self.names = sorted(prototype)
        self.shapes = {name: prototype[name].shape for name in self.names}
        self.offsets: dict[str, tuple[int, int]] = {}
        start = 0
        for name in self.names:
            n = prototype[name].numel()
            self.offsets[name] = (start, start + n)
            start += n
        self.size = start

    def pack(self, z: Mapping[str, torch.Tensor], lead: tuple[int, ...] = ()) -> torch.Tensor:
        return torch.cat([z[name].reshape(lead + (-1,)) for name in self.names], dim=-1)

    def unpack(self, flat: torch.Tensor) -> Params:
        lead = tuple(flat.shape[:-1])
        return {
            name: flat[..., a:b].reshape(lead + tuple(self.shapes[name]))
            for name, (a, b) in self.offsets.items()
        }

    def indices(self, names: tuple[str, ...]) -> list[int]:
        return [i for name in names for i in range(*self.offsets[name])]


class BatchedPotential:
    """Potential energy and gradient of a ``(chains, size)`` batch of flat latents.

    Args:
        potential_fn: the kernel's potential (``dict -> scalar``); a
            :class:`~ppl.infer.mcmc.fast.CompiledPotential` is reused, anything else is
            wrapped in one.
        layout: the flat layout of the latent sites.
        example: a ``(chains, size)`` batch to build and check the batched graph at.

    Attributes:
        vectorized: True when one call evaluates all chains (the vmapped graph).

    Example:
        >>> pe = BatchedPotential(lambda z: 0.5 * (z["x"] ** 2).sum(),
        ...                       _Layout({"x": torch.zeros(2)}), torch.ones(3, 2))
        >>> grads, energies = pe(torch.tensor([[1.0, 2.0], [0.0, 1.0], [3.0, 0.0]]))
        >>> energies.tolist(), grads[0].tolist()
        ([2.5, 0.5, 4.5], [1.0, 2.0])
    """

    def __init__(
        self,
        potential_fn: Callable[[Params], torch.Tensor],
        layout: _Layout,
        example: torch.Tensor,
    ) -> None:
        self.layout = layout
        if isinstance(potential_fn, CompiledPotential):
            self.single = potential_fn
        else:
            self.single = CompiledPotential(potential_fn, skip_jit_warnings=True)
        # the first call traces and checks the single-point graph
        self.single.grad_and_value(layout.unpack(example[0]))
        self.fx = self.single.batched_graph(example)
        # the GraphModule runs the first calls; TorchScript's interpreter (faster per
        # call, slow to start) only once the potential is called often (HMC, eager
        # NUTS leaves): fused NUTS leaves call it a couple of times per run
        self._graph: Callable[..., Any] | None = self.fx
        self._calls = 0

    def _jit(self, example: torch.Tensor) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._graph = torch.jit.trace(self.fx, (example,), check_trace=False)
        except Exception:
            pass  # the GraphModule runs as it is

    @property
    def vectorized(self) -> bool:
        return self._graph is not None

    def one(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gradient (size,), energy ())`` of one chain's flat latents."""
        if self.single.accepts(self.layout.unpack(flat)):
            return self.single.flat_grad(flat)
        grads, energy = potential_grad(self.single, self.layout.unpack(flat))
        return self.layout.pack(grads), energy

    def __call__(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gradients (chains, size), energies (chains,))``; a NaN energy for a chain
        whose evaluation raised an error a registered exception handler accepts."""
        if self._graph is not None:
            self._calls += 1
            if self._calls == 3:
                self._jit(flat)
            try:
                energy, grad = self._graph(flat)
                return grad, energy
            except Exception as e:
                if not any(handler(e) for handler in _EXCEPTION_HANDLERS.values()):
                    raise
        results = [self.one(row) for row in flat]
        return torch.stack([g for g, _ in results]), torch.stack([e for _, e in results])


def _graph_key(model: Any, args: tuple, kwargs: Mapping[str, Any], flat: torch.Tensor) -> Any:
    """What a run's traced graphs depend on: the model, its arguments (tensors by
    memory and version, so an in-place change is seen; ``MCMC.run`` passes detached
    views, new objects each run, of the same memory; plain values by value) and the
    batch's shape, dtype and device. None when an argument is of another kind (no reuse).
    """
    if model is None:
        return None
    parts: list[Any] = [id(model), tuple(flat.shape), flat.dtype, flat.device]
    for name, value in [*enumerate(args), *sorted(kwargs.items())]:
        if isinstance(value, torch.Tensor):
            parts.append(
                (name, value.data_ptr(), value._version, tuple(value.shape), value.stride(),
                 value.dtype, value.device)
            )  # fmt: skip
        elif value is None or type(value) in (bool, int, float, str):
            parts.append((name, value))
        else:
            return None
    return tuple(parts)


def _agrees(
    potential: BatchedPotential,
    fresh: Callable[[Params], torch.Tensor],
    layout: _Layout,
    flat: torch.Tensor,
    rtol: float = 1e-5,
) -> bool:
    """Does a cached potential graph still give the fresh eager potential's energy and
    gradient at ``flat`` and at a seeded point away from it? (A model may read state
    that changed since the graph was traced.)"""
    eager = fresh.potential_fn if isinstance(fresh, CompiledPotential) else fresh
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(flat.shape, generator=gen, dtype=flat.dtype).to(flat.device)
    for point in (flat, flat + 0.1 * noise):
        grad, energy = potential.one(point)
        grads_eager, energy_eager = potential_grad(eager, layout.unpack(point))
        if not bool(torch.isfinite(energy_eager)):
            continue
        if not (
            torch.allclose(energy, energy_eager, rtol=rtol, atol=rtol)
            and torch.allclose(grad, layout.pack(grads_eager), rtol=rtol, atol=rtol)
        ):
            return False
    return True


class _GraphCall:
    """The batched potential graph in :class:`BatchedPotential`'s calling convention."""

    def __init__(self, graph: Callable[..., Any]) -> None:
        self.graph = graph

    def __call__(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        energy, grad = self.graph(flat)
        return grad, energy


class _SubtreeState:
    """What a subtree carries from leaf to leaf: its current end (position, momentum,
    whitened momentum, gradient), its proposal and log-weight, its momentum sum, and the
    per-level sub-block starts."""

    def __init__(
        self,
        cur: list[torch.Tensor],
        z: torch.Tensor,
        g: torch.Tensor,
        pe: torch.Tensor,
        weight: torch.Tensor,
        r_sum: torch.Tensor,
        level_r: torch.Tensor,
        level_sum: torch.Tensor,
    ) -> None:
        self.cur = cur
        self.z, self.g, self.pe, self.weight, self.r_sum = z, g, pe, weight, r_sum
        self.level_r, self.level_sum = level_r, level_sum

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (*self.cur, self.z, self.g, self.pe, self.weight, self.r_sum, self.level_r,
                self.level_sum)  # fmt: skip

    @classmethod
    def from_tensors(cls, xs: tuple[torch.Tensor, ...]) -> _SubtreeState:
        return cls(list(xs[:4]), *xs[4:11])


def _bmv(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Batched matrix (``(C, n, n)``) or diagonal (``(C, n)``) times ``(C, n)`` vectors."""
    return m * v if m.dim() == 2 else torch.matmul(m, v.unsqueeze(-1)).squeeze(-1)


def _upper_roots(inverse_mass: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R, S)`` with ``R R^T = M``, ``S^T S = M^{-1}`` for a diagonal or dense ``M^{-1}``."""
    if inverse_mass.dim() == 1:
        return inverse_mass.rsqrt(), inverse_mass.sqrt()
    lower = torch.linalg.cholesky(inverse_mass)
    sqrt_inverse = lower.mT
    eye = torch.eye(lower.size(-1), dtype=lower.dtype, device=lower.device)
    return torch.linalg.solve_triangular(sqrt_inverse, eye, upper=True), sqrt_inverse


def _turning(left: torch.Tensor, right: torch.Tensor, r_sum: torch.Tensor) -> torch.Tensor:
    """The generalized U-turn criterion per chain on whitened momenta."""
    rho = r_sum - (left + right) / 2
    return ((left * rho).sum(-1) <= 0) | ((right * rho).sum(-1) <= 0)


class VectorizedChains:
    """Runs ``num_chains`` chains of an :class:`~ppl.infer.mcmc.HMC` or
    :class:`~ppl.infer.mcmc.NUTS` kernel together, in this process.

    Reads the kernel's settings (step size, trajectory length, adaptation, mass matrix
    layout, tree depth, sampling scheme) and its potential energy; the kernel's own
    per-chain state is not used. :meth:`run` yields what ``MCMC``'s samplers yield:
    ``(item, chain)`` with each chain's site shapes first, then its flat draws, then its
    diagnostics.

    Args:
        kernel: an ``HMC`` or ``NUTS`` instance (not a subclass that overrides
            ``sample``).
        num_samples, warmup_steps, num_chains: as for ``MCMC``.
        disable_progbar: hide the progress bar.
        initial_params: unconstrained starts with a leading chain dim, or None to draw
            them from the kernel's init strategy (one seed per chain).
        hook: ``hook(kernel, params, stage, i)`` after every step, once per chain.

    Raises:
        ValueError: for a kernel that is not HMC/NUTS.
    """

    def __init__(
        self,
        kernel: HMC,
        num_samples: int,
        warmup_steps: int,
        num_chains: int,
        disable_progbar: bool,
        initial_params: Params | None = None,
        hook: Hook | None = None,
    ) -> None:
        if not isinstance(kernel, HMC) or type(kernel).sample not in (HMC.sample, NUTS.sample):
            raise ValueError(
                "chain_method='vectorized' runs HMC and NUTS kernels only, got "
                f"{type(kernel).__name__}; use chain_method='sequential' or 'parallel'"
            )
        self.kernel = kernel
        self.num_samples = num_samples
        self.warmup_steps = warmup_steps
        self.num_chains = num_chains
        self.disable_progbar = disable_progbar
        self.initial_params = initial_params
        self.hook = hook
        self.is_nuts = isinstance(kernel, NUTS)
        self._leaf_graph: Any = None  # the traced NUTS leaf; False: tracing failed
        self.z = torch.zeros(0)  # (chains, size) once run starts
        self.run_state: Any = None  # set by MCMC.run: reports steps, may hold a resume point
        # (key, arguments, BatchedPotential, leaf graph) of the last run, reused by the
        # next run on the same model and unchanged arguments (see _graph_key)
        self._graphs: tuple[Any, Any, BatchedPotential, Any] | None = None

    def terminate(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to shut down: no worker processes."""

    # ------------------------------------------------------------------ setup
    def _starts(self, seeds: list[int], args: tuple, kwargs: Mapping[str, Any]) -> Params:
        """Per-chain starting points (leading chain dim) and the kernel's potential."""
        kernel = self.kernel
        kernel._reset()
        if self.initial_params is not None:
            starts = {k: v.detach() for k, v in self.initial_params.items()}
            if kernel.model is not None:
                kernel._initial_params = {k: v[0] for k, v in starts.items()}
                kernel._initialize_model_properties(args, kwargs)
            return starts
        if kernel.model is None:
            raise ValueError(
                "Must provide valid initial parameters to begin sampling when using "
                "`potential_fn` in HMC/NUTS kernel (pass initial_params=...)."
            )
        per_chain: list[Params] = []
        with torch.random.fork_rng(devices=[]):
            for chain, seed in enumerate(seeds[: self.num_chains]):
                set_rng_seed(seed)
                if chain == 0:
                    kernel._initialize_model_properties(args, kwargs)
                    per_chain.append(kernel.initial_params)
                else:
                    init, _, _, _ = initialize_model(
                        kernel.model,
                        args,
                        kwargs,
                        transforms=kernel.transforms,
                        max_plate_nesting=kernel._max_plate_nesting,
                        init_strategy=kernel._init_strategy,
                    )
                    per_chain.append(init)
        return {k: torch.stack([p[k].detach() for p in per_chain]) for k in per_chain[0]}

    def _set_mass(self, chain: int) -> None:
        """Copy chain ``chain``'s adapted (inverse) mass matrix into the stacked arrays."""
        blocks = self.adapters[chain].mass_matrix_adapter.inverse_mass_matrix
        n = self.layout.size
        if self.dense:
            inv = torch.zeros(n, n, **self.options)
            for block, m in blocks.items():
                idx = torch.tensor(self.layout.indices(block), device=inv.device)
                if m.dim() == 1:
                    inv[idx, idx] = m
                else:
                    inv[idx.unsqueeze(-1), idx] = m
        else:
            inv = torch.zeros(n, **self.options)
            for block, m in blocks.items():
                inv[torch.tensor(self.layout.indices(block), device=inv.device)] = m
        sqrt, sqrt_inverse = _upper_roots(inv)
        self.inv_mass[chain] = inv
        self.sqrt[chain] = sqrt
        self.sqrt_inverse[chain] = sqrt_inverse

    def _setup(self, seeds: list[int], args: tuple, kwargs: Mapping[str, Any]) -> torch.Tensor:
        kernel = self.kernel
        starts = self._starts(seeds, args, kwargs)
        for name, v in starts.items():
            if v.dim() == 0 or v.shape[0] != self.num_chains:
                raise ValueError(
                    f"initial_params site {name!r} has shape {tuple(v.shape)}: expected a "
                    f"leading chain dim of size num_chains={self.num_chains}"
                )
        if not starts:
            raise ValueError(
                "chain_method='vectorized' needs a model with at least one continuous latent "
                "site; this one has none"
            )
        single = {k: v[0] for k, v in starts.items()}
        self.layout = _Layout(single)
        flat = self.layout.pack(starts, (self.num_chains,))
        self.options: dict[str, Any] = {"dtype": flat.dtype, "device": flat.device}
        self.gens = [
            torch.Generator(device=flat.device).manual_seed(seed)
            for seed in seeds[: self.num_chains]
        ]
        kernel._initial_params = single
        key = _graph_key(kernel.model, args, kwargs, flat)
        cached = self._graphs if self._graphs is not None and self._graphs[0] == key else None
        if cached is not None and _agrees(cached[2], kernel.potential_fn, self.layout, flat[0]):  # type: ignore[arg-type]
            self.potential, leaf_graph = cached[2], cached[3]
        else:
            self.potential = BatchedPotential(kernel.potential_fn, self.layout, flat)  # type: ignore[arg-type]
            leaf_graph = None
        # kept with the arguments, so their memory is not reused while cached
        self._graphs = (key, (args, dict(kwargs)), self.potential, None) if key else None
        shape = kernel._mass_matrix_shape()
        self.dense = any(len(s) == 2 for s in shape.values()) or (
            type(kernel.mass_matrix_adapter).__name__ != "BlockMassMatrix"
        )
        n, c = self.layout.size, self.num_chains
        mat = (c, n, n) if self.dense else (c, n)
        self.inv_mass = torch.zeros(mat, **self.options)
        self.sqrt = torch.zeros(mat, **self.options)
        self.sqrt_inverse = torch.zeros(mat, **self.options)
        self.adapters: list[WarmupAdapter] = []
        self.windows: list[int] = []
        for chain in range(c):
            adapter = copy.deepcopy(kernel._adapter)
            adapter.configure(
                self.warmup_steps,
                mass_matrix_shape=shape,
                find_reasonable_step_size_fn=self._step_size_finder(chain),
                options=self.options,
            )
            self.adapters.append(adapter)
            self.windows.append(adapter._current_window)
            self._set_mass(chain)
        self.grads, self.energy = self.potential(flat)
        for chain, adapter in enumerate(self.adapters):
            if adapter.adapt_step_size:
                adapter.reset_step_size_adaptation(self.layout.unpack(flat[chain]))
        self._leaf_graph = leaf_graph  # None: traced at the first leaf
        self._first = {
            b: torch.tensor(b, device=flat.device) for b in (True, False)
        }  # the first-leaf flags
        self.t = 0
        self.divergences: list[list[int]] = [[] for _ in range(c)]
        self.accept_cnt = torch.zeros(c, **self.options)
        self.mean_accept = torch.zeros(c, **self.options)
        self.tree_depths = torch.zeros(c, **self.options)  # of the last NUTS step
        self.depth_sum = torch.zeros(c, **self.options)  # over the sampling phase
        return flat

    def _step_size_finder(self, chain: int) -> Callable[[Params], float]:
        """Chain ``chain``'s version of ``HMC._find_reasonable_step_size``: double or
        halve its step size until one leapfrog step crosses acceptance 0.8."""
        kernel = self.kernel

        def find(z: Params) -> float:
            adapter = self.adapters[chain]
            step_size = adapter.step_size
            flat = self.layout.pack(z)
            grad, energy = self.potential.one(flat)
            if not bool(torch.isfinite(energy)):
                return step_size
            sqrt, sqrt_inv = self.sqrt[chain], self.sqrt_inverse[chain]
            inv_mass = self.inv_mass[chain]

            def matvec(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
                return m * v if m.dim() == 1 else m @ v

            def direction_at(eps: float) -> int:
                r_u = torch.randn(self.layout.size, generator=self.gens[chain], **self.options)
                r = matvec(sqrt, r_u)
                r = r - 0.5 * eps * grad
                z_new = flat + eps * matvec(inv_mass, r)
                g_new, e_new = self.potential.one(z_new)
                r = r - 0.5 * eps * g_new
                r_new = matvec(sqrt_inv, r)
                delta = e_new + 0.5 * r_new.dot(r_new) - energy - 0.5 * r_u.dot(r_u)
                return 1 if kernel._direction_threshold < -float(delta) else -1

            direction = direction_at(step_size)
            factor = 2.0**direction
            new_direction = direction
            lo, hi = kernel._min_stepsize, kernel._max_stepsize
            while new_direction == direction and lo < step_size < hi:
                step_size = factor * step_size
                new_direction = direction_at(step_size)
            return min(max(step_size, lo), hi)

        return find

    # ------------------------------------------------------------------ randomness
    def _draw(
        self,
        active: torch.Tensor,
        fn: Callable[[torch.Generator], torch.Tensor],
        fill: torch.Tensor,
    ) -> torch.Tensor:
        """Stack ``fn(generator)`` over chains, drawing only for the active ones."""
        flags = active.tolist()
        return torch.stack([fn(g) if a else fill for g, a in zip(self.gens, flags)])

    def _momentum(self, active: torch.Tensor) -> torch.Tensor:
        n = self.layout.size
        return self._draw(
            active,
            lambda g: torch.randn(n, generator=g, **self.options),
            torch.zeros(n, **self.options),
        )

    def _uniform(self, active: torch.Tensor, size: int = 1) -> torch.Tensor:
        return self._draw(
            active,
            lambda g: torch.rand(size, generator=g, **self.options),
            torch.ones(size, **self.options),
        )

    # ------------------------------------------------------------------ transitions
    def _leapfrog(
        self,
        z: torch.Tensor,
        r: torch.Tensor,
        g: torch.Tensor,
        eps: torch.Tensor,
        inv_mass: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        half = (0.5 * eps).unsqueeze(-1)
        r = r - half * g
        z = z + eps.unsqueeze(-1) * _bmv(self.inv_mass if inv_mass is None else inv_mass, r)
        g, energy = self.potential(z)
        r = r - half * g
        return z, r, g, energy

    def _hmc_step(
        self, z: torch.Tensor, step_sizes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One HMC transition of all chains; returns new positions and acceptance probs."""
        everyone = torch.ones(self.num_chains, dtype=torch.bool, device=z.device)
        r_u = self._momentum(everyone)
        energy_current = self.energy + 0.5 * (r_u * r_u).sum(-1)
        traj = self.kernel.trajectory_length
        counts = [max(1, int(traj / float(s))) for s in step_sizes]
        steps = torch.tensor(counts, device=z.device)
        z_new, r, g_new, pe_new = z, _bmv(self.sqrt, r_u), self.grads, self.energy
        for i in range(max(counts)):
            z1, r1, g1, pe1 = self._leapfrog(z_new, r, g_new, step_sizes)
            if i < min(counts):
                z_new, r, g_new, pe_new = z1, r1, g1, pe1
            else:
                moving = steps > i
                z_new = torch.where(moving.unsqueeze(-1), z1, z_new)
                r = torch.where(moving.unsqueeze(-1), r1, r)
                g_new = torch.where(moving.unsqueeze(-1), g1, g_new)
                pe_new = torch.where(moving, pe1, pe_new)
        r_new_u = _bmv(self.sqrt_inverse, r)
        delta = pe_new + 0.5 * (r_new_u * r_new_u).sum(-1) - energy_current
        delta = torch.where(torch.isnan(delta), torch.full_like(delta, math.inf), delta)
        self._record_divergences(delta > self.kernel._max_sliced_energy)
        accept_prob = (-delta).exp().clamp(max=1.0)
        accepted = self._uniform(everyone)[:, 0] < accept_prob
        self._move(accepted, z_new, g_new, pe_new)
        return accepted, accept_prob

    def _record_divergences(self, diverging: torch.Tensor) -> None:
        if self.t >= self.warmup_steps:
            for chain in torch.nonzero(diverging).flatten().tolist():
                self.divergences[chain].append(self.t - self.warmup_steps)

    def _move(
        self, accepted: torch.Tensor, z: torch.Tensor, g: torch.Tensor, pe: torch.Tensor
    ) -> None:
        a = accepted.unsqueeze(-1)
        self.z = torch.where(a, z, self.z)
        self.grads = torch.where(a, g, self.grads)
        self.energy = torch.where(accepted, pe, self.energy)

    def _leaf_eager(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One leaf of a subtree for every chain (masked by ``alive``): a leapfrog step,
        the leaf's energy, weight and acceptance statistic, its progressive draw into the
        subtree's proposal, and the U-turn checks of the sub-blocks it completes.

        Tensors only, no control flow on values: :meth:`_leaf` traces it into one graph
        when the potential is a graph."""
        (z0, r0, ru0, g0, sub_z, sub_g, sub_pe, sub_w, sub_sum, level_r, level_sum,
         sum_accept, num_leaves, alive, eps, log_slice, energy_current, u, first, starts,
         ends, inv_mass, sqrt_inverse) = args  # fmt: skip
        z, r, g, pe = self._leapfrog(z0, r0, g0, eps, inv_mass)
        r_u = _bmv(sqrt_inverse, r)
        energy = pe + 0.5 * (r_u * r_u).sum(-1)
        energy = torch.where(torch.isnan(energy), torch.full_like(energy, math.inf), energy)
        sliced = energy + log_slice
        accept = (energy_current - energy).exp().clamp(max=1.0)
        if self.kernel.use_multinomial_sampling:  # type: ignore[attr-defined]
            weight = -sliced
        else:
            weight = torch.where(
                sliced <= 0, torch.zeros_like(sliced), torch.full_like(sliced, -math.inf)
            )
        new_w = torch.where(first, weight, torch.logaddexp(sub_w, weight))
        take = alive & (first | (u < (weight - new_w).exp()))
        t = take.unsqueeze(-1)
        a = alive.unsqueeze(-1)
        sub_z = torch.where(t, z, sub_z)
        sub_g = torch.where(t, g, sub_g)
        sub_pe = torch.where(take, pe, sub_pe)
        sub_w = torch.where(alive, new_w, sub_w)
        sum_accept = sum_accept + torch.where(alive, accept, torch.zeros_like(accept))
        num_leaves = num_leaves + alive.to(num_leaves.dtype)
        z0, r0, ru0, g0 = (
            torch.where(a, new, old) for new, old in zip((z, r, r_u, g), (z0, r0, ru0, g0))
        )
        before = sub_sum
        sub_sum = sub_sum + torch.where(a, r_u, torch.zeros_like(r_u))
        s3 = starts.view(1, -1, 1)
        level_r = torch.where(s3, r_u.unsqueeze(1), level_r)
        level_sum = torch.where(s3, before.unsqueeze(1), level_sum)
        rho = (sub_sum.unsqueeze(1) - level_sum) - (level_r + r_u.unsqueeze(1)) / 2
        turned = ((level_r * rho).sum(-1) <= 0) | ((r_u.unsqueeze(1) * rho).sum(-1) <= 0)
        turning = (turned & ends.unsqueeze(0)).any(-1)
        diverging = sliced > self.kernel._max_sliced_energy
        return (
            z0, r0, ru0, g0, sub_z, sub_g, sub_pe, sub_w, sub_sum, level_r, level_sum,
            sum_accept, num_leaves, diverging, turning,
        )  # fmt: skip

    def _leaf(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`_leaf_eager`, as one traced graph when the potential is a graph (traced
        at the first call; eager for good if tracing fails)."""
        if self._leaf_graph is None and self.potential.fx is not None:
            self._leaf_graph = self._trace_leaf(args)
        if self._leaf_graph:
            return self._leaf_graph(*args)  # type: ignore[operator, no-any-return]
        return self._leaf_eager(*args)

    def _trace_leaf(self, args: tuple[torch.Tensor, ...]) -> Any:
        from torch.fx.experimental.proxy_tensor import make_fx

        fx = self.potential.fx
        assert fx is not None

        def fused(*xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
            potential, self.potential = self.potential, _GraphCall(fx)  # type: ignore[assignment]
            try:
                return self._leaf_eager(*xs)
            finally:
                self.potential = potential

        example = tuple(x.clone() for x in args)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = make_fx(fused, tracing_mode="real")(*example)
                try:
                    graph = torch.jit.trace(graph, example, check_trace=False)
                except Exception:
                    pass
                got, want = graph(*example), self._leaf_eager(*example)
            if all(
                torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-5, equal_nan=True)
                for a, b in zip(got, want)
            ):
                return graph
        except Exception:
            pass
        return False

    def _nuts_step(self, step_sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One NUTS transition of all chains (iterative, masked); returns which chains
        moved and their acceptance statistics."""
        kernel = self.kernel
        multinomial = kernel.use_multinomial_sampling  # type: ignore[attr-defined]
        c = self.num_chains
        device = self.z.device
        everyone = torch.ones(c, dtype=torch.bool, device=device)
        r_u0 = self._momentum(everyone)
        energy_current = self.energy + 0.5 * (r_u0 * r_u0).sum(-1)
        if multinomial:
            log_slice = -energy_current
        else:
            exp1 = self._draw(
                everyone,
                lambda g: torch.empty(1, **self.options).exponential_(generator=g),
                torch.zeros(1, **self.options),
            )[:, 0]
            log_slice = -energy_current - exp1
        r0 = _bmv(self.sqrt, r_u0)
        # trajectory ends: position, momentum, whitened momentum, gradient
        left = [self.z, r0, r_u0, self.grads]
        right = list(left)
        prop_z, prop_g, prop_pe = self.z, self.grads, self.energy
        r_sum = r_u0
        tree_weight = torch.zeros(c, **self.options)
        sum_accept = torch.zeros(c, **self.options)
        num_leaves = torch.zeros(c, **self.options)
        done = torch.zeros(c, dtype=torch.bool, device=device)
        moved = torch.zeros(c, dtype=torch.bool, device=device)
        depths = torch.zeros(c, **self.options)
        neg_inf = torch.full((c,), -math.inf, **self.options)
        max_depth = kernel._max_tree_depth  # type: ignore[attr-defined]
        levels = range(1, max_depth + 1)
        # per sub-block level: whitened momentum of its first leaf, momentum sum before it
        level_r = torch.zeros(c, max_depth, self.layout.size, **self.options)
        level_sum = torch.zeros_like(level_r)
        for depth in range(max_depth):
            if bool(done.all()):
                break
            building = ~done
            depths = torch.where(building, torch.full_like(depths, depth + 1), depths)
            size = 2**depth
            u = self._uniform(building, size + 2)
            forward = u[:, 0] < 0.5
            eps = torch.where(forward, step_sizes, -step_sizes)
            f = forward.unsqueeze(-1)
            cur = [torch.where(f, a, b) for a, b in zip(right, left)]
            sub_z, sub_g, sub_pe = cur[0], cur[3], self.energy
            sub_weight = neg_inf
            sub_sum = torch.zeros_like(r_sum)
            alive = building.clone()
            stopped = torch.zeros(c, dtype=torch.bool, device=device)
            state = _SubtreeState(
                cur, sub_z, sub_g, sub_pe, sub_weight, sub_sum, level_r, level_sum
            )
            leaves = range(size)
            # which sub-block levels start / end at each leaf (the same for every chain)
            starts = torch.tensor([[n % 2**j == 0 for j in levels] for n in leaves], device=device)
            ends = torch.tensor(
                [[(n + 1) % 2**j == 0 and j <= depth for j in levels] for n in leaves],
                device=device,
            )
            for n in leaves:
                if n > 0 and not bool(alive.any()):
                    break
                out = self._leaf(
                    *state.tensors(), sum_accept, num_leaves, alive, eps, log_slice,
                    energy_current, u[:, 2 + n], self._first[n == 0], starts[n], ends[n],
                    self.inv_mass, self.sqrt_inverse,
                )  # fmt: skip
                state = _SubtreeState.from_tensors(out[:11])
                sum_accept, num_leaves, diverging, turning = out[11:]
                self._record_divergences(alive & diverging)
                stop = alive & (diverging | turning)
                stopped = stopped | stop
                alive = alive & ~stop
            cur = state.cur
            sub_z, sub_g, sub_pe, sub_weight, sub_sum = (
                state.z,
                state.g,
                state.pe,
                state.weight,
                state.r_sum,
            )
            level_r, level_sum = state.level_r, state.level_sum
            # join the subtree to the trajectory (ends first: a stopped chain is done)
            right = [torch.where(f & building.unsqueeze(-1), a, b) for a, b in zip(cur, right)]
            left = [torch.where(~f & building.unsqueeze(-1), a, b) for a, b in zip(cur, left)]
            joined = building & ~stopped
            take = joined & (u[:, 1] < (sub_weight - tree_weight).exp())
            t = take.unsqueeze(-1)
            prop_z = torch.where(t, sub_z, prop_z)
            prop_g = torch.where(t, sub_g, prop_g)
            prop_pe = torch.where(take, sub_pe, prop_pe)
            moved = moved | take
            r_sum = torch.where(joined.unsqueeze(-1), r_sum + sub_sum, r_sum)
            turned = joined & _turning(left[2], right[2], r_sum)
            tree_weight = torch.where(joined, torch.logaddexp(tree_weight, sub_weight), tree_weight)
            done = done | stopped | turned
        self._move(moved, prop_z, prop_g, prop_pe)
        self.tree_depths = depths
        return moved, sum_accept / num_leaves

    # ------------------------------------------------------------------ the run
    def _adapt(self, accept_prob: torch.Tensor) -> None:
        probs = accept_prob.tolist()
        for chain, adapter in enumerate(self.adapters):
            adapter.step(
                self.t,
                self.layout.unpack(self.z[chain]),
                probs[chain],
                self.layout.unpack(self.grads[chain]),
            )
            if adapter._current_window != self.windows[chain]:
                self.windows[chain] = adapter._current_window
                self._set_mass(chain)

    def _step(self) -> None:
        step_sizes = torch.tensor([a.step_size for a in self.adapters], **self.options)
        if self.is_nuts:
            accepted, accept_prob = self._nuts_step(step_sizes)
        else:
            accepted, accept_prob = self._hmc_step(self.z, step_sizes)
        self.t += 1
        if self.t > self.warmup_steps:
            n = self.t - self.warmup_steps
            self.accept_cnt += accepted.to(self.accept_cnt.dtype)
            self.depth_sum += self.tree_depths
        else:
            n = self.t
            self._adapt(accept_prob)
        self.mean_accept += (accept_prob - self.mean_accept) / n

    def diagnostics(self, chain: int) -> dict[str, Any]:
        """Chain ``chain``'s divergences (sampling-phase step indices), acceptance
        rate, final step size and (NUTS) mean tree depth over the sampling phase."""
        n = self.num_samples
        result: dict[str, Any] = {
            "divergences": self.divergences[chain],
            "acceptance rate": float(self.accept_cnt[chain]) / n if n > 0 else float("nan"),
            "step size": self.adapters[chain].step_size,
        }
        if self.is_nuts:
            result["tree depth"] = float(self.depth_sum[chain]) / n if n > 0 else float("nan")
        return result

    # ------------------------------------------------------------------ resumable state
    _STATE_TENSORS = (
        "z", "grads", "energy", "inv_mass", "sqrt", "sqrt_inverse", "accept_cnt",
        "mean_accept", "tree_depths", "depth_sum",
    )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """All chains' state between two joint steps, as plain data: step counter,
        positions with their gradients and energies, the stacked mass matrices, every
        chain's adapter and ``torch.Generator`` state, divergences and statistics."""
        state: dict[str, Any] = {name: getattr(self, name).clone() for name in self._STATE_TENSORS}
        state.update(
            t=self.t,
            windows=list(self.windows),
            divergences=[list(d) for d in self.divergences],
            generators=[g.get_state() for g in self.gens],
            adapters=[encode(a, f"adapters[{i}]") for i, a in enumerate(self.adapters)],
        )
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` after ``_setup`` built the same layout."""
        for name in self._STATE_TENSORS:
            old = getattr(self, name)
            new = state[name]
            if tuple(new.shape) != tuple(old.shape):
                raise StateMismatchError(
                    f"cannot resume: the saved vectorized state's {name!r} has shape "
                    f"{tuple(new.shape)}, this run has {tuple(old.shape)}"
                )
            setattr(self, name, new.to(device=old.device, dtype=old.dtype))
        self.t = state["t"]
        self.windows = list(state["windows"])
        self.divergences = [list(d) for d in state["divergences"]]
        for g, saved in zip(self.gens, state["generators"]):
            g.set_state(saved)
        for i, (adapter, saved) in enumerate(zip(self.adapters, state["adapters"])):
            restore_into(adapter, saved, f"adapters[{i}]")

    def run(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, int]]:
        run_state = self.run_state
        saved = run_state.resume if run_state is not None else None
        seeds = saved["seeds"] if saved is not None else chain_seeds(self.num_chains)
        if run_state is not None:
            run_state.seeds = seeds
            run_state.vectorized = self
        kernel = self.kernel
        self.z = self._setup(seeds, args, kwargs)
        names = self.layout.names
        save = list(getattr(kernel, "save_params", None) or names)
        unknown = [name for name in save if name not in self.layout.shapes]
        if unknown:
            raise ValueError(
                f"save_params names unknown sites {unknown}; the latent sites are {names}"
            )
        structure = {name: self.layout.shapes[name] for name in save}
        index = torch.tensor(
            self.layout.indices(tuple(save)), dtype=torch.long, device=self.z.device
        )
        whole = save == names
        if run_state is not None:
            run_state.check_sites(structure)
            if saved is not None:
                self.load_state_dict(saved["vectorized"])
                set_rng_state(saved["rng"])
            run_state.after_step(0, self.t, None, kernel)
        for chain in range(self.num_chains):
            yield structure, chain
        total = self.warmup_steps + self.num_samples
        bars = _ChainBars(self.num_chains, self.warmup_steps, total, self.disable_progbar, self.t)
        try:
            for t in range(self.t, total):
                stage = "Warmup" if t < self.warmup_steps else "Sample"
                i = t if stage == "Warmup" else t - self.warmup_steps
                self._step()
                bars.update(stage, self.chain_status())
                if stage == "Sample":
                    draws = self.z if whole else self.z.index_select(-1, index)
                    for chain in range(self.num_chains):
                        yield draws[chain].clone(), chain
                if run_state is not None:
                    run_state.after_step(0, self.t, None, kernel)
                if self.hook is not None:
                    for chain in range(self.num_chains):
                        params = self.layout.unpack(self.z[chain])
                        self.hook(kernel, params, f"{stage} [{chain}]", i)
        finally:
            bars.close()
        if run_state is not None:
            run_state.final = run_state.capture()
        for chain in range(self.num_chains):
            yield self.diagnostics(chain), chain
        kernel.cleanup()
        if self._graphs is not None:
            self._graphs = (*self._graphs[:3], self._leaf_graph)
        set_rng_seed(seeds[-1])

    def chain_status(self) -> list[dict[str, str]]:
        """Per chain, what its progress bar shows: step size, mean acceptance
        probability and the number of divergent transitions so far."""
        probs = self.mean_accept.tolist()
        return [
            {
                "step size": f"{adapter.step_size:.2e}",
                "acc. prob": f"{probs[chain]:.3f}",
                "div": str(len(self.divergences[chain])),
            }
            for chain, adapter in enumerate(self.adapters)
        ]

    def logging(self) -> dict[str, str]:
        """One postfix for all chains: step sizes, mean acceptance probabilities, the
        total number of divergences."""
        status = self.chain_status()
        return {
            "step size": ", ".join(s["step size"] for s in status),
            "acc. prob": ", ".join(s["acc. prob"] for s in status),
            "div": str(sum(len(d) for d in self.divergences)),
        }


class _ChainBars:
    """One tqdm bar per vectorized chain (``position`` = chain), phase in the
    description (``Warmup [i]`` / ``Sample [i]``), per-chain status as the postfix.

    Each bar redraws at most every 0.1 s (tqdm's ``mininterval``), so many chains do
    not slow a fast model down."""

    def __init__(
        self, num_chains: int, warmup_steps: int, total: int, disable: bool, start: int
    ) -> None:
        from tqdm.auto import tqdm

        self.disable = disable
        self.stage = "Warmup" if start < warmup_steps else "Sample"
        self.bars = [
            tqdm(total=total, initial=start, disable=disable, position=chain,
                 dynamic_ncols=True, leave=True, desc=f"{self.stage} [{chain}]")
            for chain in range(num_chains)
        ]  # fmt: skip

    def update(self, stage: str, status: list[dict[str, str]]) -> None:
        if self.disable:
            return
        new_stage = stage != self.stage
        self.stage = stage
        for chain, (bar, postfix) in enumerate(zip(self.bars, status)):
            if new_stage:
                bar.set_description(f"{stage} [{chain}]", refresh=False)
            bar.set_postfix(postfix, refresh=False)
            bar.update()

    def close(self) -> None:
        for bar in self.bars:
            bar.close()
