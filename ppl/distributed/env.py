"""Where this process sits in a ``torchrun`` job: rank, device, backend, process group.

Design notes
------------
ppl has no cluster code of its own. ``torchrun`` (``python -m torch.distributed.run``)
starts one process per device and tells each, through environment variables, who it is:
``RANK`` (global index), ``LOCAL_RANK`` (index on this node), ``WORLD_SIZE`` (number of
processes), ``MASTER_ADDR``/``MASTER_PORT`` (the rendezvous). :func:`init_distributed`
reads them and creates torch's default process group at ``MASTER_ADDR:MASTER_PORT``.

* **Device follows ``LOCAL_RANK``.** With CUDA, process ``LOCAL_RANK=k`` uses
  ``cuda:k`` (and makes it the current CUDA device); without CUDA every process uses the
  CPU. The backend follows the device: NCCL for CUDA, gloo for CPU.
* **One script, with or without torchrun.** Without ``WORLD_SIZE`` in the environment,
  :func:`init_distributed` creates no process group and returns a one-process context;
  every helper here then answers as a world of one (rank 0, world size 1), so the same
  training script runs unchanged on a laptop.
* **Checkpoints.** Only the main process (global rank 0) writes files:
  :func:`is_main_process` is the one test every writer uses. Every rank can read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = [
    "DistributedContext",
    "barrier",
    "default_backend",
    "default_device",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_main_process",
    "local_rank",
    "shutdown_distributed",
]

_REQUIRED_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is in the job.

    Attributes:
        rank: global rank (0 .. world_size - 1).
        local_rank: rank on this node (selects the CUDA device).
        world_size: number of processes.
        device: the device this process computes on.
        backend: ``"nccl"``, ``"gloo"`` or None when no process group exists.
    """

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        """True on global rank 0, the process that writes checkpoints and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group exists (even a world of one)."""
        return self.backend is not None


def _env_int(env: Mapping[str, str], key: str, default: int | None = None) -> int:
    raw = env.get(key)
    if raw is None:
        if default is None:
            raise ValueError(
                f"environment variable {key} is not set; launch the script with "
                "`torchrun --nproc_per_node N script.py` (it sets RANK, LOCAL_RANK, "
                "WORLD_SIZE, MASTER_ADDR and MASTER_PORT)"
            )
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"environment variable {key} must be a non-negative integer, got {raw!r}"
        ) from None
    if value < 0:
        raise ValueError(f"environment variable {key} must be a non-negative integer, got {raw!r}")
    return value


def local_rank(env: Mapping[str, str] | None = None) -> int:
    """The ``LOCAL_RANK`` set by torchrun (0 when absent).

    Args:
        env: the environment to read (default ``os.environ``).

    Raises:
        ValueError: if ``LOCAL_RANK`` is not a non-negative integer.

    Example:
        >>> local_rank({"LOCAL_RANK": "3"})
        3
    """
    return _env_int(os.environ if env is None else env, "LOCAL_RANK", 0)


def default_device(local_rank_: int | None = None) -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available, else the CPU.

    Args:
        local_rank_: the local rank (default: read ``LOCAL_RANK``).

    Raises:
        ValueError: if CUDA is available but the local rank has no device (more processes
            per node than GPUs).

    Example:
        >>> default_device(0).type in ("cpu", "cuda")
        True
    """
    index = local_rank() if local_rank_ is None else int(local_rank_)
    if not torch.cuda.is_available():
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if index >= count:
        raise ValueError(
            f"LOCAL_RANK={index} but this node has only {count} CUDA device(s); start at most "
            f"{count} processes per node (torchrun --nproc_per_node {count})"
        )
    return torch.device("cuda", index)


def default_backend(device: torch.device | str) -> str:
    """The collective backend for ``device``: ``"nccl"`` for CUDA, ``"gloo"`` otherwise.

    Example:
        >>> default_backend("cpu")
        'gloo'
    """
    device = torch.device(device)
    if device.type == "cuda" and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def init_distributed(
    backend: str | None = None,
    *,
    timeout: timedelta = timedelta(minutes=5),
    env: Mapping[str, str] | None = None,
) -> DistributedContext:
    """Join the torchrun job described by the environment (or run as a world of one).

    Reads ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``,
    selects the device (``cuda:LOCAL_RANK`` or CPU) and creates torch's default process
    group. If a process group already exists, it is reused. Without ``WORLD_SIZE`` in the
    environment nothing is created and a one-process context is returned.

    Args:
        backend: ``"gloo"``, ``"nccl"`` (or another torch backend); default: NCCL on CUDA,
            gloo on CPU.
        timeout: how long collectives wait for the other ranks before failing.
        env: the environment to read (default ``os.environ``).

    Returns:
        A :class:`DistributedContext` (rank, local_rank, world_size, device, backend).

    Raises:
        ValueError: if a torchrun variable is missing or not an integer, ``RANK`` is not
            below ``WORLD_SIZE``, or ``backend="nccl"`` is asked for without CUDA.
        TypeError: if ``backend`` is not a string.

    Example:
        >>> ctx = init_distributed(env={})  # not under torchrun: a world of one
        >>> (ctx.rank, ctx.world_size, ctx.backend)
        (0, 1, None)
    """
    if backend is not None and not isinstance(backend, str):
        raise TypeError(f"init_distributed: backend must be a str such as 'gloo', got {backend!r}")
    env = os.environ if env is None else env
    lrank = local_rank(env)
    if dist.is_available() and dist.is_initialized():
        device = default_device(lrank)
        return DistributedContext(
            dist.get_rank(), lrank, dist.get_world_size(), device, dist.get_backend()
        )
    if "WORLD_SIZE" not in env:
        return DistributedContext(0, lrank, 1, default_device(lrank), None)
    for key in _REQUIRED_ENV:
        if key not in env:
            _env_int(env, key)  # raises the "launch with torchrun" message
    rank = _env_int(env, "RANK")
    world_size = _env_int(env, "WORLD_SIZE")
    if not rank < world_size:
        raise ValueError(f"RANK={rank} must be smaller than WORLD_SIZE={world_size}")
    device = default_device(lrank)
    backend = backend or default_backend(device)
    if backend == "nccl" and device.type != "cuda":
        raise ValueError(
            "init_distributed: backend 'nccl' needs CUDA but no CUDA device is available; "
            "use backend='gloo' (the default on CPU)"
        )
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # env:// lets torchrun's agent share its rendezvous store with the workers; a mapping
    # other than os.environ is reached through an explicit tcp:// address instead.
    if env is os.environ:
        init_method = "env://"
    else:
        init_method = f"tcp://{env['MASTER_ADDR']}:{_env_int(env, 'MASTER_PORT')}"
    dist.init_process_group(
        backend,
        init_method=init_method,
        rank=rank,
        world_size=world_size,
        timeout=timeout,
    )
    return DistributedContext(rank, lrank, world_size, device, backend)


def shutdown_distributed() -> None:
    """Destroy the default process group if one exists (call at the end of a script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank(group: dist.ProcessGroup | None = None) -> int:
    """This process's rank in ``group`` (default: the whole job); 0 without a process group."""
    return dist.get_rank(group) if _initialized() else 0


def get_world_size(group: dist.ProcessGroup | None = None) -> int:
    """The number of processes in ``group``; 1 without a process group."""
    return dist.get_world_size(group) if _initialized() else 1


def is_main_process() -> bool:
    """True on global rank 0 (or without a process group): the process that writes files.

    Example:
        >>> is_main_process()
        True
    """
    return get_rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if _initialized():
        dist.barrier()
