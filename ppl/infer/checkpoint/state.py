"""Capture and restore everything an ``SVI`` run needs to continue exactly (in memory).

:func:`capture_state` composes the ``state_dict()`` of every stateful piece (ParamStore,
optimizer and scheduler, ``SVI``, random generators, the user's ``extra``) into one
payload of plain data; :func:`restore_state` validates a payload completely and applies
it all or nothing (see :mod:`ppl.infer.checkpoint`). The file format lives in
:mod:`~ppl.infer.checkpoint.files`, the callback in :mod:`~ppl.infer.checkpoint.callback`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed

from ...params.param_store import ParamStoreDict, get_param_store
from ...params.safe_file import (
    CorruptFileError,
    PathLike,
    SafeFileError,
    check_plain,
)
from ...rng import get_rng_state, set_rng_state

__all__ = ["CheckpointMismatchError", "LoadReport", "capture_state", "check_svi", "restore_state"]

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


def check_svi(svi: Any, who: str) -> None:
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
    check_svi(svi, "capture_state")
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
    check_svi(svi, "load_checkpoint")
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
