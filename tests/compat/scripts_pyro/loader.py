"""Load a Pyro-style example script under ``ppl`` or under real Pyro.

Design notes
------------
Every script in this folder is written the way Pyro's tutorials write user code, with
``import ppl as pyro`` (and ``import ppl.distributions as dist``, ``from ppl.infer.svi
import SVI``...). ``ppl`` keeps Pyro's module paths, so the *same* text runs under real
Pyro after one mechanical rewrite of the import lines (``ppl`` -> ``pyro``); nothing
else in a script changes. :func:`load_script` does that rewrite (only for the ``"pyro"``
backend) and executes the text as a fresh module, so each call gets its own module state.

Each script defines ``main(**options) -> dict`` returning the numbers it computed
(posterior summaries, losses, shapes); the compat tests and
``scripts/compare_with_pyro.py`` both call it.
"""

from __future__ import annotations

import importlib.util
import re
import types
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent
BACKENDS = ("ppl", "pyro")
_IMPORT_LINE = re.compile(r"^(\s*)(import|from)\s+ppl\b(.*)$")


def script_names() -> list[str]:
    """Names (file stems) of the example scripts, sorted."""
    return sorted(p.stem for p in SCRIPTS_DIR.glob("*.py") if p.stem not in {"loader", "__init__"})


def pyro_available() -> bool:
    """True when real Pyro (``pyro-ppl``) can be imported."""
    return importlib.util.find_spec("pyro") is not None


def rewrite_for_pyro(source: str) -> str:
    """Turn ``import ppl...``/``from ppl...`` lines into the same lines for ``pyro``.

    Example:
        >>> rewrite_for_pyro("from ppl.infer.svi import SVI\\nx = 'ppl'")
        "from pyro.infer.svi import SVI\\nx = 'ppl'"
    """

    def fix(line: str) -> str:
        m = _IMPORT_LINE.match(line)
        if not m:
            return line
        rest = "" if m.group(3) == " as pyro" else m.group(3)
        return f"{m.group(1)}{m.group(2)} pyro{rest}"

    return "\n".join(fix(line) for line in source.split("\n"))


def load_script(name: str, backend: str = "ppl") -> types.ModuleType:
    """Execute ``<name>.py`` as a new module under ``backend`` (``"ppl"`` or ``"pyro"``).

    Raises:
        ValueError: unknown backend or script name.
    """
    if backend not in BACKENDS:
        raise ValueError(f"load_script: backend must be one of {BACKENDS}, got {backend!r}")
    path = SCRIPTS_DIR / f"{name}.py"
    if not path.is_file() or name == "loader":
        raise ValueError(f"load_script: no script {name!r}; known: {script_names()}")
    source = path.read_text()
    if backend == "pyro":
        source = rewrite_for_pyro(source)
    module = types.ModuleType(f"compat_{name}_{backend}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module
