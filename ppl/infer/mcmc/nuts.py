"""The No-U-Turn Sampler (Pyro's ``NUTS``): HMC that picks its own trajectory length.

Design notes
------------
Each step builds a binary tree of leapfrog states by doubling: pick a direction at
random, grow a subtree of the current size at that end, and stop at ``max_tree_depth``,
a divergence (energy error above 1000), or a U-turn. The U-turn test is the generalized
criterion of Betancourt (2017): with ``rho`` the sum of momenta over a (sub)trajectory,
it has turned when the velocity at either end points against ``rho`` minus half the end
momenta (computed in whitened momenta, so the mass matrix is respected).

The next state is drawn from the trajectory with weights ``exp(-energy)`` (multinomial
sampling; ``use_multinomial_sampling=False`` gives the original slice sampling with 0/1
weights). Inside a subtree the choice between halves is proportional to their weights;
when a new subtree joins the trajectory it replaces the current draw with probability
``min(1, weight(new) / weight(old))`` (biased progressive sampling), as Stan and Pyro do.
The acceptance statistic for step-size adaptation is the mean over the new leaves of
``min(1, exp(-delta_energy))``.

The ``_flat_*`` methods are the same tree on flat vectors of all sites, used with
``jit_compile=True`` when one mass-matrix block covers every site (see :class:`HMC`).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer import MCMC
    >>> ppl.set_rng_seed(0)
    >>> mcmc = MCMC(NUTS(potential_fn=lambda z: 0.5 * (z["x"] ** 2).sum()), num_samples=10,
    ...             warmup_steps=10, initial_params={"x": torch.zeros(2)}, disable_progbar=True)
    >>> mcmc.run()
    >>> mcmc.get_samples()["x"].shape
    torch.Size([10, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.distributions import Transform

from ppl.infer.autoguide.initialization import init_to_uniform
from ppl.infer.mcmc.adaptation import _matvec
from ppl.infer.mcmc.hmc import HMC, _FlatOps
from ppl.ops.context import optional
from ppl.ops.integrator import velocity_verlet
from ppl.settings import validation_enabled

__all__ = ["NUTS"]

Params = dict[str, torch.Tensor]
Block = tuple[str, ...]
Flat = dict[Block, torch.Tensor]


@dataclass
class _Edge:
    """One end of a trajectory: position, momentum (scaled and whitened), gradient; per
    site dicts, or on the fast path one flat vector of all sites each."""

    z: Any
    r: Any
    r_unscaled: Any
    z_grads: Any


@dataclass
class _Tree:
    left: _Edge
    right: _Edge
    z_proposal: Any
    z_proposal_pe: torch.Tensor
    z_proposal_grads: Any
    r_sum: Any
    weight: torch.Tensor  # log-weight (multinomial) or number of slice points
    turning: bool
    diverging: bool
    sum_accept_probs: torch.Tensor
    num_proposals: int


@dataclass(frozen=True)
class _Space:
    """How a trajectory moves in one representation of the state (per-site dicts or a
    flat vector): the tree-building code is the same for both."""

    leapfrog: Callable[[_Edge, float], tuple[Any, Any, Any, torch.Tensor]]
    unscale: Callable[[Any], Any]  # momentum -> whitened momentum
    kinetic: Callable[[Any], torch.Tensor]  # of the whitened momentum
    add: Callable[[Any, Any], Any]  # momentum sums
    turning: Callable[[Any, Any, Any], bool]
    proposal: Callable[[_Tree], tuple[Params, Params]]  # (z, grads) as per-site dicts


class NUTS(HMC):
    """No-U-Turn Sampler (Hoffman & Gelman 2014; Betancourt 2017) on top of :class:`HMC`.

    Args:
        model, potential_fn, step_size, adapt_step_size, adapt_mass_matrix, full_mass,
        transforms, max_plate_nesting, jit_compile, jit_options, ignore_jit_warnings,
        target_accept_prob, init_strategy: as for :class:`HMC`.
        use_multinomial_sampling: draw states with weights ``exp(-energy)`` (default) instead
            of slice sampling.
        max_tree_depth: at most ``2 ** max_tree_depth`` leapfrog steps per sample.
    """

    def __init__(
        self,
        model: Callable[..., Any] | None = None,
        potential_fn: Callable[[Params], torch.Tensor] | None = None,
        step_size: float | None = 1,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        full_mass: bool | list[Block] = False,
        use_multinomial_sampling: bool = True,
        transforms: dict[str, Transform] | None = None,
        max_plate_nesting: int | None = None,
        jit_compile: bool = False,
        jit_options: Mapping[str, Any] | None = None,
        ignore_jit_warnings: bool = False,
        target_accept_prob: float = 0.8,
        max_tree_depth: int = 10,
        init_strategy: Callable[..., Any] = init_to_uniform,
    ) -> None:
        if (
            isinstance(max_tree_depth, bool)
            or not isinstance(max_tree_depth, int)
            or max_tree_depth < 1
        ):
            raise ValueError(f"max_tree_depth must be a positive int, got {max_tree_depth!r}")
        super().__init__(
            model,
            potential_fn,
            step_size,
            adapt_step_size=adapt_step_size,
            adapt_mass_matrix=adapt_mass_matrix,
            full_mass=full_mass,
            transforms=transforms,
            max_plate_nesting=max_plate_nesting,
            jit_compile=jit_compile,
            jit_options=jit_options,
            ignore_jit_warnings=ignore_jit_warnings,
            target_accept_prob=target_accept_prob,
            init_strategy=init_strategy,
        )
        self.use_multinomial_sampling = use_multinomial_sampling
        self._max_tree_depth = max_tree_depth
        self._max_sliced_energy = 1000.0

    # ------------------------------------------------------------------ tree pieces
    def _is_turning(self, r_left_unscaled: Flat, r_right_unscaled: Flat, r_sum: Flat) -> bool:
        left: Any = 0.0
        right: Any = 0.0
        for block, total in r_sum.items():
            rho = total - (r_left_unscaled[block] + r_right_unscaled[block]) / 2
            left = left + r_left_unscaled[block].dot(rho)
            right = right + r_right_unscaled[block].dot(rho)
        return bool(left <= 0) or bool(right <= 0)

    def _combine_weights(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.logaddexp(a, b) if self.use_multinomial_sampling else a + b

    def _leaf(
        self,
        space: _Space,
        edge: _Edge,
        log_slice: torch.Tensor,
        direction: int,
        energy_current: torch.Tensor,
    ) -> _Tree:
        """One leapfrog step from ``edge`` in ``direction`` (+1 right, -1 left)."""
        z, r, z_grads, pe = space.leapfrog(edge, self.step_size * direction)
        r_unscaled = space.unscale(r)
        energy = pe + space.kinetic(r_unscaled)
        if torch.isnan(energy):
            energy = torch.full_like(energy, float("inf"))
        sliced_energy = energy + log_slice
        accept_prob = (energy_current - energy).exp().clamp(max=1.0)
        if self.use_multinomial_sampling:
            weight = -sliced_energy
        else:
            weight = torch.full_like(sliced_energy, 1.0 if sliced_energy <= 0 else 0.0)
        new = _Edge(z, r, r_unscaled, z_grads)
        return _Tree(
            new, new, z, pe, z_grads, r_unscaled, weight, False,
            bool(sliced_energy > self._max_sliced_energy), accept_prob, 1,
        )  # fmt: skip

    def _build_tree(
        self,
        space: _Space,
        edge: _Edge,
        log_slice: torch.Tensor,
        direction: int,
        depth: int,
        energy_current: torch.Tensor,
    ) -> _Tree:
        """A subtree of ``2 ** depth`` leaves grown from ``edge`` in ``direction``."""
        if depth == 0:
            return self._leaf(space, edge, log_slice, direction, energy_current)
        first = self._build_tree(space, edge, log_slice, direction, depth - 1, energy_current)
        if first.turning or first.diverging:
            return first
        outer = first.right if direction == 1 else first.left
        second = self._build_tree(space, outer, log_slice, direction, depth - 1, energy_current)
        weight = self._combine_weights(first.weight, second.weight)
        if self.use_multinomial_sampling:
            prob_second = (second.weight - weight).exp()
        else:
            prob_second = second.weight / weight if weight > 0 else torch.zeros_like(weight)
        take_second = bool(torch.rand((), dtype=weight.dtype, device=weight.device) < prob_second)
        chosen = second if take_second else first
        left, right = (first.left, second.right) if direction == 1 else (second.left, first.right)
        r_sum = space.add(first.r_sum, second.r_sum)
        turning = second.turning or space.turning(left.r_unscaled, right.r_unscaled, r_sum)
        return _Tree(
            left, right, chosen.z_proposal, chosen.z_proposal_pe, chosen.z_proposal_grads, r_sum,
            weight, turning, second.diverging, first.sum_accept_probs + second.sum_accept_probs,
            first.num_proposals + second.num_proposals,
        )  # fmt: skip

    def _dict_space(self) -> _Space:
        """Trajectories over per-site dicts (any mass-matrix block layout)."""
        adapter = self.mass_matrix_adapter

        def leapfrog(edge: _Edge, step: float) -> tuple[Any, Any, Any, torch.Tensor]:
            return velocity_verlet(
                edge.z, edge.r, self.potential_fn,  # type: ignore[arg-type]
                adapter.kinetic_grad, step, z_grads=edge.z_grads,
            )  # fmt: skip

        return _Space(
            leapfrog=leapfrog,
            unscale=adapter.unscale,
            kinetic=self._kinetic_energy,
            add=lambda a, b: {block: a[block] + b[block] for block in a},
            turning=self._is_turning,
            proposal=lambda tree: (tree.z_proposal, tree.z_proposal_grads),
        )

    @staticmethod
    def _flat_turning(left: torch.Tensor, right: torch.Tensor, r_sum: torch.Tensor) -> bool:
        rho = r_sum - (left + right) / 2
        return bool(left.dot(rho) <= 0) or bool(right.dot(rho) <= 0)

    def _flat_space(self, ops: _FlatOps) -> _Space:
        """Trajectories over one flat vector of all sites (the fast path): same draws,
        same arithmetic as :meth:`_dict_space`."""
        unpack = ops.potential.unpack

        def leapfrog(edge: _Edge, step: float) -> tuple[Any, Any, Any, torch.Tensor]:
            return self._flat_leapfrog(ops, edge.z, edge.r, edge.z_grads, step, 1)

        return _Space(
            leapfrog=leapfrog,
            unscale=lambda r: _matvec(ops.sqrt_inverse, r),
            kinetic=lambda r_unscaled: 0.5 * r_unscaled.dot(r_unscaled),
            add=lambda a, b: a + b,
            turning=self._flat_turning,
            proposal=lambda tree: (unpack(tree.z_proposal), unpack(tree.z_proposal_grads)),
        )

    def _flat_sample(
        self, ops: _FlatOps, z: Params, potential_energy: torch.Tensor, z_grads: Params
    ) -> Params:
        """:meth:`sample` on flat vectors: one tree, then back to per-site values."""
        pack = ops.potential.pack
        options = self._tensor_options()
        size = next(iter(self.mass_matrix_adapter.mass_matrix_size.values()))
        r_unscaled = torch.randn(size, **options)
        r = _matvec(ops.sqrt, r_unscaled)
        energy_current = 0.5 * r_unscaled.dot(r_unscaled) + potential_energy
        if self.use_multinomial_sampling:
            log_slice = -energy_current
        else:
            log_slice = -energy_current - torch.empty_like(energy_current).exponential_()
        left = _Edge(pack(z), r, r_unscaled, pack(z_grads))
        return self._grow_trajectory(
            self._flat_space(ops), z, z_grads, left, r_unscaled, energy_current, log_slice
        )

    # ------------------------------------------------------------------ transition
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
        if self.use_multinomial_sampling:
            log_slice = -energy_current
        else:
            log_slice = -energy_current - torch.empty_like(energy_current).exponential_()
        left = _Edge(z, r, r_unscaled, z_grads)
        return self._grow_trajectory(
            self._dict_space(), z, z_grads, left, dict(r_unscaled), energy_current, log_slice
        )

    def _grow_trajectory(
        self,
        space: _Space,
        z: Params,
        z_grads: Params,
        start: _Edge,
        r_sum: Any,
        energy_current: torch.Tensor,
        log_slice: torch.Tensor,
    ) -> Params:
        """Double the trajectory from ``start`` in random directions until it turns,
        diverges or reaches ``max_tree_depth``, taking each new subtree's proposal with
        its (multinomial or slice) weight."""
        left = right = start
        tree_weight = torch.full_like(energy_current, 0.0 if self.use_multinomial_sampling else 1.0)
        sum_accept_probs: Any = 0.0
        num_proposals = 0
        accepted = False
        with optional(validation_enabled(False), self._t < (self._warmup_steps or 0)):
            for depth in range(self._max_tree_depth):
                direction = 1 if bool(torch.rand(()) < 0.5) else -1
                edge = right if direction == 1 else left
                new = self._build_tree(space, edge, log_slice, direction, depth, energy_current)
                if direction == 1:
                    right = new.right
                else:
                    left = new.left
                sum_accept_probs = sum_accept_probs + new.sum_accept_probs
                num_proposals += new.num_proposals
                if new.diverging:
                    if self._t >= (self._warmup_steps or 0):
                        self._divergences.append(self._t - (self._warmup_steps or 0))
                    break
                if new.turning:
                    break
                if self.use_multinomial_sampling:
                    prob_new = (new.weight - tree_weight).exp()
                else:
                    prob_new = new.weight / tree_weight
                if bool(
                    torch.rand((), dtype=tree_weight.dtype, device=tree_weight.device) < prob_new
                ):
                    accepted = True
                    z, z_grads = space.proposal(new)
                    self._cache(z, new.z_proposal_pe, z_grads)
                r_sum = space.add(r_sum, new.r_sum)
                if space.turning(left.r_unscaled, right.r_unscaled, r_sum):
                    break
                tree_weight = self._combine_weights(tree_weight, new.weight)
        accept_prob = sum_accept_probs / num_proposals
        self._finish(z, z_grads, torch.as_tensor(accept_prob), accepted)
        return z.copy()
