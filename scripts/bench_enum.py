"""Benchmark enumerated SVI steps/s: ppl eager and compiled beside Pyro (issue 15).

Two workloads, the same code for both libraries (``lib`` is ``ppl`` or ``pyro``):

* ``gmm``: a 3-component Gaussian mixture on N=1000 points, ``AutoDelta`` on the
  globals (weights, locs, scale), the assignments enumerated in a plate;
* ``hmm``: a 3-state HMM with Gaussian emissions, 50 sequences of T=200 steps, the
  states enumerated inside ``markov`` (time) and a plate (sequences).

Modes: ``eager`` (``TraceEnum_ELBO``), ``jit`` (``JitTraceEnum_ELBO``) for both, and for
ppl ``compile`` (``SVI(..., compile=True)``). Each row reports the steps/s after the
first steps (which include any tracing or compile time, reported as ``first_s``).
Pyro runs in another interpreter (``--pyro-python``) executing this same file with
``--lib pyro``. One thread (``torch.set_num_threads(1)``) unless ``--threads``.

Usage:
    python scripts/bench_enum.py --pyro-python /tmp/benchenv/bin/python
    python scripts/bench_enum.py --quick           # fewer steps, ppl only
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from typing import Any

import torch


def gmm_workload(lib: Any, n: int = 1000, k: int = 3) -> tuple[Any, Any, tuple]:
    dist = lib.distributions
    torch.manual_seed(0)
    data = torch.cat([torch.randn(n // k) + 4.0 * c for c in range(k)])

    @lib.infer.config_enumerate
    def model(data: torch.Tensor) -> None:
        weights = lib.sample("weights", dist.Dirichlet(torch.ones(k)))
        scale = lib.sample("scale", dist.LogNormal(0.0, 2.0))
        with lib.plate("components", k):
            locs = lib.sample("locs", dist.Normal(0.0, 10.0))
        with lib.plate("data", len(data)):
            z = lib.sample("z", dist.Categorical(weights))
            lib.sample("obs", dist.Normal(locs[z], scale), obs=data)

    guide = lib.infer.autoguide.AutoDelta(
        lib.poutine.block(model, expose=["weights", "scale", "locs"])
    )
    return model, guide, (data,)


def hmm_workload(lib: Any, t: int = 200, seqs: int = 50, states: int = 3) -> tuple:
    dist = lib.distributions
    torch.manual_seed(0)
    data = torch.randn(t, seqs)

    @lib.infer.config_enumerate
    def model(data: torch.Tensor) -> None:
        with lib.plate("states", states):
            trans = lib.sample("trans", dist.Dirichlet(torch.ones(states)))
            locs = lib.sample("locs", dist.Normal(0.0, 5.0))
        with lib.plate("sequences", data.shape[1], dim=-1):
            x: Any = 0
            for i in lib.markov(range(data.shape[0])):
                x = lib.sample(f"x_{i}", dist.Categorical(trans[x]))
                lib.sample(f"y_{i}", dist.Normal(locs[x], 1.0), obs=data[i])

    guide = lib.infer.autoguide.AutoDelta(lib.poutine.block(model, expose=["trans", "locs"]))
    return model, guide, (data,)


def run_one(lib_name: str, workload: str, mode: str, steps: int) -> dict[str, float]:
    lib = importlib.import_module(lib_name)
    importlib.import_module(lib_name + ".infer.autoguide")
    lib.clear_param_store()
    model, guide, args = (gmm_workload if workload == "gmm" else hmm_workload)(lib)
    kwargs: dict[str, Any] = {}
    if mode == "jit":
        elbo = lib.infer.JitTraceEnum_ELBO(max_plate_nesting=1)
    else:
        elbo = lib.infer.TraceEnum_ELBO(max_plate_nesting=1)
        if mode == "compile":
            kwargs["compile"] = True
    svi = lib.infer.SVI(model, guide, lib.optim.Adam({"lr": 0.01}), elbo, **kwargs)
    start = time.perf_counter()
    for _ in range(3):
        svi.step(*args)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        loss = svi.step(*args)
    rate = steps / (time.perf_counter() - start)
    return {"steps_per_s": rate, "first_s": first, "loss": float(loss)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", default="ppl", choices=["ppl", "pyro"])
    parser.add_argument("--pyro-python", default=None)
    parser.add_argument("--workloads", default="gmm,hmm")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON dict (internal)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps = {"gmm": 20 if args.quick else 100, "hmm": 3 if args.quick else 10}
    modes = ["eager", "jit"] + (["compile"] if args.lib == "ppl" else [])
    results: dict[str, dict[str, float]] = {}
    for workload in args.workloads.split(","):
        for mode in modes:
            try:
                results[f"{workload}/{mode}"] = run_one(args.lib, workload, mode, steps[workload])
            except Exception as e:  # report and go on: one broken mode must not hide the rest
                results[f"{workload}/{mode}"] = {"error": f"{type(e).__name__}: {e}"[:200]}
    if args.json:
        print(json.dumps(results))
        return
    rows = {f"ppl {k}": v for k, v in results.items()}
    if args.pyro_python:
        cmd = [args.pyro_python, __file__, "--lib", "pyro", "--json", "--workloads", args.workloads]
        cmd += ["--threads", str(args.threads)] + (["--quick"] if args.quick else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        try:
            pyro_rows = json.loads(out.stdout.strip().splitlines()[-1])
            rows.update({f"pyro {k}": v for k, v in pyro_rows.items()})
        except (IndexError, json.JSONDecodeError):
            print("pyro run failed:", out.stderr[-2000:], file=sys.stderr)
    print(f"{'run':24s} {'steps/s':>9s} {'first 3 steps (s)':>18s} {'vs pyro eager':>14s}")
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:24s} {r['error']}")
            continue
        base = rows.get(f"pyro {name.split()[1].split('/')[0]}/eager", {})
        ratio = f"{r['steps_per_s'] / base['steps_per_s']:.2f}x" if "steps_per_s" in base else "-"
        print(f"{name:24s} {r['steps_per_s']:9.2f} {r['first_s']:18.2f} {ratio:>14s}")


if __name__ == "__main__":
    main()
