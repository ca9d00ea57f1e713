"""``sharded_plate``: each rank gets a disjoint minibatch of one seeded global permutation.

Design notes
------------
Data-parallel SVI must split each step's minibatch across the ranks without any rank
seeing another's indices. At step ``s`` every rank computes the *same* permutation of
``range(size)`` from a CPU generator seeded by ``(seed, s)`` (independent of torch's
global RNG, so ranks agree even when their RNGs differ); rank ``r`` of ``W`` takes the
slice ``perm[r*b:(r+1)*b]`` with ``b = subsample_size``. The union over the ranks,
``perm[:W*b]``, is exactly the batch a single process gets from
``shard_indices(size, W*b, step=s, seed=seed)`` (rank 0 of a world of one): the
single-process reference of the distributed run.

**Scaling.** ``subsample_size`` is the *per-rank* batch (as a per-rank DataLoader's
``batch_size``), so the global batch is ``B = W*b``. Inside the plate every log-density
is scaled by ``size / b``, as ``ppl.plate`` does; :class:`DistributedOptimizer` then
*averages* the gradients over the ``W`` ranks, so each datum of the union batch carries
``size / (W*b) = size / B``, the global size over the global batch, exactly its weight in
the single-process gradient of the union batch, while the global terms (priors, guide
entropy) computed on every rank keep weight one.

**Steps.** The step counter lives here, per plate name, and advances each time a
sharded plate draws its indices. The indices are recorded as the plate's subsample site
(``infer={"is_subsample": True}``), so a model replayed against the guide's trace reuses
the guide's indices without advancing the counter; every rank runs the same statements,
so the counters agree. :func:`get_shard_steps`/:func:`set_shard_steps` save and restore
the counters (a checkpoint stores them so a resumed run sees the same batches).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..poutine.block_messenger import BlockMessenger
from ..poutine.plate_messenger import PlateMessenger, Subsample
from ..primitives import sample
from .env import get_rank, get_world_size

__all__ = [
    "ShardedSubsample",
    "get_shard_steps",
    "reset_shard_steps",
    "set_shard_steps",
    "shard_indices",
    "sharded_plate",
]

_MASK63 = 2**63 - 1
_STEPS: dict[str, int] = {}


def _generator(seed: int, step: int) -> torch.Generator:
    # splitmix-style mixing: nearby (seed, step) pairs give unrelated streams
    x = (seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK63
    x ^= x >> 31
    return torch.Generator(device="cpu").manual_seed(x & _MASK63)


def shard_indices(
    size: int,
    subsample_size: int,
    *,
    step: int,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Rank ``rank``'s slice of step ``step``'s seeded permutation of ``range(size)``.

    Args:
        size: the number of data points.
        subsample_size: the per-rank batch size ``b`` (``world_size * b <= size``).
        step: the step number (every rank must pass the same).
        seed: the seed shared by all ranks.
        rank: this rank, ``0 <= rank < world_size``.
        world_size: the number of ranks.
        device: where the indices go (default: torch's default device).

    Returns:
        A ``(subsample_size,)`` int64 tensor; slices of different ranks are disjoint and
        their concatenation in rank order is ``shard_indices(size, world_size *
        subsample_size, step=step, seed=seed)``.

    Raises:
        ValueError: for a non-positive size or batch, ``world_size * subsample_size >
            size``, a rank outside ``[0, world_size)`` or a negative step or seed.

    Example:
        >>> a = shard_indices(10, 3, step=0, rank=0, world_size=2)
        >>> b = shard_indices(10, 3, step=0, rank=1, world_size=2)
        >>> bool((torch.cat([a, b]) == shard_indices(10, 6, step=0)).all())
        True
    """
    _check(size, subsample_size, rank, world_size, "shard_indices")
    if step < 0 or seed < 0:
        raise ValueError(f"shard_indices: step and seed must be >= 0, got step={step}, seed={seed}")
    perm = torch.randperm(size, generator=_generator(seed, step))
    part = perm[rank * subsample_size : (rank + 1) * subsample_size]
    device = torch.get_default_device() if device is None else torch.device(device)
    return part.to(device)


