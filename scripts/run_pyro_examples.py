"""Run Pyro's own examples and tutorials against ppl (``import pyro`` -> ``ppl``).

Pyro's ``tests/test_examples.py`` lists each example script with the short arguments
that make it a smoke test; its tutorials are notebooks whose ``smoke_test`` flag reads
the ``CI`` environment variable. This script runs them from a local copy of Pyro's
repository (a clone or a bare git dir; nothing of it is copied into ppl), once per
backend, each in a fresh interpreter, and prints a table of what passed where::

    python scripts/run_pyro_examples.py --pyro-git /path/to/pyro.git -k hmm
    python scripts/run_pyro_examples.py --tutorials -k enumeration,gmm
    python scripts/run_pyro_examples.py --backend pyro --python /venv/bin/python
    python scripts/run_pyro_examples.py --synthetic-data -k hmm.py  # offline: synthetic data

With ``--backend ppl`` (the default) a ``sitecustomize`` module on ``PYTHONPATH`` maps
every ``pyro`` / ``pyro.X`` import to ``ppl`` / ``ppl.X`` before the script starts, so the
script runs unchanged. ``--backend both`` runs real Pyro (``--pyro-python``) too and marks
the scripts that pass on Pyro but fail on ppl: the list to work on. ``--synthetic-data``
runs the scripts with a fresh ``HOME`` whose data cache (``~/.data``, where both libraries'
example loaders look under ``CI=1``) holds synthetic polyphonic corpora of the real shape
(``ppl.contrib.examples.polyphonic_data_loader.write_synthetic``, also written in Pyro's
cache format), so ``hmm.py`` and ``dmm.py`` run without network access.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALIAS_SITECUSTOMIZE = """
import importlib, importlib.abc, importlib.util, sys

