"""Resumable sampling: the state of an MCMC run as plain data, and its checkpoint files.

Design notes
------------
* **What a state holds.** Everything a run needs to continue exactly at a step
  boundary: which chain and step it is at (and so the phase, warm-up or sampling), the
  current positions, the kernel's own state (for HMC/NUTS: the cached potential energy
  and gradient, the step counter, acceptance statistics, divergences, the step size,
  the dual-averaging state, the mass matrix and the Welford estimates of the current
  adaptation window), the draws and diagnostics so far, the per-chain seeds and every
  random generator (torch CPU and CUDA, Python ``random``, numpy; vectorized chains add
  one ``torch.Generator`` per chain).
* **Plain data.** States hold only tensors, numbers, strings, lists and dicts with
  string keys, so they are written with :func:`ppl.params.safe_file.atomic_save`
  (temporary file, ``fsync``, ``os.replace``: a run killed while writing keeps its
  previous checkpoint) and read with :func:`ppl.params.safe_file.safe_load`
  (``torch.load(weights_only=True)``, no code is unpickled). Objects of ppl's
  adaptation machinery (dual averaging, Welford estimators, mass matrices) are
  captured attribute by attribute by :func:`encode` and written back into the
  objects the resumed run has just built by :func:`restore_into`, which refuses a
  state whose structure differs and names the attribute.
* **Resume recipe.** Build the kernel and ``MCMC`` as before, then
  ``mcmc.run(*args, resume_from=path_or_state)``: the kernel is set up again (the
  model traced, the potential compiled), then the saved state replaces what setup
  produced, including the random generators, so the continued run draws exactly the
  numbers the uninterrupted one would have drawn.

Example:
    >>> import torch
    >>> from ppl.ops.dual_averaging import DualAveraging
    >>> a, b = DualAveraging(), DualAveraging()
    >>> a.step(0.3)
    >>> _ = restore_into(b, encode(a))
    >>> b.get_state() == a.get_state()
    True
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import torch

from ppl.params.safe_file import PathLike, atomic_save, safe_load

__all__ = [
    "STATE_KIND",
    "STATE_VERSION",
    "StateMismatchError",
    "check_state",
    "encode",
    "load_state",
    "restore_into",
    "save_state",
]

STATE_KIND = "ppl.infer.mcmc.state"
STATE_VERSION = 1

_OBJECT, _DICT, _TUPLE = "__object__", "__dict__", "__tuple__"
_SKIPPED = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)


class StateMismatchError(ValueError):
    """A saved MCMC state does not fit the run it is resumed into; names what differs."""


def encode(obj: Any, where: str = "state") -> Any:
    """``obj`` as plain data: tensors cloned, tuples and dicts tagged, ppl objects by
    attribute (functions and methods they hold are left out: setup rebuilds them).

    Raises:
        TypeError: for a value that is neither plain data nor a ppl object, naming
            where it is.
    """
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, tuple):
        return {_TUPLE: [encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        return {
            _DICT: [
                [encode(k, f"{where} key"), encode(v, f"{where}[{k!r}]")] for k, v in obj.items()
            ]
        }
    if type(obj).__module__.startswith("ppl.") and hasattr(obj, "__dict__"):
        attrs = {
            name: encode(value, f"{where}.{name}")
            for name, value in vars(obj).items()
            if not isinstance(value, _SKIPPED)
        }
        return {_OBJECT: type(obj).__qualname__, "attrs": attrs}
    raise TypeError(
        f"{where} is a {type(obj).__qualname__}, which an MCMC state cannot hold "
        "(only tensors, numbers, strings, lists, tuples, dicts and ppl objects)"
    )


def restore_into(current: Any, state: Any, where: str = "state") -> Any:
    """The value :func:`encode` captured, written into ``current`` where it is an object.

    Objects are updated in place (so references the kernel holds stay valid) and
    returned; everything else is rebuilt from ``state``. Tensors move to the device of
    the tensor they replace.

    Raises:
        StateMismatchError: an object of another class, a dict with other keys, or a
            tensor of another shape than the current value's, naming the attribute path.
    """
    if isinstance(state, dict) and _OBJECT in state:
        name = state[_OBJECT]
        if current is None or type(current).__qualname__ != name:
            got = "nothing" if current is None else type(current).__qualname__
            raise StateMismatchError(f"{where}: the saved state holds a {name}, this run has {got}")
        for attr, value in state["attrs"].items():
            setattr(
                current, attr, restore_into(getattr(current, attr, None), value, f"{where}.{attr}")
            )
        return current
    if isinstance(state, dict) and _DICT in state:
        old = current if isinstance(current, dict) else {}
        out = {}
        for key_state, value in state[_DICT]:
            key = restore_into(None, key_state, f"{where} key")
            out[key] = restore_into(old.get(key), value, f"{where}[{key!r}]")
        if old and set(old) != set(out):
            raise StateMismatchError(
                f"{where}: the saved state has entries {sorted(map(str, out))}, this run "
                f"has {sorted(map(str, old))}"
            )
        return out
    if isinstance(state, dict) and _TUPLE in state:
        old_tuple: tuple[Any, ...] = current if isinstance(current, tuple) else ()
        items = [
            restore_into(old_tuple[i] if i < len(old_tuple) else None, v, f"{where}[{i}]")
            for i, v in enumerate(state[_TUPLE])
        ]
        if hasattr(current, "_make") and len(old_tuple) == len(items):  # a namedtuple
            return type(current)._make(items)
        return tuple(items)
    if isinstance(state, list):
        old_list = current if isinstance(current, list) else []
        return [
            restore_into(old_list[i] if i < len(old_list) else None, v, f"{where}[{i}]")
            for i, v in enumerate(state)
        ]
    if isinstance(state, torch.Tensor) and isinstance(current, torch.Tensor):
        if state.shape != current.shape:
            raise StateMismatchError(
                f"{where}: the saved tensor has shape {tuple(state.shape)}, this run's has "
                f"{tuple(current.shape)}"
            )
        return state.to(current.device)
    return state


def check_state(state: Any, expected: Mapping[str, Any], source: str) -> None:
    """Raise unless ``state`` is an MCMC state whose header entries equal ``expected``.

    Args:
        state: a state dict (``MCMC.state_dict()`` or a loaded file).
        expected: header entries of this run (kernel class, sites and shapes,
            num_chains, chain method, warm-up and sample counts).
        source: how to name the state in the message (a path or ``"<memory>"``).

    Raises:
        StateMismatchError: naming each entry that differs, saved vs this run.
    """
    if not isinstance(state, dict) or state.get("format") != STATE_KIND:
        raise StateMismatchError(f"{source} is not an MCMC state (from MCMC.state_dict())")
    differ = [
        f"{key}: saved {state.get(key)!r}, this run {value!r}"
        for key, value in expected.items()
        if state.get(key) != value
    ]
    if differ:
        raise StateMismatchError(
            f"cannot resume from {source}: the saved run differs from this one in "
            + "; ".join(differ)
        )


def save_state(path: PathLike, state: Mapping[str, Any]) -> None:
    """Write an MCMC state to ``path`` atomically (the previous file survives a crash).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "mcmc.pt"
        >>> save_state(path, {"format": STATE_KIND, "step": 3})
        >>> load_state(path)["step"]
        3
    """
    atomic_save(dict(state), path, kind=STATE_KIND, version=STATE_VERSION)


def load_state(path: PathLike, map_location: Any = None) -> dict[str, Any]:
    """Read a :func:`save_state` file safely (``torch.load(weights_only=True)``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ppl.params.safe_file.SafeFileError: the file is corrupt, not an MCMC state or
            from a newer ppl; the message names the file.
    """
    return safe_load(path, map_location, kind=STATE_KIND, max_version=STATE_VERSION)  # type: ignore[no-any-return]
