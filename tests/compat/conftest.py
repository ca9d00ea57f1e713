"""Fixtures for the Pyro-compatibility tests: run an example script under ppl or Pyro.

Scripts are run once per session and backend (their results are cached), with torch
limited to one intra-op thread: on this 2-core machine torch's thread pool makes tiny
kernels (e.g. ``binary_cross_entropy_with_logits`` on 10 numbers) ~300x slower, which
would dominate the timings. The previous thread count is restored afterwards.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

_LOADER_PATH = Path(__file__).resolve().parent / "scripts_pyro" / "loader.py"
_spec = importlib.util.spec_from_file_location("ppl_compat_loader", _LOADER_PATH)
loader = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loader)

_CACHE: dict[tuple[str, str, tuple], dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def compat_loader() -> Any:
    """The ``scripts_pyro/loader.py`` module (``rewrite_for_pyro``, ``script_names``...)."""
    return loader


@pytest.fixture
def load_script() -> Callable[..., Any]:
    """``load_script(name, backend="ppl")`` -> the script executed as a fresh module."""
    return loader.load_script


@pytest.fixture(scope="session")
def _session_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("compat")


@pytest.fixture
def run_script(_session_tmp) -> Callable[..., dict[str, Any]]:
    """``run_script(name, backend="ppl", **options)`` -> ``main(**options)``'s result, cached."""

    def run(name: str, backend: str = "ppl", **options: Any) -> dict[str, Any]:
        if backend == "pyro" and not loader.pyro_available():
            pytest.skip("pyro-ppl not installed")
        key = (name, backend, tuple(sorted(options.items())))
        if key not in _CACHE:
            if name == "param_store_io":
                options = {"path": str(_session_tmp / f"store_{backend}.pt"), **options}
            _CACHE[key] = loader.load_script(name, backend).main(**options)
        return _CACHE[key]

    return run