class _PyroToPpl(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name == "pyro" or name.startswith("pyro."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module("ppl" + spec.name[len("pyro"):])
        sys.modules[spec.name] = module
        return module

    def exec_module(self, module):
        pass

sys.meta_path.insert(0, _PyroToPpl())
"""


def checkout(pyro_git: str, dest: Path) -> Path:
    """Extract ``examples/``, ``tutorial/source`` and the examples test into ``dest``."""
    git_dir = Path(pyro_git)
    git = ["git", f"--git-dir={git_dir / '.git' if (git_dir / '.git').exists() else git_dir}"]
    archive = subprocess.run(
        git + ["archive", "HEAD", "examples", "tutorial/source", "tests/test_examples.py"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    for script in (dest / "examples").rglob("*.py"):
        script.write_text(unpin(script.read_text()))
    return dest


def unpin(source: str) -> str:
    """Drop the examples' pin on one Pyro release (``assert pyro.__version__...``): it
    fails on any other Pyro release as on ppl, and says nothing about the code."""
    return re.sub(
        r"^(\s*)assert pyro\.__version__\.startswith\(.*\)\s*$",
        r"\1pass",
        source,
        flags=re.MULTILINE,
    )


def example_commands(root: Path) -> list[str]:
    """The ``CPU_EXAMPLES`` entries of Pyro's tests/test_examples.py, as strings."""
    tree = ast.parse((root / "tests" / "test_examples.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CPU_EXAMPLES":
            commands = []
            for elt in node.value.elts:  # type: ignore[attr-defined]
                if isinstance(elt, ast.Constant):
                    commands.append(" ".join(elt.value.split()))
                elif (
                    isinstance(elt, ast.Call) and elt.args and isinstance(elt.args[0], ast.Constant)
                ):
                    commands.append(" ".join(elt.args[0].value.split()))
            return commands
    raise RuntimeError("CPU_EXAMPLES not found in tests/test_examples.py")


def notebook_script(path: Path) -> str:
    """The code cells of a notebook as one script; IPython magics and shell lines dropped."""
    cells = json.loads(path.read_text())["cells"]
    lines: list[str] = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        for line in "".join(cell.get("source", [])).splitlines():
            stripped = line.lstrip()
            if stripped.startswith(("%", "!")):
                line = line[: len(line) - len(stripped)] + "pass"
            lines.append(line)
        lines.append("")
    return unpin("\n".join(lines))


SYNTHETIC_DATA = """
import os, pickle, torch
from ppl.contrib.examples import polyphonic_data_loader as poly
for dataset in (poly.JSB_CHORALES, poly.PIANO_MIDI, poly.MUSE_DATA, poly.NOTTINGHAM):
    path = poly.write_synthetic(dataset)
    processed = torch.load(path, weights_only=True)  # Pyro's cache: the same dict, pickled
    with open(path[: -len(".pt")] + ".pkl", "wb") as f:
        pickle.dump(processed, f, pickle.HIGHEST_PROTOCOL)
"""


def write_synthetic_data(python: str, env: dict[str, str]) -> None:
    """Fill ``$HOME/.data`` with synthetic polyphonic corpora for ppl and for Pyro."""
    subprocess.run([python, "-c", SYNTHETIC_DATA], env=env, check=True)


def run_one(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[str, float, str]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
        status = "pass" if proc.returncode == 0 else "FAIL"
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
    except subprocess.TimeoutExpired:
        status, tail = "timeout", ""
    return status, time.perf_counter() - start, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pyro-git", default=os.environ.get("PYRO_GIT"), help="Pyro clone or bare git dir"
    )
    parser.add_argument("--backend", choices=["ppl", "pyro", "both"], default="ppl")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the ppl backend")
    parser.add_argument(
        "--pyro-python", default=sys.executable, help="interpreter with pyro-ppl installed"
    )
    parser.add_argument(
        "--tutorials", action="store_true", help="run tutorial notebooks instead of examples"
    )
    parser.add_argument(
        "-k", default="", help="comma-separated substrings; run only matching entries"
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--log", help="write each failure's last lines here")
    parser.add_argument(
        "--synthetic-data",
        action="store_true",
        help="a fresh HOME with synthetic polyphonic corpora in its data cache (offline)",
    )
    args = parser.parse_args()
    if not args.pyro_git:
        parser.error("--pyro-git (or PYRO_GIT) is required")

    work = Path(tempfile.mkdtemp(prefix="pyro-examples-"))
    root = checkout(args.pyro_git, work)
    alias_dir = work / "alias"
    alias_dir.mkdir()
    (alias_dir / "sitecustomize.py").write_text(ALIAS_SITECUSTOMIZE)
    ppl_root = str(Path(__file__).resolve().parents[1])

    if args.tutorials:
        entries = sorted(p.stem for p in (root / "tutorial" / "source").glob("*.ipynb"))
    else:
        entries = example_commands(root)
    keys = [k for k in args.k.split(",") if k]
    if keys:
        entries = [e for e in entries if any(k in e for k in keys)]

    backends = ["pyro", "ppl"] if args.backend == "both" else [args.backend]
    base_env = {
        **os.environ,
        "CI": "1",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    if args.synthetic_data:
        home = work / "home"
        home.mkdir()
        base_env["HOME"] = str(home)
        write_synthetic_data(
            args.python,
            {
                **base_env,
                "PYTHONPATH": os.pathsep.join([ppl_root, os.environ.get("PYTHONPATH", "")]),
            },
        )
    results: dict[str, dict[str, str]] = {}
    log = open(args.log, "w") if args.log else None
    for entry in entries:
        results[entry] = {}
        for backend in backends:
            env = dict(base_env)
            if backend == "ppl":
                env["PYTHONPATH"] = os.pathsep.join(
                    [str(alias_dir), ppl_root, env.get("PYTHONPATH", "")]
                )
                python = args.python
            else:
                python = args.pyro_python
            if args.tutorials:
                script = root / "tutorial" / "source" / f"{entry}.py"
                script.write_text(notebook_script(root / "tutorial" / "source" / f"{entry}.ipynb"))
                argv, cwd = [python, script.name], script.parent
            else:
                name, *rest = entry.split()
                argv, cwd = [python, name, *rest], root / "examples"
            status, seconds, tail = run_one(argv, cwd, env, args.timeout)
            results[entry][backend] = status
            print(f"{backend:5s} {status:8s} {seconds:7.1f}s  {entry}", flush=True)
            if status != "pass" and log:
                log.write(f"=== {backend} {entry}\n{tail}\n")
                log.flush()
    if log:
        log.close()

    print()
    for backend in backends:
        passed = sum(r[backend] == "pass" for r in results.values())
        print(f"{backend}: {passed}/{len(results)} pass")
    if args.backend == "both":
        gaps = [e for e, r in results.items() if r["pyro"] == "pass" and r["ppl"] != "pass"]
        on_pyro = sum(r["pyro"] == "pass" for r in results.values())
        on_both = on_pyro - len(gaps)
        print(f"ppl passes {on_both} of the {on_pyro} that pass on Pyro")
        for entry in gaps:
            print(f"  gap: {entry}")


if __name__ == "__main__":
    main()
