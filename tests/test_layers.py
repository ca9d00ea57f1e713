"""Imports go one way: ops -> distributions -> params -> poutine -> primitives -> nn -> infer.

``optim`` may use only ``params`` (and the layers below it). A module importing from a
higher layer, even lazily inside a function, fails this test; so does a module importing
from another package of its own rank (two packages on one rank are independent).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ppl"

# (layer rank, name prefix); the longest matching prefix wins.
LAYERS = {
    "ppl.ops": 0,
    "ppl.ops.jit": 4,  # at Pyro's path, but reads the ParamStore and runs handlers
    "ppl.settings": 0,
    "ppl.rng": 0,
    "ppl.logger": 0,
    "ppl.distributions": 1,
    "ppl.params": 2,
    "ppl.patterns": 2,
    "ppl.optim": 3,
    "ppl.poutine": 3,
    "ppl.primitives": 4,
    "ppl.nn": 5,
    "ppl.nn.auto_reg_nn": 0,  # pure torch networks the flows in distributions build on
    "ppl.nn.dense_nn": 0,
    "ppl.infer": 6,
    "ppl.util": 7,
    "ppl.distributed": 7,
    "ppl.contrib": 8,
}
OPTIM_MAY_USE = ("ppl.ops", "ppl.settings", "ppl.rng", "ppl.params", "ppl.optim")


def layer_entry(module: str) -> tuple[str, int] | None:
    """``(prefix, rank)`` of the longest LAYERS prefix matching ``module``."""
    if module == "ppl":  # the top-level package re-exports the primitives' layer
        return "ppl.primitives", LAYERS["ppl.primitives"]
    best = None
    for prefix, rank in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, rank)
    return best


def layer_of(module: str) -> int | None:
    entry = layer_entry(module)
    return None if entry is None else entry[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str) -> list[str]:
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    out += [f"{target}.{a.name}" for a in node.names]
                else:
                    out.append(target)
            elif node.module:
                out.append(node.module)
    return [m for m in out if m == "ppl" or m.startswith("ppl.")]


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    name = module_name(path)
    own = layer_of(name)
    if own is None:
        pytest.skip(f"{name} is not assigned a layer")
    for imported in imported_modules(path, name):
        if name.startswith("ppl.optim"):
            assert imported.startswith(OPTIM_MAY_USE), f"{name} (optim) imports {imported}"
            continue
        entry = layer_entry(imported)
        assert entry is not None, f"{name} imports {imported}, which has no layer"
        package, other = entry
        assert other <= own, f"{name} (layer {own}) imports {imported} (layer {other})"
        own_package = layer_entry(name)[0]  # type: ignore[index]
        assert other < own or package == own_package, (
            f"{name} ({own_package}) imports {imported} ({package}): two packages of "
            f"rank {own} must not depend on each other"
        )
