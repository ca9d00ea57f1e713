"""Worker run by ``torchrun`` in ``test_two_ranks.py``: every scenario, one result file per rank.

Usage: ``torchrun --nproc_per_node 2 dist_worker.py OUT_DIR`` (loopback, gloo). Each rank
writes ``OUT_DIR/rank{r}.pt`` with plain data; the test compares the files with each
other and with an in-process single-process run.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

import ppl
import ppl.optim
from ppl.distributed import (
    DistributedOptimizer,
    all_reduce_mean_,
    init_distributed,
    is_main_process,
    reset_shard_steps,
    shard_indices,
    shutdown_distributed,
)

sys.path.insert(0, str(Path(__file__).parent))
from dist_models import N, run_svi  # noqa: E402

K_STEPS, BATCH = 6, 8


def svi_scenario(out: dict) -> None:
    reset_shard_steps()
    params, losses = run_svi(DistributedOptimizer(ppl.optim.Adam({"lr": 0.05})), BATCH, K_STEPS)
    out["svi_params"], out["svi_losses"] = params, losses
    ctx = out["ctx"]
    out["shards"] = [
        shard_indices(N, BATCH, step=s, seed=7, rank=ctx["rank"], world_size=2)
        for s in range(K_STEPS)
    ]


def error_message(fn) -> str | None:
    try:
        fn()
    except ValueError as error:
        return str(error)
    return None


def mismatch_scenario(out: dict, rank: int) -> None:
    opt = DistributedOptimizer(ppl.optim.SGD({"lr": 1.0}))
    a = torch.zeros(2, requires_grad=True)
    a.grad = torch.ones(2)
    named = {"a": a}
    if rank == 1:
        extra = torch.zeros(1, requires_grad=True)
        extra.grad = torch.ones(1)
        named["extra"] = extra
    out["mismatch_names"] = error_message(lambda: opt.step(named))
    shaped = {"a": torch.zeros(2 + rank, requires_grad=True)}
    out["mismatch_shapes"] = error_message(lambda: opt.setup(shaped))
    out["mismatch_left_a"] = a.detach().clone()


def presence_scenario(out: dict, rank: int) -> None:
    # "a" has a gradient on rank 0 only, "c" on no rank: a moves by the average, c stays.
    opt = DistributedOptimizer(ppl.optim.SGD({"lr": 1.0}))
    a = torch.zeros(2, requires_grad=True)
    c = torch.zeros(3, requires_grad=True)
    if rank == 0:
        a.grad = torch.tensor([1.0, 3.0])
    opt.step({"a": a, "c": c})
    out["presence_a"], out["presence_c"] = a.detach().clone(), c.detach().clone()
    out["presence_c_grad_is_none"] = c.grad is None


def broadcast_scenario(out: dict, rank: int) -> None:
    opt = DistributedOptimizer(ppl.optim.SGD({"lr": 0.5}), bucket_cap_mb=1e-5)
    z = torch.full((4,), float(rank + 1), requires_grad=True)
    m = torch.full((2, 2), 10.0 * (rank + 1), dtype=torch.float64, requires_grad=True)
    opt.setup({"z": z, "m": m})  # rank 0's values everywhere
    out["setup_z"], out["setup_m"] = z.detach().clone(), m.detach().clone()
    # q is new at step time: broadcast first, then the averaged gradient is applied
    q = torch.full((3,), 5.0 * (rank + 1), requires_grad=True)
    q.grad = torch.full((3,), float(rank))  # average 0.5
    z.grad = torch.full((4,), 2.0 * rank)  # average 1.0
    opt.step({"z": z, "q": q})
    out["step_q"], out["step_z"] = q.detach().clone(), z.detach().clone()
    out["comm_seconds"], out["num_steps"] = opt.comm_seconds, opt.num_steps


def bucket_scenario(out: dict, rank: int) -> None:
    r = float(rank)
    tensors = [
        torch.full((3,), r),
        torch.arange(6.0).reshape(2, 3).t() * (r + 1),  # not contiguous
        torch.full((5,), 2 * r, dtype=torch.float64),
        torch.full((1,), r),
    ]
    all_reduce_mean_(tensors, cap_bytes=16)  # several buckets of each dtype
    out["buckets"] = [t.clone() for t in tensors]


def lbfgs_scenario(out: dict, rank: int) -> None:
    # rank r minimizes 0.5 |x - t_r|^2; the averaged problem's minimum is mean(t_r) = (1, 2)
    target = torch.tensor([0.0, 1.0]) if rank == 0 else torch.tensor([2.0, 3.0])
    x = torch.zeros(2, requires_grad=True)
    opt = DistributedOptimizer(ppl.optim.LBFGS({"lr": 1.0}))
    losses = []

    def closure():
        x.grad = None
        loss = 0.5 * ((x - target) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        losses.append(float(opt.step({"x": x}, closure=closure)))
    out["lbfgs_x"], out["lbfgs_losses"] = x.detach().clone(), losses


def plateau_scenario(out: dict, rank: int) -> None:
    sched = DistributedOptimizer(
        ppl.optim.ReduceLROnPlateau(
            {"optimizer": torch.optim.SGD, "optim_args": {"lr": 1.0}, "factor": 0.5, "patience": 0}
        )
    )
    w = torch.zeros(1, requires_grad=True)
    w.grad = torch.ones(1)
    sched.step({"w": w})  # creates optimizer and scheduler
    # rank 0 gets worse, rank 1 better; the average (1.0 -> 1.25) is worse: both halve lr
    sched.step(1.0)
    sched.step(2.0 if rank == 0 else 0.5)
    out["plateau_lr"] = sched.get_last_lr()


def finite_scenario(out: dict, rank: int) -> None:
    opt = DistributedOptimizer(ppl.optim.Adam({"lr": 0.1}))
    out["all_finite"] = [opt.all_finite(True), opt.all_finite(rank == 0)]


def save_scenario(out: dict, rank: int, out_dir: Path) -> None:
    opt = DistributedOptimizer(ppl.optim.Adam({"lr": 0.1}))
    w = torch.zeros(2, requires_grad=True)
    w.grad = torch.ones(2)
    opt.step({"w": w})
    opt.save(out_dir / f"optim_rank{rank}.pt")
    dist.barrier()
    opt.load(out_dir / "optim_rank0.pt")  # every rank reads rank 0's file
    out["loaded_names"] = list(opt.state_dict()["state"])


def main() -> None:
    out_dir = Path(sys.argv[1])
    ctx = init_distributed(timeout=timedelta(seconds=60))
    rank = ctx.rank
    out: dict = {
        "ctx": {
            "rank": rank,
            "world_size": ctx.world_size,
            "backend": ctx.backend,
            "device": str(ctx.device),
            "is_main": is_main_process(),
        }
    }
    torch.set_num_threads(1)
    svi_scenario(out)
    mismatch_scenario(out, rank)
    presence_scenario(out, rank)
    broadcast_scenario(out, rank)
    bucket_scenario(out, rank)
    lbfgs_scenario(out, rank)
    plateau_scenario(out, rank)
    finite_scenario(out, rank)
    save_scenario(out, rank, out_dir)
    torch.save(out, out_dir / f"rank{rank}.pt")
    shutdown_distributed()


if __name__ == "__main__":
    main()
