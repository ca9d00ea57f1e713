"""Training checkpoints: everything an ``SVI`` run needs to continue exactly, in one file.

Design notes
------------
* **What is saved.** A checkpoint composes the ``state_dict()`` of every stateful piece
  into one payload: the global ParamStore (unconstrained tensors and constraint
  descriptors), the optimizer wrapper (state keyed by parameter name, param groups,
  the LR scheduler's state), the ``SVI`` object (step count, loss history, the cached
  plate nesting of its ELBO), the random number generators (torch CPU, every CUDA
  device, Python ``random``, numpy) and the user's ``extra`` plain data. Nothing is
  pickled as code: the file is written by :func:`ppl.params.safe_file.atomic_save` (a
  temporary file, ``fsync``, ``os.replace``: a crash leaves the old checkpoint intact)
  and read by :func:`ppl.params.safe_file.safe_load` (``torch.load(weights_only=True)``,
  CRC check, a versioned header refusing foreign and newer files, errors naming the
  file). There is one mechanism for safe files in ppl and this module only uses it.
* **Exact resume.** Training ``2N`` steps straight and training ``N`` steps, saving,
  loading in a new process and training ``N`` more give bit-identical parameters and
  losses on CPU. The recipe in the new process: build the model, guide, optimizer and
  ``SVI`` exactly as before, *then* call :func:`load_checkpoint`, then train. Anything
  that draws random numbers while being built (an autoguide's ``setup`` with
  ``init_to_median``/``init_to_sample``) happens before the RNG state is restored, so
  it does not shift the random stream of the resumed steps.
* **All or nothing.** :func:`load_checkpoint` reads and validates the whole file before
  anything is touched: the parameters are decoded into a scratch ``ParamStoreDict``
  (which runs every check of the real store) and compared with the live store. The
  pieces are then applied one after another with a snapshot of the previous state; if
  one of them still refuses (e.g. the optimizer was saved from another class), the
  snapshot is put back, so a failed load changes nothing and the error names the file.
* **strict.** ``strict=True`` (the default) requires the checkpoint to fit: every
  parameter already in the store must be in the file with the same shape and
  constraint, and the optimizer, SVI and RNG states must load. Parameters in the file
  but not yet in the store are added (the usual case when resuming in a new process,
  before the guide has run). ``strict=False`` restores what fits and returns a
  :class:`LoadReport` listing what did not.
* **Devices.** ``map_location`` is handed to ``torch.load``: ``"cpu"`` loads a
  checkpoint written on a GPU on a machine without one. Tensors keep their saved dtype;
  optimizer state then follows its parameter's device and dtype.
* **Distributed runs.** Only the main process (global rank 0, or a run without a
  process group) writes; every rank can load. The test is made here with
  ``torch.distributed`` itself because ``ppl.infer`` sits below ``ppl.distributed`` in
  the import layers (its ``is_main_process`` asks the same question).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed

from ..params.param_store import ParamStoreDict, get_param_store
from ..params.safe_file import (
    CorruptFileError,
    MapLocation,
    PathLike,
    SafeFileError,
    atomic_save,
    check_plain,
    safe_load,
)
from ..rng import get_rng_state, set_rng_state

__all__ = [
    "Checkpoint",
    "CheckpointMismatchError",
    "LoadReport",
    "add_save_listener",
    "capture_state",
    "is_writer",
    "load_checkpoint",
    "restore_state",
    "save_checkpoint",
]

FILE_KIND = "ppl.checkpoint"
FILE_VERSION = 1
_PAYLOAD_KEYS = ("param_store", "optim", "svi", "rng", "extra", "meta")
_COMPONENTS = ("params", "optim", "svi", "rng")


class CheckpointMismatchError(SafeFileError):
    """A readable checkpoint does not fit the ``SVI`` object it is loaded into (strict mode)."""


@dataclass
class LoadReport:
    """What :func:`load_checkpoint` restored and what it left as it was.

    Attributes:
        path: the file read (or ``"<memory>"`` for an in-memory state).
        step: the SVI step count stored in the checkpoint (None if absent).
        extra: the ``extra`` plain data given to :func:`save_checkpoint`.
        restored: the pieces that were restored, among ``"params"``, ``"optim"``,
            ``"svi"``, ``"rng"``.
        skipped: ``{piece: reason}`` for the pieces that were not (``strict=False`` only).
        missing_params: parameters in the store that the file does not hold (kept as they were).
        mismatched_params: ``{name: reason}`` for parameters whose shape or constraint
            differs between the file and the store (kept as they were, ``strict=False`` only).
        added_params: parameters of the file that were not in the store before.
    """

    path: str
    step: int | None
    extra: Any
    restored: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    missing_params: list[str] = field(default_factory=list)
    mismatched_params: dict[str, str] = field(default_factory=dict)
    added_params: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when everything in the file was restored and nothing in the store was missed."""
        return not (self.skipped or self.missing_params or self.mismatched_params)


