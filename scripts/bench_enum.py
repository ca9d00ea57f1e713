"""Benchmark enumerated SVI steps/s: ppl eager and compiled beside Pyro (issue 15).

Two workloads, the same code for both libraries (``lib`` is ``ppl`` or ``pyro``):

* ``gmm``: a 3-component Gaussian mixture on N=1000 points, ``AutoDelta`` on the
  globals (weights, locs, scale), the assignments enumerated in a plate;
* ``hmm``: a 3-state HMM with Gaussian emissions, 50 sequences of T=200 steps, the
  states enumerated inside ``markov`` (time) and a plate (sequences).

Modes: ``eager`` (``TraceEnum_ELBO``), ``jit`` (``JitTraceEnum_ELBO``) for both, and for
ppl ``compile`` (``SVI(..., compile=True)``). Each row reports the steps/s after the
first ``WARMUP_STEPS`` (which include any tracing or compile time, ``first_s``) and
the peak resident memory of the process (``ru_maxrss``); ``cpu steps/s`` counts the
process's CPU time instead of wall time (less sensitive to other processes' load).
Every (library, workload, mode) runs in its own subprocess -- Pyro's in another
interpreter (``--pyro-python``) executing this same file with ``--lib pyro`` -- so peak
memory is each run's own; with
``--rounds R`` the runs are interleaved R times (ppl, Pyro, ppl, ...) and the median
rate is reported, so load from other processes hits both libraries alike. The load
average is printed with the table. One thread (``torch.set_num_threads(1)``) unless
``--threads``.

Usage:
    python scripts/bench_enum.py --pyro-python /tmp/benchenv/bin/python
    python scripts/bench_enum.py --quick --modes eager   # fewer steps, eager only
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

WARMUP_STEPS = 6
"""Steps before the timed ones: the compiled step compiles at the 2nd, and TorchScript
(``jit``, both libraries) profiles the traced graph for two runs and optimizes it at the
next, which on a T=200 chain takes longer than hundreds of steady steps."""


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


def run_one(
    lib_name: str, workload: str, mode: str, steps: int, min_seconds: float = 0.0
) -> dict[str, float]:
    """Steps/s of one (library, workload, mode) after the warm-up steps: at least ``steps``
    steps and ``min_seconds`` of them."""
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
    for _ in range(WARMUP_STEPS):
        svi.step(*args)
    first = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    done = 0
    while done < steps or time.perf_counter() - start < min_seconds:
        loss = svi.step(*args)
        done += 1
    rate = done / (time.perf_counter() - start)
    cpu_rate = done / max(time.process_time() - cpu_start, 1e-9)
    return {
        "steps_per_s": rate,
        "cpu_steps_per_s": cpu_rate,
        "first_s": first,
        "loss": float(loss),
        "steps": done,
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def run_subprocess(python: str, lib: str, workload: str, mode: str, args: Any) -> dict[str, Any]:
    """One run in a fresh interpreter; its JSON result (or ``{"error": ...}``)."""
    cmd = [python, __file__, "--lib", lib, "--one", f"{workload}/{mode}"]
    cmd += ["--threads", str(args.threads)] + (["--quick"] if args.quick else [])
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": f"{lib} run failed: {out.stderr.strip()[-300:]}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", default="ppl", choices=["ppl", "pyro"])
    parser.add_argument("--pyro-python", default=None)
    parser.add_argument("--workloads", default="gmm,hmm")
    parser.add_argument("--modes", default="eager,jit,compile")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--one", default=None, help="run one workload/mode, print JSON (internal)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps = {"gmm": 20 if args.quick else 100, "hmm": 3 if args.quick else 10}
    seconds = 2.0 if args.quick else 5.0
    if args.one is not None:
        workload, mode = args.one.split("/")
        try:
            result: dict[str, Any] = run_one(args.lib, workload, mode, steps[workload], seconds)
        except Exception as e:  # report and go on: one broken mode must not hide the rest
            result = {"error": f"{type(e).__name__}: {e}"[:200]}
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    libs = [("ppl", sys.executable)] + ([("pyro", args.pyro_python)] if args.pyro_python else [])
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for workload in args.workloads.split(","):
            for mode in args.modes.split(","):
                for lib, python in libs:
                    if lib == "pyro" and mode == "compile":
                        continue  # Pyro has no SVI(compile=True)
                    result = run_subprocess(python, lib, workload, mode, args)
                    runs.setdefault(f"{lib} {workload}/{mode}", []).append(result)
    rows = {name: _median_row(results) for name, results in runs.items()}
    print(f"load average (1, 5, 15 min) after the runs: {os.getloadavg()}")
    header = f"{'run':20s} {'steps/s':>9s} {'cpu steps/s':>11s} {'first 6 steps (s)':>18s}"
    print(f"{header} {'peak RSS (MiB)':>15s} {'vs pyro eager':>14s} {'vs pyro jit':>12s}")
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:20s} {r['error']}")
            continue
        workload = name.split()[1].split("/")[0]
        ratios = []
        for base_mode in ("eager", "jit"):
            base = rows.get(f"pyro {workload}/{base_mode}", {})
            ok = "steps_per_s" in base
            ratios.append(f"{r['steps_per_s'] / base['steps_per_s']:.2f}x" if ok else "-")
        print(
            f"{name:20s} {r['steps_per_s']:9.2f} {r['cpu_steps_per_s']:11.2f} {r['first_s']:18.2f}"
            f" {r['peak_rss_mb']:15.0f}"
            f" {ratios[0]:>14s} {ratios[1]:>12s}"
        )


def _median_row(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate among the successful ones (else the first error)."""
    good = sorted((r for r in results if "error" not in r), key=lambda r: r["steps_per_s"])
    if not good:
        return results[0]
    row = dict(good[len(good) // 2])
    row["steps_per_s"] = statistics.median(r["steps_per_s"] for r in good)
    row["cpu_steps_per_s"] = statistics.median(r["cpu_steps_per_s"] for r in good)
    return row


if __name__ == "__main__":
    main()
