"""Checkpoint files: one versioned, atomically written, safely loaded file per run.

:func:`save_checkpoint` writes :func:`~ppl.infer.checkpoint.state.capture_state`'s
payload with :func:`ppl.params.safe_file.atomic_save` (only the main process of a
distributed run writes); :func:`load_checkpoint` reads it with
:func:`ppl.params.safe_file.safe_load` and hands it to
:func:`~ppl.infer.checkpoint.state.restore_state`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed

from ...params.safe_file import (
    CorruptFileError,
    MapLocation,
    PathLike,
    SafeFileError,
    atomic_save,
    check_plain,
    safe_load,
)
from .state import LoadReport, capture_state, check_svi, restore_state

__all__ = [
    "FILE_KIND",
    "FILE_VERSION",
    "is_writer",
    "load_checkpoint",
    "save_checkpoint",
    "saved_step",
]

FILE_KIND = "ppl.checkpoint"
FILE_VERSION = 1


def is_writer() -> bool:
    """True in the process that writes checkpoints: global rank 0, or no process group.

    Example:
        >>> is_writer()
        True
    """
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


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
    check_svi(svi, "save_checkpoint")
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
    check_svi(svi, "load_checkpoint")
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


def saved_step(path: str) -> int | None:
    """The SVI step count stored in the checkpoint at ``path`` (None if unreadable)."""
    try:
        payload = safe_load(path, "cpu", kind=FILE_KIND, max_version=FILE_VERSION)
    except (OSError, ValueError):
        return None
    step = payload.get("svi", {}).get("step_count") if isinstance(payload, dict) else None
    return step if isinstance(step, int) else None
