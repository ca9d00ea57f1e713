"""``Checkpoint``: the callback that saves a checkpoint every ``every`` steps.

Save listeners (:func:`add_save_listener`) hear of every save; the NaN rollback policy
uses this to roll back to the newest checkpointed state.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from ...params.safe_file import (
    PathLike,
)
from .files import is_writer, save_checkpoint, saved_step

__all__ = ["Checkpoint", "add_save_listener"]


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
            step = saved_step(self.path)  # written by an earlier process: read its step once
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
