"""Weak-scaling benchmark of data-parallel SVI: steps/s with 1 and 2 CPU processes.

Workload: Bayesian logistic regression (N data points, D features) with an ``AutoNormal``
guide (``--guide manual`` for a hand-written mean-field guide), ``Trace_ELBO`` and Adam.
Each rank draws a fixed per-rank batch from ``ppl.distributed.sharded_plate`` (weak
scaling: the global batch grows with the number of processes), gradients are averaged by
``ppl.distributed.DistributedOptimizer`` over gloo. Every process uses one thread
(``torch.set_num_threads(1)``), so P processes need P cores.

Run ``python scripts/bench_distributed.py`` (it starts ``torchrun`` once per process
count, on 127.0.0.1); or run one configuration yourself, which is also how it runs on
several GPUs or nodes::

    torchrun --nproc_per_node 2 scripts/bench_distributed.py --worker

Printed per process count: steps/s, data points/s over all ranks, the weak-scaling
efficiency (steps/s relative to one process) and the all-reduce time per step (the
collectives of ``DistributedOptimizer.step``: consistency check and bucketed gradient
all-reduce, measured on rank 0).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

import ppl
import ppl.distributions as dist
import ppl.optim
from ppl.distributed import (
    DistributedOptimizer,
    init_distributed,
    is_main_process,
    sharded_plate,
    shutdown_distributed,
)
from ppl.distributions import constraints
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO

RESULT_TAG = "BENCH_RESULT "


def make_data(n: int, d: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The same synthetic data set on every rank (seeded)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, generator=g)
    y = (torch.rand(n, generator=g) < torch.sigmoid(x @ w)).float()
    return x.to(device), y.to(device)


def model(x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    d = x.shape[1]
    w = ppl.sample("w", dist.Normal(torch.zeros(d, device=x.device), 1.0).to_event(1))
    b = ppl.sample("b", dist.Normal(torch.zeros((), device=x.device), 1.0))
    with sharded_plate("data", x.shape[0], batch, device=x.device) as idx:
        ppl.sample("obs", dist.Bernoulli(logits=x[idx] @ w + b), obs=y[idx])


def manual_guide(x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    d = x.shape[1]
    w_loc = ppl.param("w_loc", torch.zeros(d, device=x.device))
    w_scale = ppl.param("w_scale", torch.full((d,), 0.1, device=x.device), constraints.positive)
    b_loc = ppl.param("b_loc", torch.zeros((), device=x.device))
    b_scale = ppl.param("b_scale", torch.full((), 0.1, device=x.device), constraints.positive)
    ppl.sample("w", dist.Normal(w_loc, w_scale).to_event(1))
    ppl.sample("b", dist.Normal(b_loc, b_scale))


def worker(args: argparse.Namespace) -> None:
    """One rank of one configuration; rank 0 prints a tagged JSON line."""
    torch.set_num_threads(1)
    ctx = init_distributed()
    ppl.set_rng_seed(0)
    ppl.enable_validation(False)
    x, y = make_data(args.size, args.features, ctx.device)
    if args.guide == "auto":
        from ppl.infer.autoguide import AutoNormal

        guide = AutoNormal(model)
        guide.setup(x, y, args.batch)  # every parameter exists before the first step
    else:
        guide = manual_guide
        manual_guide(x, y, args.batch)
    optim = DistributedOptimizer(ppl.optim.Adam({"lr": 0.01}), check_consistency=args.check)
    optim.setup()  # all ranks start from rank 0's values
    svi = SVI(model, guide, optim, Trace_ELBO())
    for _ in range(args.warmup):
        svi.step(x, y, args.batch)
    comm0, steps0 = optim.comm_seconds, optim.num_steps
    start = time.perf_counter()
    for _ in range(args.steps):
        svi.step(x, y, args.batch)
    elapsed = time.perf_counter() - start
    comm = (optim.comm_seconds - comm0) / max(1, optim.num_steps - steps0)
    if is_main_process():
        result = {
            "nproc": ctx.world_size,
            "steps_per_s": args.steps / elapsed,
            "allreduce_ms": 1e3 * comm,
            "batch": args.batch,
        }
        print(RESULT_TAG + json.dumps(result), flush=True)
    shutdown_distributed()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc: int, args: argparse.Namespace) -> dict:
    """Run this script under torchrun with ``nproc`` processes; return rank 0's result."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes", "1", "--nproc_per_node", str(nproc),
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        __file__, "--worker",
        "--size", str(args.size), "--features", str(args.features), "--batch", str(args.batch),
        "--steps", str(args.steps), "--warmup", str(args.warmup), "--guide", args.guide,
        *([] if args.check else ["--no-check"]),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SystemExit(f"{nproc} processes: timed out after {args.timeout} s") from None
    for line in output.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    raise SystemExit(f"{nproc} processes failed (code {proc.returncode}):\n{output[-3000:]}")


def main(argv: list[str] | None = None) -> None:
    # (option names must not abbreviate a torchrun option: torchrun sees them first)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--size", type=int, default=100_000, help="data points N")
    parser.add_argument("--features", type=int, default=100, help="features D")
    parser.add_argument("--batch", type=int, default=1000, help="per-rank batch (fixed)")
    parser.add_argument("--steps", type=int, default=300, help="timed steps")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--guide", choices=["auto", "manual"], default="auto")
    parser.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="skip the per-step check that all ranks step the same parameters",
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of R runs per count")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--worker", action="store_true", help="run one rank (under torchrun)")
    parser.add_argument("--quick", action="store_true", help="few steps, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 50, 5, 1
    if args.worker:
        worker(args)
        return
    print(
        f"logistic regression N={args.size} D={args.features}, guide={args.guide}, per-rank batch "
        f"{args.batch}, {args.steps} steps, 1 thread per process, gloo on 127.0.0.1, "
        f"best of {args.repeats}, consistency check {'on' if args.check else 'off'}"
    )
    results: dict[int, dict] = {}
    for _ in range(args.repeats):  # interleave the counts so load changes hit all alike
        for nproc in args.nprocs:
            r = launch(nproc, args)
            if nproc not in results or r["steps_per_s"] > results[nproc]["steps_per_s"]:
                results[nproc] = r
    base = results[min(results)]["steps_per_s"]
    print(
        f"{'procs':>5} {'global batch':>12} {'steps/s':>9} {'points/s':>10} "
        f"{'efficiency':>10} {'all-reduce ms/step':>19}"
    )
    for nproc in sorted(results):
        r = results[nproc]
        print(
            f"{nproc:>5} {nproc * args.batch:>12} {r['steps_per_s']:>9.1f} "
            f"{r['steps_per_s'] * nproc * args.batch:>10.0f} {r['steps_per_s'] / base:>10.2f} "
            f"{r['allreduce_ms']:>19.3f}"
        )


if __name__ == "__main__":
    main()
