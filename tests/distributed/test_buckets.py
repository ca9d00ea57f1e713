"""Bucket plans: grouping by device and dtype, the size cap, order, errors."""

from __future__ import annotations

import pytest
import torch

from ppl.distributed import plan_buckets


def test_groups_by_dtype_in_order_and_respects_the_cap():
    tensors = [
        torch.zeros(3),  # 12 bytes
        torch.zeros(2, dtype=torch.float64),  # 16 bytes
        torch.zeros(2),  # 8 bytes -> 20 > 16: new float32 bucket
        torch.zeros(10),  # 40 bytes, larger than the cap: a bucket of its own
        torch.zeros(1, dtype=torch.float64),  # 8 bytes -> 24 > 16: new float64 bucket
    ]
    plan = plan_buckets(tensors, cap_bytes=16)
    assert [(b.indices, b.dtype, b.numel) for b in plan] == [
        ((0,), torch.float32, 3),
        ((2,), torch.float32, 2),
        ((3,), torch.float32, 10),
        ((1,), torch.float64, 2),
        ((4,), torch.float64, 1),
    ]


def test_large_cap_packs_each_dtype_into_one_bucket():
    tensors = [torch.zeros(3), torch.zeros(2, 2), torch.zeros(4, dtype=torch.float64)]
    plan = plan_buckets(tensors, cap_bytes=2**20)
    assert [(b.indices, b.numel) for b in plan] == [((0, 1), 7), ((2,), 4)]
    assert sorted(i for b in plan for i in b.indices) == [0, 1, 2]


def test_cap_must_be_positive():
    with pytest.raises(ValueError, match=r"bucket cap must be positive, got 0 bytes"):
        plan_buckets([torch.zeros(1)], cap_bytes=0)
