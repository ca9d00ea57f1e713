"""Reading torchrun's environment: device and backend selection, a world of one, errors."""

from __future__ import annotations

import pytest
import torch

from ppl.distributed import (
    default_backend,
    default_device,
    get_rank,
    get_world_size,
    init_distributed,
    is_main_process,
    local_rank,
)

TORCHRUN_ENV = {
    "RANK": "0",
    "LOCAL_RANK": "0",
    "WORLD_SIZE": "2",
    "MASTER_ADDR": "127.0.0.1",
    "MASTER_PORT": "29500",
}


def test_world_of_one_without_torchrun():
    ctx = init_distributed(env={})
    assert (ctx.rank, ctx.local_rank, ctx.world_size, ctx.backend) == (0, 0, 1, None)
    assert ctx.is_main and not ctx.distributed
    assert (get_rank(), get_world_size(), is_main_process()) == (0, 1, True)


def test_local_rank_reads_env():
    assert local_rank({}) == 0
    assert local_rank({"LOCAL_RANK": "5"}) == 5


@pytest.mark.parametrize("raw", ["x", "-1", "1.5"])
def test_local_rank_must_be_a_non_negative_int(raw):
    with pytest.raises(ValueError, match=r"LOCAL_RANK must be a non-negative integer, got"):
        local_rank({"LOCAL_RANK": raw})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_device_and_backend_without_cuda():
    assert default_device(3) == torch.device("cpu")
    assert default_backend(default_device(0)) == "gloo"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_follows_local_rank_on_cuda():
    assert default_device(0) == torch.device("cuda", 0)
    assert default_backend("cuda:0") == "nccl"
    with pytest.raises(ValueError, match=r"only \d+ CUDA device"):
        default_device(torch.cuda.device_count())


@pytest.mark.parametrize("missing", ["RANK", "MASTER_ADDR", "MASTER_PORT"])
def test_missing_torchrun_variable_names_it(missing):
    env = {k: v for k, v in TORCHRUN_ENV.items() if k != missing}
    with pytest.raises(
        ValueError, match=rf"{missing} is not set; launch the script with `torchrun"
    ):
        init_distributed(env=env)


def test_rank_must_be_below_world_size():
    env = dict(TORCHRUN_ENV, RANK="2")
    with pytest.raises(ValueError, match=r"RANK=2 must be smaller than WORLD_SIZE=2"):
        init_distributed(env=env)


@pytest.mark.skipif(torch.cuda.is_available(), reason="nccl is valid with CUDA")
def test_nccl_without_cuda_is_an_error():
    with pytest.raises(ValueError, match=r"backend 'nccl' needs CUDA.*use backend='gloo'"):
        init_distributed("nccl", env=TORCHRUN_ENV)


def test_backend_must_be_a_string():
    with pytest.raises(TypeError, match=r"backend must be a str such as 'gloo', got 3"):
        init_distributed(3, env=TORCHRUN_ENV)  # type: ignore[arg-type]