def _check(size: int, subsample_size: int, rank: int, world_size: int, where: str) -> None:
    if size <= 0 or subsample_size <= 0:
        raise ValueError(
            f"{where}: size and subsample_size must be positive, got size={size}, "
            f"subsample_size={subsample_size}"
        )
    if world_size * subsample_size > size:
        raise ValueError(
            f"{where}: {world_size} ranks x subsample_size {subsample_size} = "
            f"{world_size * subsample_size} exceeds size {size}; the per-rank batch must be at "
            f"most size // world_size = {size // world_size}"
        )
    if not 0 <= rank < world_size:
        raise ValueError(f"{where}: rank must be in [0, {world_size}), got {rank}")


class ShardedSubsample(Subsample):
    """The plate's subsample "distribution" whose draw is this rank's shard of the step.

    ``sample()`` advances the step counter of plate ``name``; ``log_prob`` is zero.
    """

    def __init__(
        self,
        name: str,
        size: int,
        subsample_size: int,
        *,
        seed: int,
        rank: int,
        world_size: int,
        device: torch.device,
    ) -> None:
        super().__init__(size, subsample_size, device)
        self.name = name
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    def sample(self, sample_shape: torch.Size | list[int] | tuple[int, ...] = ()) -> torch.Tensor:
        if tuple(sample_shape):
            raise ValueError("a sharded plate's subsample is drawn one set at a time")
        step = _STEPS.get(self.name, 0)
        _STEPS[self.name] = step + 1
        return shard_indices(
            self.size,
            self.subsample_size,
            step=step,
            seed=self.seed,
            rank=self.rank,
            world_size=self.world_size,
            device=self.device,
        )


def sharded_plate(
    name: str,
    size: int,
    subsample_size: int,
    *,
    seed: int = 0,
    dim: int | None = None,
    device: torch.device | str | None = None,
    rank: int | None = None,
    world_size: int | None = None,
) -> PlateMessenger:
    """A subsampling ``plate`` whose minibatch is this rank's shard of a global batch.

    Use it where a single-process model has ``ppl.plate(name, size, subsample_size=b)``,
    in the model and (if it has one) the guide. Each rank gets ``subsample_size`` indices,
    disjoint from the other ranks' (see the module notes for the seeding and scaling).

    Args:
        name: the plate name (also the name of its subsample site and step counter).
        size: the number of data points (the same on every rank).
        subsample_size: the per-rank batch size ``b``; the global batch is ``world_size*b``.
        seed: seed of the per-step permutations (the same on every rank).
        dim: the plate's batch dim, as in ``ppl.plate``.
        device: where the indices go (default: torch's default device; the data's device
            under NCCL).
        rank, world_size: override the process group's (default: read from it; 0 and 1
            without one).

    Returns:
        A plate (context manager yielding the indices, or an iterator).

    Raises:
        TypeError: if ``name`` is not a string.
        ValueError: as :func:`shard_indices`.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> with sharded_plate("data", 100, 10, rank=1, world_size=4) as idx:
        ...     x = ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> tuple(idx.shape), tuple(x.shape)
        ((10,), (10,))
    """
    if not isinstance(name, str):
        raise TypeError(f"sharded_plate: name must be a str, got {type(name).__name__}")
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    _check(size, subsample_size, rank, world_size, f"sharded_plate {name!r}")
    device = torch.get_default_device() if device is None else torch.device(device)
    fn = ShardedSubsample(
        name, size, subsample_size, seed=seed, rank=rank, world_size=world_size, device=device
    )
    indices = sample(name, fn, infer={"is_subsample": True})
    with BlockMessenger():  # the indices are recorded above, as this plate's one site
        return PlateMessenger(name, size, subsample=indices, dim=dim, device=device)


def get_shard_steps() -> dict[str, int]:
    """The step counter of every sharded plate, ``{plate name: next step}`` (plain data)."""
    return dict(_STEPS)


def set_shard_steps(steps: Mapping[str, int]) -> None:
    """Restore counters saved by :func:`get_shard_steps` (e.g. from a checkpoint).

    Raises:
        TypeError: if ``steps`` is not a mapping of plate names to integers.
        ValueError: if a counter is negative.
    """
    if not isinstance(steps, Mapping):
        raise TypeError(
            f"set_shard_steps: expected a dict {{name: int}}, got {type(steps).__name__}"
        )
    for key, value in steps.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"set_shard_steps: expected str -> int entries, got {key!r}: {value!r}")
        if value < 0:
            raise ValueError(f"set_shard_steps: counter of plate {key!r} must be >= 0, got {value}")
    _STEPS.clear()
    _STEPS.update(steps)


def reset_shard_steps() -> None:
    """Restart every sharded plate at step 0."""
    _STEPS.clear()
