"""Collectives over many small tensors, packed into a few flat buffers ("buckets").

Design notes
------------
A guide has many small parameters (a ``loc`` and a ``scale`` per latent site). One
collective per tensor would pay the network latency once per tensor; instead the tensors
are packed, in the order given, into flat buffers of at most ``cap_bytes`` each (one
buffer never mixes devices or dtypes), each buffer is reduced or broadcast with one
collective, and the results are copied back into the original tensors. All buckets are
launched asynchronously and then waited for, so their transfers overlap.

Every rank must call these functions with tensors of the same names, shapes and dtypes in
the same order (the caller sorts by name); the bucket plan then agrees on every rank.
A bucket holding a single contiguous tensor is communicated in place, without a copy.

Example:
    >>> plan_buckets([torch.zeros(3), torch.zeros(2, dtype=torch.float64)], cap_bytes=1024)
    [Bucket(indices=(0,), device=device(type='cpu'), dtype=torch.float32, numel=3), \
Bucket(indices=(1,), device=device(type='cpu'), dtype=torch.float64, numel=2)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Bucket", "all_reduce_mean_", "broadcast_", "comm_device", "plan_buckets"]

DEFAULT_CAP_BYTES = 25 * 2**20


@dataclass(frozen=True)
class Bucket:
    """One flat buffer: which tensors (by position) it packs, their device, dtype, size."""

    indices: tuple[int, ...]
    device: torch.device
    dtype: torch.dtype
    numel: int


def plan_buckets(tensors: Sequence[torch.Tensor], cap_bytes: int) -> list[Bucket]:
    """Group ``tensors`` into buckets of one device and dtype, each at most ``cap_bytes``.

    Tensors keep their relative order inside a (device, dtype) group; groups appear in the
    order of their first tensor. A tensor larger than ``cap_bytes`` gets a bucket of its own.

    Args:
        tensors: the tensors to pack.
        cap_bytes: the largest size of a bucket in bytes (positive).

    Returns:
        The buckets; together they hold every tensor exactly once.

    Raises:
        ValueError: if ``cap_bytes`` is not positive.
    """
    if cap_bytes <= 0:
        raise ValueError(f"bucket cap must be positive, got {cap_bytes} bytes")
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.device, t.dtype), []).append(i)
    buckets: list[Bucket] = []
    for (device, dtype), indices in groups.items():
        itemsize = torch.empty((), dtype=dtype).element_size()
        current: list[int] = []
        numel = 0
        for i in indices:
            n = tensors[i].numel()
            if current and (numel + n) * itemsize > cap_bytes:
                buckets.append(Bucket(tuple(current), device, dtype, numel))
                current, numel = [], 0
            current.append(i)
            numel += n
        if current:
            buckets.append(Bucket(tuple(current), device, dtype, numel))
    return buckets


def comm_device(group: dist.ProcessGroup | None = None) -> torch.device:
    """The device small bookkeeping tensors must live on for ``group``'s backend.

    NCCL only moves CUDA tensors (the current CUDA device); gloo works on the CPU.
    """
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _pack(tensors: Sequence[torch.Tensor], bucket: Bucket) -> torch.Tensor:
    if len(bucket.indices) == 1:
        t = tensors[bucket.indices[0]]
        if t.is_contiguous():
            return t.view(-1)  # shares memory: communicated in place
    return torch.cat([tensors[i].reshape(-1) for i in bucket.indices])


def _unpack(flat: torch.Tensor, tensors: Sequence[torch.Tensor], bucket: Bucket) -> None:
    if len(bucket.indices) == 1 and flat.data_ptr() == tensors[bucket.indices[0]].data_ptr():
        return
    sizes = [tensors[i].numel() for i in bucket.indices]
    for i, part in zip(bucket.indices, torch.split(flat, sizes)):
        tensors[i].copy_(part.view_as(tensors[i]))


def all_reduce_mean_(
    tensors: Sequence[torch.Tensor],
    *,
    group: dist.ProcessGroup | None = None,
    cap_bytes: int = DEFAULT_CAP_BYTES,
) -> None:
    """Replace each tensor, in place, by its average over the ranks of ``group``.

    Args:
        tensors: floating tensors (e.g. gradients), same shapes/dtypes/order on every rank.
        group: the process group (default: the whole job).
        cap_bytes: the largest bucket in bytes.

    Raises:
        ValueError: if a tensor is sparse or not floating point.
    """
    for t in tensors:
        if t.is_sparse or not t.is_floating_point():
            raise ValueError(
                "all_reduce_mean_: expected dense floating-point tensors, got a "
                f"{'sparse ' if t.is_sparse else ''}{t.dtype} tensor of shape {tuple(t.shape)}; "
                "sparse gradients are not supported (use dense parameters)"
            )
    world = dist.get_world_size(group)
    buckets = plan_buckets(tensors, cap_bytes)
    flats = [_pack(tensors, b) for b in buckets]
    works = [dist.all_reduce(flat, group=group, async_op=True) for flat in flats]
    for work, flat, bucket in zip(works, flats, buckets):
        work.wait()
        flat.div_(world)
        _unpack(flat, tensors, bucket)


def broadcast_(
    tensors: Sequence[torch.Tensor],
    *,
    src: int = 0,
    group: dist.ProcessGroup | None = None,
    cap_bytes: int = DEFAULT_CAP_BYTES,
) -> None:
    """Overwrite each tensor, in place, with its value on global rank ``src``.

    Args:
        tensors: tensors (detached views of parameters), same shapes/dtypes on every rank.
        src: the global rank whose values win.
        group: the process group (default: the whole job).
        cap_bytes: the largest bucket in bytes.
    """
    buckets = plan_buckets(tensors, cap_bytes)
    flats = [_pack(tensors, b) for b in buckets]
    works = [dist.broadcast(flat, src=src, group=group, async_op=True) for flat in flats]
    for work, flat, bucket in zip(works, flats, buckets):
        work.wait()
        _unpack(flat, tensors, bucket)
