"""Warmup adaptation of HMC's step size and mass matrix (Pyro's ``infer.mcmc.adaptation``).

Design notes
------------
Warmup follows Stan's schedule: a fast window (step size only), a run of slow windows
whose lengths double (the mass matrix is re-estimated from the samples of each window,
after which step-size adaptation restarts), and a final fast window. With fewer than 20
warmup steps the whole warmup is one window. Step size is tuned by Nesterov dual
averaging of ``target_accept_prob - accept_prob``; the final step size is the averaged
iterate.

The mass matrix is block structured: :class:`BlockMassMatrix` keeps, per tuple of site
names, either a diagonal (shape ``(n,)``) or a dense (``(n, n)``) inverse mass matrix, and
the algebra HMC needs from it: velocities ``M^{-1} r``, and momenta ``M^{1/2} e`` from
standard normal draws ``e`` (and back). :class:`ArrowheadMassMatrix` instead puts every
site in one block whose *mass* matrix (not its inverse) is an arrowhead matrix, dense on
the ``full_mass`` sites and diagonal elsewhere, estimated from the covariance of
potential-energy gradients (for a Gaussian target that covariance is the precision).

Example:
    >>> adapter = WarmupAdapter(0.1, adapt_step_size=True, adapt_mass_matrix=True)
    >>> adapter.configure(200, mass_matrix_shape={("z",): (3,)})
    >>> [tuple(w) for w in adapter.adaptation_schedule]
    [(0, 74), (75, 99), (100, 149), (150, 199)]
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ppl.ops.arrowhead import SymmArrowhead, sqrt, triu_gram, triu_inverse, triu_matvecmul
from ppl.ops.dual_averaging import DualAveraging
from ppl.ops.welford import WelfordArrowheadCovariance, WelfordCovariance
from ppl.settings import validation_enabled

__all__ = ["ArrowheadMassMatrix", "BlockMassMatrix", "WarmupAdapter", "adapt_window"]

adapt_window = namedtuple("adapt_window", ["start", "end"])

Params = dict[str, torch.Tensor]
Block = tuple[str, ...]


class WarmupAdapter:
    """Tunes ``step_size`` and the inverse mass matrix during warmup.

    Args:
        step_size: the initial step size (``None`` means 1).
        adapt_step_size: run dual averaging on the step size.
        target_accept_prob: the acceptance probability dual averaging aims for.
        adapt_mass_matrix: re-estimate the mass matrix in the slow windows.
        dense_mass: ``False``, ``True`` or a list of tuples of site names with dense blocks
            (read by the kernel when it builds ``mass_matrix_shape``).
    """

    # Stan's window sizes
    _adapt_start_buffer = 75
    _adapt_end_buffer = 50
    _adapt_initial_window = 25

    def __init__(
        self,
        step_size: float | None = 1,
        adapt_step_size: bool = False,
        target_accept_prob: float = 0.8,
        adapt_mass_matrix: bool = False,
        dense_mass: bool | list[Block] = False,
    ) -> None:
        self.adapt_step_size = adapt_step_size
        self.adapt_mass_matrix = adapt_mass_matrix
        self.target_accept_prob = target_accept_prob
        self.dense_mass = dense_mass
        self.step_size: float = 1.0 if step_size is None else float(step_size)
        self._init_step_size = self.step_size
        self._adaptation_disabled = not (adapt_step_size or adapt_mass_matrix)
        self._step_size_adapt_scheme = DualAveraging()
        self._mass_matrix_adapter: Any = BlockMassMatrix()
        self._find_reasonable_step_size: Callable[[Params], float] | None = None
        self._warmup_steps: int | None = None
        self._adaptation_schedule: list[adapt_window] = []
        self._current_window = 0

    def _build_adaptation_schedule(self) -> list[adapt_window]:
        n = self._warmup_steps
        assert n is not None
        if n < 20:
            return [adapt_window(0, n - 1)]
        start, end, first = (
            self._adapt_start_buffer,
            self._adapt_end_buffer,
            self._adapt_initial_window,
        )
        if start + end + first > n:
            start, end = int(0.15 * n), int(0.1 * n)
            first = n - start - end
        schedule = [adapt_window(0, start - 1)]
        end_start = n - end
        begin, size = start, first
        while begin < end_start:
            # grow the next window, unless it would leave a tail too short to double again
            if 3 * size <= end_start - begin:
                next_size = 2 * size
            else:
                size = end_start - begin
                next_size = size
            schedule.append(adapt_window(begin, begin + size - 1))
            begin, size = begin + size, next_size
        schedule.append(adapt_window(end_start, n - 1))
        return schedule

    def reset_step_size_adaptation(self, z: Params) -> None:
        """Pick a fresh step size at ``z`` (if the kernel can) and restart dual averaging."""
        if self._find_reasonable_step_size is not None:
            with validation_enabled(False):
                self.step_size = self._find_reasonable_step_size(z)
        self._step_size_adapt_scheme.prox_center = math.log(10 * self.step_size)
        self._step_size_adapt_scheme.reset()

    def _update_step_size(self, accept_prob: float) -> None:
        self._step_size_adapt_scheme.step(self.target_accept_prob - accept_prob)
        log_step_size, _ = self._step_size_adapt_scheme.get_state()
        self.step_size = math.exp(log_step_size)

    def _end_adaptation(self) -> None:
        if self.adapt_step_size:
            _, log_step_size_avg = self._step_size_adapt_scheme.get_state()
            self.step_size = math.exp(log_step_size_avg)

    def configure(
        self,
        warmup_steps: int,
        initial_step_size: float | None = None,
        mass_matrix_shape: Mapping[Block, tuple[int, ...]] | None = None,
        find_reasonable_step_size_fn: Callable[[Params], float] | None = None,
        options: Mapping[str, Any] = {},  # noqa: B006 (Pyro's signature)
    ) -> None:
        """Set up for one chain.

        Args:
            warmup_steps: number of warmup steps.
            initial_step_size: overrides the constructor's step size.
            mass_matrix_shape: block (tuple of site names) -> ``(n,)`` or ``(n, n)``.
            find_reasonable_step_size_fn: ``z -> step_size``, used when adaptation restarts.
            options: ``dtype``/``device`` of the initial mass matrix.
        """
        self._warmup_steps = warmup_steps
        self.step_size = self._init_step_size if initial_step_size is None else initial_step_size
        if find_reasonable_step_size_fn is not None:
            self._find_reasonable_step_size = find_reasonable_step_size_fn
        if mass_matrix_shape is None or self.step_size is None:
            raise ValueError(
                "Incomplete configuration - step size and inverse mass matrix need to be "
                f"initialized (got step_size={self.step_size}, "
                f"mass_matrix_shape={mass_matrix_shape})."
            )
        self.mass_matrix_adapter.configure(
            mass_matrix_shape, self.adapt_mass_matrix, options=options
        )
        if not self._adaptation_disabled:
            self._adaptation_schedule = self._build_adaptation_schedule()
        self._current_window = 0
        if self.adapt_step_size:
            self._step_size_adapt_scheme.reset()

    def step(
        self, t: int, z: Params, accept_prob: torch.Tensor | float, z_grad: Params | None = None
    ) -> None:
        """Adapt after warmup step ``t`` (counted from 0) that ended at ``z``."""
        if self._warmup_steps is None or t >= self._warmup_steps or self._adaptation_disabled:
            return
        window = self._adaptation_schedule[self._current_window]
        num_windows = len(self._adaptation_schedule)
        slow_window = self.adapt_mass_matrix and 0 < self._current_window < num_windows - 1
        if self.adapt_step_size:
            self._update_step_size(float(accept_prob))
        if slow_window:
            self.mass_matrix_adapter.update(z, z_grad)
        if t != window.end:
            return
        if self._current_window == num_windows - 1:
            self._end_adaptation()
        elif slow_window:
            self.mass_matrix_adapter.end_adaptation()
            if self.adapt_step_size:
                self.reset_step_size_adaptation(z)
        self._current_window += 1

    @property
    def adaptation_schedule(self) -> list[adapt_window]:
        return self._adaptation_schedule

    @property
    def mass_matrix_adapter(self) -> Any:
        return self._mass_matrix_adapter

    @mass_matrix_adapter.setter
    def mass_matrix_adapter(self, value: Any) -> None:
        self._mass_matrix_adapter = value


def _matvec(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return m * v if m.dim() == 1 else m @ v


def _upper_sqrt_inverse(inverse_mass_matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper-triangular ``(R, S)`` with ``R R^T = M``, ``S^T S = M^{-1}`` and ``S = R^{-1}``.

    From ``M^{-1} = L L^T`` (Cholesky): ``S = L^T`` and ``R = L^{-T}``. Momenta are drawn as
    ``R e`` and mapped back by ``S r``. A diagonal ``M^{-1} = a`` gives ``(a^{-1/2}, a^{1/2})``.
    """
    if inverse_mass_matrix.dim() == 1:
        return inverse_mass_matrix.rsqrt(), inverse_mass_matrix.sqrt()
    lower = torch.linalg.cholesky(inverse_mass_matrix)
    sqrt_inverse = lower.mT
    eye = torch.eye(lower.size(-1), dtype=lower.dtype, device=lower.device)
    sqrt = torch.linalg.solve_triangular(sqrt_inverse, eye, upper=True)
    return sqrt, sqrt_inverse


