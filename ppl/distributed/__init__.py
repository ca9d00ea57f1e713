"""Data-parallel SVI over ``torch.distributed``, launched with ``torchrun``.

Three pieces, one change each to a single-process script:

* :func:`init_distributed` joins the job torchrun describes (device ``cuda:LOCAL_RANK``
  with NCCL, or the CPU with gloo) and is a no-op without torchrun;
* :class:`DistributedOptimizer` wraps any ``ppl.optim`` optimizer and averages the
  gradients over the ranks (bucketed all-reduce, stable name order) before each step;
* :func:`sharded_plate` replaces ``ppl.plate(name, size, subsample_size=b)`` and gives
  each rank a disjoint minibatch of a seeded global permutation, scaled so the averaged
  gradient equals the single-process gradient of the union batch.

:func:`is_main_process` tells checkpoint writers whether to write.

Example:
    >>> import ppl
    >>> ctx = init_distributed(env={})  # not under torchrun: a world of one
    >>> optim = DistributedOptimizer(ppl.optim.Adam({"lr": 0.01}))
    >>> ctx.world_size, is_main_process()
    (1, True)
"""

from .buckets import Bucket, all_reduce_mean_, broadcast_, plan_buckets
from .env import (
    DistributedContext,
    barrier,
    default_backend,
    default_device,
    get_rank,
    get_world_size,
    init_distributed,
    is_main_process,
    local_rank,
    shutdown_distributed,
)
from .optimizer import DistributedOptimizer
from .sharding import (
    ShardedSubsample,
    get_shard_steps,
    reset_shard_steps,
    set_shard_steps,
    shard_indices,
    sharded_plate,
)

__all__ = [
    "Bucket",
    "DistributedContext",
    "DistributedOptimizer",
    "ShardedSubsample",
    "all_reduce_mean_",
    "barrier",
    "broadcast_",
    "default_backend",
    "default_device",
    "get_rank",
    "get_shard_steps",
    "get_world_size",
    "init_distributed",
    "is_main_process",
    "local_rank",
    "plan_buckets",
    "reset_shard_steps",
    "set_shard_steps",
    "shard_indices",
    "sharded_plate",
    "shutdown_distributed",
]
