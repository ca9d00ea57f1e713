"""Micro-benchmark: the cost of one ``sample`` statement inside ``trace``.

Two workloads, each timed for ppl and (when installed) Pyro in the same run:

* ``sample``: one ``sample("x", Normal(0, 1))`` under ``poutine.trace``;
* ``3 plates``: the same statement inside three nested plates (2 x 3 x 4).

Prints microseconds per traced call (median of interleaved repeats) and the ratio
Pyro / ppl. One torch thread by default, validation off for both (say
``--validate`` to turn it on). Run on an idle machine:

    python scripts/bench_sample.py --repeats 5 --calls 2000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch


def make_workloads(lib, dist) -> dict[str, Callable[[], object]]:
    def one_sample():
        lib.sample("x", dist.Normal(0.0, 1.0))

    def three_plates():
        with lib.plate("a", 2), lib.plate("b", 3), lib.plate("c", 4):
            lib.sample("x", dist.Normal(0.0, 1.0))

    return {
        "sample": lambda: lib.poutine.trace(one_sample).get_trace(),
        "3 plates": lambda: lib.poutine.trace(three_plates).get_trace(),
    }


def time_per_call(fn: Callable[[], object], calls: int) -> float:
    for _ in range(min(100, calls)):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--validate", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import ppl
    import ppl.distributions as pdist

    libraries = {"ppl": make_workloads(ppl, pdist)}
    ppl.enable_validation(args.validate)
    try:
        import pyro
        import pyro.distributions as pyro_dist

        pyro.enable_validation(args.validate)
        libraries["pyro"] = make_workloads(pyro, pyro_dist)
    except ImportError:
        print("pyro-ppl is not installed: timing ppl only (pip install 'ppl[bench]')")

    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for lib_name, workloads in libraries.items():
            for work_name, fn in workloads.items():
                results.setdefault((lib_name, work_name), []).append(time_per_call(fn, args.calls))

    print(
        f"threads={args.threads} validation={'on' if args.validate else 'off'} "
        f"calls={args.calls} repeats={args.repeats} (median us per traced call)"
    )
    print(f"{'workload':<10} {'ppl us':>10} {'pyro us':>10} {'pyro/ppl':>9}")
    for work_name in libraries["ppl"]:
        ours = statistics.median(results[("ppl", work_name)])
        theirs = results.get(("pyro", work_name))
        if theirs:
            t = statistics.median(theirs)
            print(f"{work_name:<10} {ours:>10.1f} {t:>10.1f} {t / ours:>8.2f}x")
        else:
            print(f"{work_name:<10} {ours:>10.1f} {'-':>10} {'-':>9}")


if __name__ == "__main__":
    main()