class BlockMassMatrix:
    """Block-diagonal (inverse) mass matrix with per-block Welford adaptation.

    Args:
        init_scale: the initial inverse mass matrix is ``init_scale * I`` per block.

    Example:
        >>> m = BlockMassMatrix()
        >>> m.configure({("a", "b"): (3,)})
        >>> v = m.kinetic_grad({"a": torch.ones(2), "b": torch.ones(())})
        >>> v["a"].tolist(), v["b"].shape
        ([1.0, 1.0], torch.Size([]))
    """

    def __init__(self, init_scale: float = 1.0) -> None:
        self._init_scale = init_scale
        self._adapt_scheme: dict[Block, WelfordCovariance] = {}
        self._inverse_mass_matrix: dict[Block, torch.Tensor] = {}
        self._mass_matrix_sqrt: dict[Block, torch.Tensor] = {}
        self._mass_matrix_sqrt_inverse: dict[Block, torch.Tensor] = {}
        self._mass_matrix_size: dict[Block, int] = {}

    @property
    def mass_matrix_size(self) -> dict[Block, int]:
        """Block -> number of scalar coordinates in it."""
        return self._mass_matrix_size

    @property
    def inverse_mass_matrix(self) -> dict[Block, torch.Tensor]:
        return self._inverse_mass_matrix

    @inverse_mass_matrix.setter
    def inverse_mass_matrix(self, value: Mapping[Block, torch.Tensor]) -> None:
        for block, inv_mass in value.items():
            if block in self._adapt_scheme:
                self._adapt_scheme[block].reset()
            sqrt, sqrt_inverse = _upper_sqrt_inverse(inv_mass)
            self._inverse_mass_matrix[block] = inv_mass
            self._mass_matrix_sqrt[block] = sqrt
            self._mass_matrix_sqrt_inverse[block] = sqrt_inverse

    def single_block(self) -> tuple[Block, torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(block, M^{-1}, M^{1/2}, M^{-1/2})`` when one block covers all sites, else None.

        What a sampler working on one flat vector of all sites needs (the roots are upper
        triangular, or vectors for a diagonal block)."""
        if len(self._inverse_mass_matrix) != 1:
            return None
        ((block, inv_mass),) = self._inverse_mass_matrix.items()
        sqrt, sqrt_inverse = self._mass_matrix_sqrt[block], self._mass_matrix_sqrt_inverse[block]
        return block, inv_mass, sqrt, sqrt_inverse

    def configure(
        self,
        mass_matrix_shape: Mapping[Block, tuple[int, ...]],
        adapt_mass_matrix: bool = True,
        options: Mapping[str, Any] = {},  # noqa: B006 (Pyro's signature)
    ) -> None:
        """Start from ``init_scale * I`` for each block of ``mass_matrix_shape``."""
        initial = {}
        for block, shape in mass_matrix_shape.items():
            if len(shape) not in (1, 2) or (len(shape) == 2 and shape[0] != shape[1]):
                raise ValueError(
                    f"mass matrix shape of block {block} must be (n,) or (n, n), got {shape}"
                )
            self._mass_matrix_size[block] = shape[0]
            diagonal = len(shape) == 1
            if diagonal:
                initial[block] = torch.full(shape, self._init_scale, **options)
            else:
                initial[block] = torch.eye(shape[0], **options) * self._init_scale
            if adapt_mass_matrix:
                self._adapt_scheme[block] = WelfordCovariance(diagonal=diagonal)
        self.inverse_mass_matrix = initial

    def update(self, z: Params, z_grad: Params | None) -> None:
        """Feed one warmup sample ``z`` to each block's covariance estimate."""
        for block, scheme in self._adapt_scheme.items():
            scheme.update(torch.cat([z[name].detach().reshape(-1) for name in block]))

    def end_adaptation(self) -> None:
        """Replace each adapted block by its regularized sample covariance."""
        self.inverse_mass_matrix = {
            block: scheme.get_covariance(regularize=True)
            for block, scheme in self._adapt_scheme.items()
        }

    def kinetic_grad(self, r: Params) -> Params:
        """Velocities ``M^{-1} r`` per site (the gradient of the kinetic energy)."""
        v: Params = {}
        for block, inv_mass in self._inverse_mass_matrix.items():
            flat = _matvec(inv_mass, torch.cat([r[name].reshape(-1) for name in block]))
            v.update(_split(flat, block, r))
        return v

    def scale(self, r_unscaled: Mapping[Block, torch.Tensor], r_prototype: Params) -> Params:
        """Momenta ``M^{1/2} e`` per site from flat standard-normal draws ``e`` per block."""
        r: Params = {}
        for block, root in self._mass_matrix_sqrt.items():
            r.update(_split(_matvec(root, r_unscaled[block]), block, r_prototype))
        return r

    def unscale(self, r: Params) -> dict[Block, torch.Tensor]:
        """Flat ``M^{-1/2} r`` per block (so that kinetic energy is half its squared norm)."""
        return {
            block: _matvec(sqrt_inverse, torch.cat([r[name].reshape(-1) for name in block]))
            for block, sqrt_inverse in self._mass_matrix_sqrt_inverse.items()
        }


def _split(flat: torch.Tensor, block: Block, prototype: Mapping[str, torch.Tensor]) -> Params:
    out: Params = {}
    pos = 0
    for name in block:
        n = prototype[name].numel()
        out[name] = flat[pos : pos + n].reshape(prototype[name].shape)
        pos += n
    return out


class ArrowheadMassMatrix:
    """One mass matrix over all sites with arrowhead structure, adapted from gradients.

    Blocks given as dense in ``mass_matrix_shape`` form the head (in the given order), the
    diagonal sites the tail; the single block is keyed by all site names in that order.

    Args:
        init_scale: the initial mass matrix is ``init_scale * I``.

    Example:
        >>> m = ArrowheadMassMatrix()
        >>> m.configure({("a",): (2, 2), ("b",): (1,)})
        >>> list(m.inverse_mass_matrix), m.inverse_mass_matrix[("a", "b")].shape
        ([('a', 'b')], torch.Size([3, 3]))
    """

    def __init__(self, init_scale: float = 1.0) -> None:
        self._init_scale = init_scale
        self._adapt_scheme: dict[Block, WelfordArrowheadCovariance] = {}
        self._mass_matrix: dict[Block, SymmArrowhead] = {}
        self._mass_matrix_sqrt: dict[Block, Any] = {}
        self._mass_matrix_sqrt_inverse: dict[Block, Any] = {}
        self._mass_matrix_size: dict[Block, int] = {}

    @property
    def mass_matrix_size(self) -> dict[Block, int]:
        return self._mass_matrix_size

    @property
    def inverse_mass_matrix(self) -> dict[Block, torch.Tensor]:
        return {block: triu_gram(s) for block, s in self._mass_matrix_sqrt_inverse.items()}

    @property
    def mass_matrix(self) -> dict[Block, SymmArrowhead]:
        return self._mass_matrix

    @mass_matrix.setter
    def mass_matrix(self, value: Mapping[Block, SymmArrowhead]) -> None:
        for block, mass in value.items():
            if block in self._adapt_scheme:
                self._adapt_scheme[block].reset()
            root = sqrt(mass)
            self._mass_matrix[block] = mass
            self._mass_matrix_sqrt[block] = root
            self._mass_matrix_sqrt_inverse[block] = triu_inverse(root)

    def configure(
        self,
        mass_matrix_shape: Mapping[Block, tuple[int, ...]],
        adapt_mass_matrix: bool = True,
        options: Mapping[str, Any] = {},  # noqa: B006 (Pyro's signature)
    ) -> None:
        """Start from ``init_scale * I`` over all sites, dense blocks first."""
        dense: Block = ()
        diag: Block = ()
        head = tail = 0
        for block, shape in mass_matrix_shape.items():
            if len(shape) == 2:
                dense, head = dense + block, head + shape[0]
            else:
                diag, tail = diag + block, tail + shape[0]
        block = dense + diag
        size = head + tail
        self._mass_matrix_size[block] = size
        top = torch.eye(head, size, **options) * self._init_scale
        bottom = torch.full((tail,), self._init_scale, **options)
        if adapt_mass_matrix:
            self._adapt_scheme[block] = WelfordArrowheadCovariance(head_size=head)
        self.mass_matrix = {block: SymmArrowhead(top, bottom)}

    def update(self, z: Params, z_grad: Params | None) -> None:
        """Feed the potential-energy gradient at one warmup sample."""
        if z_grad is None:
            raise ValueError("ArrowheadMassMatrix adapts from gradients: z_grad is required")
        for block, scheme in self._adapt_scheme.items():
            scheme.update(torch.cat([z_grad[name].reshape(-1) for name in block]))

    def end_adaptation(self) -> None:
        self.mass_matrix = {
            block: SymmArrowhead(*scheme.get_covariance(regularize=True))
            for block, scheme in self._adapt_scheme.items()
        }

    def kinetic_grad(self, r: Params) -> Params:
        v: Params = {}
        for block, s in self._mass_matrix_sqrt_inverse.items():
            flat = torch.cat([r[name].reshape(-1) for name in block])
            v.update(_split(triu_matvecmul(s, triu_matvecmul(s, flat), transpose=True), block, r))
        return v

    def scale(self, r_unscaled: Mapping[Block, torch.Tensor], r_prototype: Params) -> Params:
        r: Params = {}
        for block, root in self._mass_matrix_sqrt.items():
            r.update(_split(triu_matvecmul(root, r_unscaled[block]), block, r_prototype))
        return r

    def unscale(self, r: Params) -> dict[Block, torch.Tensor]:
        return {
            block: triu_matvecmul(s, torch.cat([r[name].reshape(-1) for name in block]))
            for block, s in self._mass_matrix_sqrt_inverse.items()
        }
