"""``shard_indices`` and ``sharded_plate``: disjoint seeded shards, scaling, replay, counters."""

from __future__ import annotations

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.distributed import (
    ShardedSubsample,
    get_shard_steps,
    reset_shard_steps,
    set_shard_steps,
    shard_indices,
    sharded_plate,
)
from ppl.poutine import replay, trace


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shards_partition_the_global_batch(world_size):
    size, b = 50, 7
    for step in range(3):
        parts = [
            shard_indices(size, b, step=step, seed=11, rank=r, world_size=world_size)
            for r in range(world_size)
        ]
        union = torch.cat(parts)
        assert union.dtype == torch.int64 and len(set(union.tolist())) == world_size * b
        assert torch.equal(union, shard_indices(size, world_size * b, step=step, seed=11))
        assert int(union.min()) >= 0 and int(union.max()) < size


def test_seed_and_step_change_the_batch_and_global_rng_does_not():
    a = shard_indices(1000, 10, step=0, seed=1)
    torch.manual_seed(123)
    assert torch.equal(a, shard_indices(1000, 10, step=0, seed=1))
    assert not torch.equal(a, shard_indices(1000, 10, step=1, seed=1))
    assert not torch.equal(a, shard_indices(1000, 10, step=0, seed=2))
    assert a.tolist() == shard_indices(1000, 10, step=0, seed=1).tolist()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 10, "subsample_size": 6, "world_size": 2}, r"2 ranks x subsample_size 6 = 12 "),
        ({"size": 0, "subsample_size": 1}, r"size and subsample_size must be positive"),
        ({"size": 10, "subsample_size": 0}, r"size and subsample_size must be positive"),
        ({"size": 10, "subsample_size": 2, "rank": 2, "world_size": 2}, r"rank must be in"),
        ({"size": 10, "subsample_size": 2, "step": -1}, r"step and seed must be >= 0"),
    ],
)
def test_shard_indices_errors(kwargs, match):
    kwargs.setdefault("step", 0)
    with pytest.raises(ValueError, match=match):
        shard_indices(**kwargs)


def test_plate_scales_by_size_over_local_batch_and_slices_local_params():
    ppl.clear_param_store()
    with trace() as tr:
        with sharded_plate("data", 100, 10, rank=1, world_size=4) as idx:
            loc = ppl.param("loc", torch.arange(100.0), event_dim=0)
            ppl.sample("x", dist.Normal(loc, 1.0), obs=torch.zeros(10))
    assert tr.trace.nodes["x"]["scale"] == 10.0  # size / per-rank batch
    assert torch.equal(loc, idx.to(torch.float32))  # the local param sliced to the shard
    assert torch.equal(idx, shard_indices(100, 10, step=0, rank=1, world_size=4))
    assert tr.trace.nodes["data"]["infer"]["is_subsample"]


def test_counter_advances_per_draw_not_per_replay():
    def guide():
        with sharded_plate("data", 30, 5, world_size=2, rank=0) as idx:
            return idx

    def model():
        with sharded_plate("data", 30, 5, world_size=2, rank=0) as idx:
            return idx

    guide_tr = trace(guide).get_trace()
    model_tr = trace(replay(model, trace=guide_tr)).get_trace()
    assert torch.equal(guide_tr.nodes["_RETURN"]["value"], model_tr.nodes["_RETURN"]["value"])
    assert get_shard_steps() == {"data": 1}
    second = guide()
    assert get_shard_steps() == {"data": 2}
    assert torch.equal(second, shard_indices(30, 5, step=1, world_size=2, rank=0))


def test_counters_save_and_restore():
    for _ in range(3):
        with sharded_plate("a", 10, 2):
            pass
    saved = get_shard_steps()
    assert saved == {"a": 3}
    with sharded_plate("a", 10, 2) as expected:
        pass
    set_shard_steps(saved)
    with sharded_plate("a", 10, 2) as again:
        pass
    assert torch.equal(expected, again)
    reset_shard_steps()
    assert get_shard_steps() == {}


@pytest.mark.parametrize(
    ("steps", "error", "match"),
    [
        ([("a", 1)], TypeError, r"expected a dict \{name: int\}, got list"),
        ({"a": 1.5}, TypeError, r"expected str -> int entries, got 'a': 1.5"),
        ({"a": -1}, ValueError, r"counter of plate 'a' must be >= 0, got -1"),
    ],
)
def test_set_shard_steps_errors(steps, error, match):
    with pytest.raises(error, match=match):
        set_shard_steps(steps)


def test_plate_name_must_be_a_string():
    with pytest.raises(TypeError, match=r"sharded_plate: name must be a str, got int"):
        sharded_plate(3, 10, 2)  # type: ignore[arg-type]


def test_plate_checks_the_global_batch_fits():
    with pytest.raises(ValueError, match=r"sharded_plate 'data': 4 ranks x subsample_size 3"):
        sharded_plate("data", 10, 3, rank=0, world_size=4)


def test_subsample_is_drawn_one_set_at_a_time():
    fn = ShardedSubsample("d", 10, 2, seed=0, rank=0, world_size=1, device=torch.device("cpu"))
    with pytest.raises(ValueError, match=r"drawn one set at a time"):
        fn.sample((2,))
    assert float(fn.log_prob(fn.sample())) == 0.0
