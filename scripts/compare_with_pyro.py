"""Run the Pyro-style example scripts under ppl and under real Pyro, side by side.

The scripts live in ``tests/compat/scripts_pyro/`` and are written with
``import ppl as pyro``; for the Pyro column their import lines are rewritten to
``pyro`` (nothing else changes). Each script's ``main()`` returns a dict of numbers,
printed here in two columns with the absolute difference. Pyro (``pyro-ppl``) is
optional: without it only the ppl column is printed.

Usage:
    python scripts/compare_with_pyro.py                   # every script
    python scripts/compare_with_pyro.py coin_beta_guide   # some scripts
    python scripts/compare_with_pyro.py --seed 1 --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

_LOADER = Path(__file__).resolve().parents[1] / "tests" / "compat" / "scripts_pyro" / "loader.py"


def _load_loader() -> Any:
    spec = importlib.util.spec_from_file_location("ppl_compat_loader", _LOADER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(loader: Any, name: str, backend: str, seed: int, tmp: str) -> tuple[dict, float]:
    options: dict[str, Any] = {"seed": seed}
    if name == "param_store_io":
        options["path"] = str(Path(tmp) / f"{backend}.pt")
    start = time.perf_counter()
    out = loader.load_script(name, backend).main(**options)
    return out, time.perf_counter() - start


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        shown = ", ".join(f"{v:.4g}" for v in value[:4])
        return f"[{shown}{', ...' if len(value) > 4 else ''}]"
    text = str(value).replace("\n", " | ")
    return text if len(text) <= 38 else text[:35] + "..."


def _diff(a: Any, b: Any) -> str:
    if isinstance(a, float) and isinstance(b, float):
        return f"{abs(a - b):.2g}"
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a:
        if all(isinstance(v, float) for v in a + b):
            return f"{max(abs(x - y) for x, y in zip(a, b)):.2g}"
    return "same" if a == b else "DIFFERENT"


def main(argv: list[str] | None = None) -> int:
    """Print ppl and Pyro results for each script; return a process exit code."""
    loader = _load_loader()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scripts", nargs="*", help=f"default: all of {loader.script_names()}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scripts) - set(loader.script_names()))
    if unknown:
        parser.error(f"unknown scripts {unknown}; known: {loader.script_names()}")
    torch.set_num_threads(args.threads)
    backends = ["ppl"] + (["pyro"] if loader.pyro_available() else [])
    if len(backends) == 1:
        print("pyro-ppl is not installed: printing the ppl column only")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scripts or loader.script_names():
            results = {b: _run(loader, name, b, args.seed, tmp) for b in backends}
            times = "  ".join(f"{b} {results[b][1]:.1f}s" for b in backends)
            print(f"\n== {name}  ({times})")
            head = f"  {'key':<24} {'ppl':<40}"
            print(head + (f" {'pyro':<40} diff" if "pyro" in results else ""))
            ours = results["ppl"][0]
            for key, value in ours.items():
                line = f"  {key:<24} {_cell(value):<40}"
                if "pyro" in results:
                    theirs = results["pyro"][0].get(key)
                    line += f" {_cell(theirs):<40} {_diff(value, theirs)}"
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