# ---------------------------------------------------------------------------- helpers
def _clone(tree: Any) -> Any:
    """A copy of a nest of dicts/lists/tuples whose tensors are detached clones."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().clone()
    if isinstance(tree, dict):
        return {k: _clone(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_clone(v) for v in tree]
    if isinstance(tree, tuple):
        return tuple(_clone(v) for v in tree)
    return tree


def _check_svi(svi: Any, who: str) -> None:
    for attr in ("optim", "state_dict", "load_state_dict"):
        if not hasattr(svi, attr):
            raise TypeError(
                f"{who}: expected a ppl.infer.SVI object (with .optim, .state_dict and "
                f".load_state_dict), got {type(svi).__name__} without {attr!r}"
            )
    optim = svi.optim
    if not (hasattr(optim, "state_dict") and hasattr(optim, "load_state_dict")):
        raise TypeError(
            f"{who}: the SVI's optimizer {type(optim).__name__} has no state_dict(); use a "
            "ppl.optim optimizer such as ppl.optim.Adam({'lr': 1e-3}) to checkpoint it"
        )


def is_writer() -> bool:
    """True in the process that writes checkpoints: global rank 0, or no process group.

    Example:
        >>> is_writer()
        True
    """
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


# ---------------------------------------------------------------------------- capture
def capture_state(svi: Any, extra: Any = None, *, copy: bool = False) -> dict[str, Any]:
    """The checkpoint payload of ``svi``: store, optimizer, SVI and RNG state, ``extra``.

    Args:
        svi: a ``ppl.infer.SVI`` (anything with ``.optim`` and ``state_dict()``).
        extra: plain data to store alongside (tensors, numbers, strings, lists, dicts).
        copy: clone every tensor, so the result does not change as training goes on
            (the ParamStore's ``state_dict`` shares memory with its parameters). Needed
            for in-memory snapshots; :func:`save_checkpoint` writes at once and skips it.

    Returns:
        ``{"param_store", "optim", "svi", "rng", "extra", "meta"}``, plain data only.

    Raises:
        TypeError: ``svi`` is not an SVI-like object or ``extra`` is not plain data.

    Example:
        >>> import ppl
        >>> from ppl.infer.svi import SVI
        >>> from ppl.infer.trace_elbo import Trace_ELBO
        >>> svi = SVI(lambda: None, lambda: None, ppl.optim.Adam({"lr": 0.1}), Trace_ELBO())
        >>> sorted(capture_state(svi))
        ['extra', 'meta', 'optim', 'param_store', 'rng', 'svi']
    """
    _check_svi(svi, "capture_state")
    check_plain(extra, "extra")
    payload = {
        "param_store": get_param_store().state_dict(),
        "optim": svi.optim.state_dict(),
        "svi": svi.state_dict(),
        "rng": get_rng_state(),
        "extra": extra,
        "meta": {"torch_version": str(torch.__version__)},
    }
    return _clone(payload) if copy else payload


# ---------------------------------------------------------------------------- restore
def _check_payload(payload: Any, path: PathLike) -> dict[str, Any]:
    if not isinstance(payload, dict) or set(payload) != set(_PAYLOAD_KEYS):
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise CorruptFileError(
            path, f"its checkpoint payload has keys {keys}, expected {sorted(_PAYLOAD_KEYS)}"
        )
    for key in ("param_store", "optim", "svi", "rng"):
        if not isinstance(payload[key], dict):
            raise CorruptFileError(
                path, f"its {key!r} entry is a {type(payload[key]).__name__}, expected a dict"
            )
    return payload


def _compare_params(
    scratch: ParamStoreDict, file_constraints: Mapping[str, Any]
) -> tuple[list[str], dict[str, str], list[str]]:
    """(missing, mismatched, added) between the live store and the decoded file params."""
    store = get_param_store()
    file_params = dict(scratch.named_parameters())
    live_params = dict(store.named_parameters())
    live_constraints = _descriptors(store)
    missing = [name for name in live_params if name not in file_params]
    added = [name for name in file_params if name not in live_params]
    mismatched: dict[str, str] = {}
    for name, saved in file_params.items():
        live = live_params.get(name)
        if live is None:
            continue
        if saved.shape != live.shape:
            mismatched[name] = (
                f"shape {tuple(saved.shape)} in the file but {tuple(live.shape)} in the store"
            )
        elif name in live_constraints and live_constraints[name] != file_constraints.get(name):
            mismatched[name] = (
                f"constraint {file_constraints.get(name)} in the file but "
                f"{live_constraints[name]} in the store"
            )
    return missing, mismatched, added


def _descriptors(store: ParamStoreDict) -> dict[str, Any]:
    """The live constraint descriptors (empty if some constraint cannot be encoded)."""
    try:
        return dict(store.state_dict()["constraints"])
    except TypeError:
        return {}


def _without(optim_state: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """The optimizer state without the per-parameter state of ``names``."""
    if not names or not isinstance(optim_state.get("state"), dict):
        return optim_state
    state = {k: v for k, v in optim_state["state"].items() if k not in names}
    return {**optim_state, "state": state}


def restore_state(
    payload: Mapping[str, Any],
    svi: Any,
    *,
    strict: bool = True,
    path: PathLike = "<memory>",
    prune: bool = False,
) -> LoadReport:
    """Put a :func:`capture_state` payload back into the ParamStore, ``svi`` and the RNGs.

    Validates everything first and restores the previous state if a piece refuses, so a
    failure leaves everything as it was. See the module notes for ``strict``.

    Args:
        payload: what :func:`capture_state` returned (or a checkpoint file's payload).
        svi: the ``SVI`` object to restore into (same kind of optimizer as saved).
        strict: refuse any mismatch (default) or restore what fits and report the rest.
        path: the file the payload came from, for error messages.
        prune: also delete the store's parameters that the payload lacks (they were
            created after it was captured), so the store is exactly as captured; a
            guide re-creates them from their init values. Used by the NaN rollback.

    Returns:
        A :class:`LoadReport`.

    Raises:
        TypeError: ``svi`` is not an SVI-like object.
        ppl.params.safe_file.CorruptFileError: the payload is malformed.
        CheckpointMismatchError: ``strict=True`` and the payload does not fit (names the
            first mismatch and how to fix it).
    """
    _check_svi(svi, "load_checkpoint")
    payload = _check_payload(payload, path)
    path = os.fspath(path)
    svi_state = payload["svi"]
    step = svi_state.get("step_count")
    report = LoadReport(path, step if isinstance(step, int) else None, payload["extra"])

    # 1. Decode the parameters into a scratch store: every check of the real one, no effect.
    scratch = ParamStoreDict()
    try:
        scratch.load_state_dict(payload["param_store"])
    except (TypeError, ValueError) as err:
        raise CorruptFileError(path, f"its parameters are malformed: {err}") from None
    file_constraints = payload["param_store"].get("constraints", {})
    missing, mismatched, added = _compare_params(scratch, file_constraints)
    pruned, missing = (missing, []) if prune else ([], missing)
    report.missing_params, report.mismatched_params, report.added_params = (
        missing,
        mismatched,
        added,
    )
    if strict and (missing or mismatched):
        what = (
            f"parameter {missing[0]!r} is in the ParamStore but not in the checkpoint"
            if missing
            else f"parameter {next(iter(mismatched))!r} has {mismatched[next(iter(mismatched))]}"
        )
        raise CheckpointMismatchError(
            path,
            f"{what}; it was saved from a different model or guide. Build the same model and "
            "guide as when saving, or pass strict=False to restore what matches",
        )

    # 2. Apply piece by piece with a snapshot to fall back to.
    store = get_param_store()
    store_before, optim_before = store.get_state(), svi.optim.state_dict()
    svi_before, rng_before = svi.state_dict(), get_rng_state()
    state = scratch.get_state()
    for name in mismatched:
        del state["params"][name], state["constraints"][name]
    # (piece, apply it, put the previous state back)
    pieces: list[tuple[str, Callable[[], None], Callable[[], None]]] = [
        (
            "optim",
            lambda: svi.optim.load_state_dict(_without(payload["optim"], set(mismatched))),
            lambda: svi.optim.load_state_dict(optim_before),
        ),
        ("svi", lambda: svi.load_state_dict(svi_state), lambda: svi.load_state_dict(svi_before)),
        (
            "params",
            lambda: _set_params(store, state, pruned),
            lambda: _reset_store(store, store_before),
        ),
        ("rng", lambda: set_rng_state(payload["rng"]), lambda: set_rng_state(rng_before)),
    ]
    done: list[Callable[[], None]] = []
    try:
        for name, apply, undo in pieces:
            try:
                apply()
            except (TypeError, ValueError, KeyError, IndexError, RuntimeError) as err:
                undo()  # a piece that failed half-way is put back as it was
                if strict:
                    raise CheckpointMismatchError(
                        path,
                        f"its {name} state does not fit: {err}. Build the same "
                        f"{'optimizer' if name == 'optim' else 'objects'} as when saving, or "
                        "pass strict=False to restore what matches",
                    ) from None
                report.skipped[name] = str(err)
            else:
                done.append(undo)
                report.restored.append(name)
    except BaseException:
        for undo in reversed(done):
            undo()
        raise
    return report


def _set_params(store: ParamStoreDict, state: Any, pruned: list[str]) -> None:
    for name in pruned:
        del store[name]
    store.set_state(state)


def _reset_store(store: ParamStoreDict, state: Any) -> None:
    store.clear()
    store.set_state(state)


# ---------------------------------------------------------------------------- files
def save_checkpoint(path: PathLike, svi: Any, extra: Any = None) -> bool:
    """Write everything ``svi`` needs to resume exactly to ``path``, atomically and safely.

    One versioned file holds the ParamStore, the optimizer (and scheduler) state, the
    SVI state (step count, losses), the RNG states and ``extra``. In a distributed run
    only the main process writes; the others return at once.

    Args:
        path: the file; its folder must exist. An existing file is replaced only once
            the new one is complete on disk.
        svi: the ``SVI`` object being trained (its optimizer must be a ``ppl.optim`` one).
        extra: plain data to keep with the checkpoint (e.g. ``{"epoch": 3}``); returned
            by :func:`load_checkpoint` as ``report.extra``.

    Returns:
        True if this process wrote the file, False on a non-main rank.

    Raises:
        TypeError: ``svi`` is not an SVI object, or ``extra`` (or some state) is not
            plain data; the message names the offending entry. Nothing is written then.
        FileNotFoundError: the folder does not exist.

    Example:
        >>> import tempfile, pathlib, ppl
        >>> from ppl.infer.svi import SVI
        >>> from ppl.infer.trace_elbo import Trace_ELBO
        >>> svi = SVI(lambda: None, lambda: None, ppl.optim.Adam({"lr": 0.1}), Trace_ELBO())
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.pt"
        >>> save_checkpoint(path, svi, extra={"note": "demo"})
        True
        >>> load_checkpoint(path, svi).extra
        {'note': 'demo'}
    """
    _check_svi(svi, "save_checkpoint")
    check_plain(extra, "save_checkpoint: extra")
    if not is_writer():
        return False
    atomic_save(capture_state(svi, extra), path, kind=FILE_KIND, version=FILE_VERSION)
    return True


def load_checkpoint(
    path: PathLike, svi: Any, map_location: MapLocation = None, strict: bool = True
) -> LoadReport:
    """Restore a :func:`save_checkpoint` file into the ParamStore, ``svi`` and the RNGs.

    Build the model, guide, optimizer and ``SVI`` as when saving, then load; training
    continues exactly where it stopped. Nothing changes if the load fails.

    Args:
        path: the checkpoint file.
        svi: the ``SVI`` object to restore into.
        map_location: where tensors go, as in ``torch.load`` (``"cpu"``, a device,
            ``{"cuda:0": "cpu"}``); None keeps the devices they were saved on.
        strict: refuse a checkpoint that does not fit (default), or restore what fits and
            list the rest in the report.

    Returns:
        A :class:`LoadReport` (``.step``, ``.extra``, what was restored or skipped).

    Raises:
        FileNotFoundError: no file at ``path``.
        ppl.params.safe_file.SafeFileError: (a ``ValueError``) the file is corrupt,
            truncated, unsafe, not a checkpoint, written by a newer ppl, or saved on a
            CUDA device this machine lacks (pass ``map_location="cpu"``); names the file.
        CheckpointMismatchError: ``strict=True`` and the checkpoint does not fit ``svi``.
        TypeError: ``svi`` is not an SVI object.
    """
    _check_svi(svi, "load_checkpoint")
    try:
        payload = safe_load(path, map_location, kind=FILE_KIND, max_version=FILE_VERSION)
    except CorruptFileError as err:
        if map_location is None and "CUDA" in str(err) and not torch.cuda.is_available():
            raise SafeFileError(
                path,
                "its tensors were saved on a CUDA device and this machine has none; pass "
                "map_location='cpu' to load them on the CPU",
            ) from None
        raise
    return restore_state(payload, svi, strict=strict, path=path)


# ---------------------------------------------------------------------------- callback
class Checkpoint:
    """Callback for ``SVI.run`` (and ``fit``) that saves a checkpoint every ``every`` steps.

    Called as ``cb(svi, losses, step)``; it saves when the SVI's global step count is a
    multiple of ``every``, so a resumed run keeps the same schedule. ``path`` always
    holds the newest checkpoint, which is what ``--resume`` reads. With ``keep=K > 1``
    the previous ``K - 1`` checkpoints are kept next to it as
    ``<stem>.step<N><suffix>`` (made by a hard link where the file system allows, else a
    copy, before the new file replaces ``path``; ``path`` itself is never missing). The
    first save of the callback deletes the temporary files a killed writer left behind
    (``.<name>.<random>.tmp``).

    The callback also tells an active ``on_nan="rollback"`` policy that a good state
    was saved, so a later NaN rolls back to it.

    Args:
        path: the checkpoint file (its folder must exist).
        every: save every ``every`` steps (>= 1).
        keep: how many checkpoints to keep, the newest included (>= 1).
        extra: plain data, or a callable ``extra(svi) -> plain data``, saved each time.

    Raises:
        TypeError: ``every``/``keep`` are not ints, ``path`` is not a path.
        ValueError: ``every < 1`` or ``keep < 1``.

    Example:
        >>> import tempfile, pathlib
        >>> cb = Checkpoint(pathlib.Path(tempfile.mkdtemp()) / "run.pt", every=100, keep=3)
        >>> cb.every, cb.keep
        (100, 3)
    """

    def __init__(self, path: PathLike, every: int = 1, keep: int = 1, extra: Any = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"Checkpoint: path must be a str or os.PathLike, got {path!r}")
        for name, value in (("every", every), ("keep", keep)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Checkpoint: {name} must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"Checkpoint: {name} must be >= 1, got {value}")
        self.path = os.fspath(path)
        self.every = every
        self.keep = keep
        self.extra = extra
        self.last_saved_step: int | None = None

    def __call__(self, obj: Any, losses: Any, step: int) -> None:
        svi = _resolve_svi(obj)
        count = getattr(svi, "step_count", step)
        if count % self.every == 0 and count != self.last_saved_step:
            self.save(svi)

    def save(self, svi: Any) -> None:
        """Save a checkpoint of ``svi`` now (rotating old ones when ``keep > 1``)."""
        svi = _resolve_svi(svi)
        extra = self.extra(svi) if callable(self.extra) else self.extra
        if is_writer():
            if self.last_saved_step is None:
                self._remove_orphans()
            if self.keep > 1:
                self._rotate()
            save_checkpoint(self.path, svi, extra)
        self.last_saved_step = getattr(svi, "step_count", None)
        for listener in _SAVE_LISTENERS:
            listener(svi)

    def backups(self) -> list[str]:
        """The kept older checkpoints, oldest first (see ``keep``)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        stem, suffix = os.path.splitext(os.path.basename(self.path))
        pattern = re.compile(re.escape(stem) + r"\.step(\d+)" + re.escape(suffix) + "$")
        found = []
        for entry in os.listdir(folder):
            match = pattern.match(entry)
            if match:
                found.append((int(match.group(1)), os.path.join(folder, entry)))
        return [p for _, p in sorted(found)]

    def _remove_orphans(self) -> None:
        """Delete temporary files a killed writer left next to ``path`` (first save only)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        name = os.path.basename(self.path)
        pattern = re.compile(r"\." + re.escape(name) + r"\.[0-9a-f]+\.tmp$")
        for entry in os.listdir(folder):
            if pattern.match(entry):
                try:
                    os.unlink(os.path.join(folder, entry))
                except OSError:
                    pass

    def _rotate(self) -> None:
        """Keep the current newest file as ``<stem>.step<N><suffix>``; prune the oldest."""
        step = self.last_saved_step
        if step is None and os.path.exists(self.path):
            step = _saved_step(self.path)  # written by an earlier process: read its step once
        if step is not None and os.path.exists(self.path):
            stem, suffix = os.path.splitext(self.path)
            target = f"{stem}.step{step}{suffix}"
            tmp = f"{target}.tmp"
            try:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                os.link(self.path, tmp)
            except OSError:
                import shutil

                shutil.copyfile(self.path, tmp)
            os.replace(tmp, target)
        old = self.backups()
        for stale in old[: max(len(old) - (self.keep - 1), 0)]:
            os.unlink(stale)

    def __repr__(self) -> str:
        return f"Checkpoint({self.path!r}, every={self.every}, keep={self.keep})"


def _saved_step(path: str) -> int | None:
    """The SVI step count stored in the checkpoint at ``path`` (None if unreadable)."""
    try:
        payload = safe_load(path, "cpu", kind=FILE_KIND, max_version=FILE_VERSION)
    except (OSError, ValueError):
        return None
    step = payload.get("svi", {}).get("step_count") if isinstance(payload, dict) else None
    return step if isinstance(step, int) else None


def _resolve_svi(obj: Any) -> Any:
    """The SVI object behind a callback's first argument (an SVI or an approximation)."""
    if hasattr(obj, "optim") and hasattr(obj, "state_dict"):
        return obj
    inner = getattr(obj, "svi", None)
    if inner is not None:
        return inner
    raise TypeError(
        f"Checkpoint: cannot checkpoint a {type(obj).__name__}; it needs an SVI object "
        "(or an approximation with an .svi attribute)"
    )


_SAVE_LISTENERS: list[Callable[[Any], None]] = []


def add_save_listener(listener: Callable[[Any], None]) -> None:
    """Call ``listener(svi)`` after every :class:`Checkpoint` save (used by NaN rollback)."""
    if listener not in _SAVE_LISTENERS:
        _SAVE_LISTENERS.append(listener)
