"""Safe, atomic, versioned files of tensors and plain data.

Design notes
------------
Every file ppl writes (parameter stores, optimizer state, checkpoints) goes through
:func:`atomic_save` and is read back with :func:`safe_load`. Three promises:

* **Nothing but data.** The object is checked to hold only tensors, numbers, strings,
  ``None``, lists, tuples and str-keyed dicts before anything is written, and it is
  read with ``torch.load(weights_only=True)``, whose unpickler refuses every class and
  function. A file crafted to run code on unpickling raises :class:`UnsafeFileError`
  and runs nothing.
* **Atomic.** The bytes go to a temporary file in the target's folder (same file
  system), which is flushed, ``fsync``-ed and then renamed over the target with
  ``os.replace`` (atomic on POSIX and Windows); the folder is ``fsync``-ed too. A
  process killed at any moment leaves either the old file or the new one, never a
  mix; at worst an orphan ``.<name>.<random>.tmp`` file remains next to it.
* **Self-describing.** The file holds an *envelope*
  ``{"format": "ppl", "format_version": 1, "kind": str, "version": int, "payload": ...}``.
  ``kind`` says what the payload is (``"ppl.param_store"``, ``"ppl.optim"``, ...) and
  ``version`` its layout, so a reader can refuse a file meant for another reader or
  written by a newer ppl, with an error that says so.

Before unpickling, the zip container torch writes is verified with :mod:`zipfile`
(each member's CRC-32). torch itself does not check those, so without this a
flipped byte in tensor data would load silently as a wrong number.

All read errors derive from :class:`SafeFileError` (a ``ValueError``) and name the file.
"""

from __future__ import annotations

import os
import pickle
import secrets
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import torch

from ppl.ops.tree import MapLocation

PathLike = Union[str, "os.PathLike[str]"]

FORMAT_TAG = "ppl"
FORMAT_VERSION = 1
_ENVELOPE_KEYS = {"format", "format_version", "kind", "version", "payload"}


class SafeFileError(ValueError):
    """A file could not be read as a ppl file; ``path`` names it."""

    def __init__(self, path: PathLike, message: str) -> None:
        self.path = os.fspath(path)
        super().__init__(f"cannot load {self.path!r}: {message}")


class CorruptFileError(SafeFileError):
    """The file is empty, truncated, or its bytes are damaged."""


class UnsafeFileError(SafeFileError):
    """The file holds pickled objects other than plain data (possibly code); not loaded."""

    def __init__(self, path: PathLike, message: str, unsafe_globals: list[str]) -> None:
        self.unsafe_globals = unsafe_globals
        super().__init__(path, message)


class ForeignFileError(SafeFileError):
    """The file is a valid torch file but not a ppl file of the expected kind."""


class FileVersionError(SafeFileError):
    """The file was written by a newer ppl than this one."""


@dataclass(frozen=True)
class Envelope:
    """What a ppl file holds: the payload and the header that describes it."""

    kind: str
    version: int
    payload: Any


def check_plain(obj: Any, where: str = "obj") -> None:
    """Raise unless ``obj`` is made only of tensors and plain data.

    Plain data is ``None``, ``bool``, ``int``, ``float``, ``str``, lists, tuples and
    dicts with ``str`` or ``int`` keys, nested; tensors must be plain ``torch.Tensor``
    (``nn.Parameter`` and other subclasses are refused: ``.detach()`` them).

    Args:
        obj: the object to check.
        where: how to name ``obj`` in the error message.

    Raises:
        TypeError: naming the path to the first offending value and its type.

    Example:
        >>> check_plain({"w": torch.zeros(2), "step": 3})
        >>> check_plain({"f": print})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: obj['f'] is a builtin_function_or_method; ...
    """
    if obj is None or type(obj) in (bool, int, float, str):
        return
    if isinstance(obj, torch.Tensor):
        if type(obj) is not torch.Tensor:
            raise TypeError(
                f"{where} is a {type(obj).__qualname__}; only plain torch.Tensor can be "
                "saved safely, pass value.detach()"
            )
        return
    if type(obj) in (list, tuple):
        for i, item in enumerate(obj):
            check_plain(item, f"{where}[{i}]")
        return
    if type(obj) is dict:
        for key, item in obj.items():
            if type(key) not in (str, int):
                raise TypeError(
                    f"{where} has a key {key!r} of type {type(key).__name__}; "
                    "keys must be str or int"
                )
            check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"{where} is a {type(obj).__qualname__}; ppl files hold only tensors, numbers, "
        "strings, None, lists, tuples and dicts. Convert it to plain data first"
    )


def atomic_save(obj: Any, path: PathLike, *, kind: str, version: int = 1) -> None:
    """Write ``obj`` to ``path`` atomically, in a versioned envelope, as plain data only.

    Args:
        obj: tensors and plain data (see :func:`check_plain`).
        path: the target file; its folder must exist. An existing file is replaced
            only once the new one is complete and on disk, keeping its permissions.
        kind: what the payload is, e.g. ``"ppl.param_store"``; checked by :func:`safe_load`.
        version: the layout version of this kind of payload (an int >= 1).

    Raises:
        TypeError: ``obj`` holds something other than tensors and plain data, or
            ``kind``/``version`` have the wrong type.
        ValueError: ``version`` < 1.
        FileNotFoundError: the folder does not exist.
        IsADirectoryError: ``path`` is a folder.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.pt"
        >>> atomic_save({"w": torch.ones(2)}, f, kind="demo")
        >>> safe_load(f, kind="demo")["w"]
        tensor([1., 1.])
    """
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"atomic_save: kind must be a non-empty str, got {kind!r}")
    if type(version) is not int:
        raise TypeError(f"atomic_save: version must be an int, got {version!r}")
    if version < 1:
        raise ValueError(f"atomic_save: version must be >= 1, got {version}")
    check_plain(obj, "payload")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot save to {path!r}: it is a folder; pass a file name")
    envelope = {
        "format": FORMAT_TAG,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "version": version,
        "payload": obj,
    }
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow or clobber anything; mode 0o666 lets the umask apply, as open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(envelope, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if os.path.exists(path):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make the rename durable; folders cannot be opened on every platform."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def safe_load(
    path: PathLike, map_location: MapLocation = None, *, kind: str, max_version: int = 1
) -> Any:
    """Read the payload of a file written by :func:`atomic_save`, never unpickling code.

    Args:
        path: the file.
        map_location: where tensors go, as in ``torch.load`` (a device, a string such
            as ``"cpu"``, a dict ``{"cuda:0": "cpu"}`` or a callable).
        kind: the kind the caller expects (as given to :func:`atomic_save`).
        max_version: the newest payload layout the caller understands.

    Returns:
        The payload, with tensors placed by ``map_location``.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptFileError: empty, truncated or damaged file.
        UnsafeFileError: the file holds pickled classes or functions.
        ForeignFileError: not a ppl file, or a ppl file of another kind.
        FileVersionError: written by a newer ppl (its version > ``max_version``).
    """
    envelope = read_envelope(path, map_location)
    if envelope.kind != kind:
        raise ForeignFileError(
            path, f"it is a ppl file of kind {envelope.kind!r}, expected {kind!r}"
        )
    if envelope.version > max_version:
        raise FileVersionError(
            path,
            f"its {kind!r} layout is version {envelope.version} but this ppl reads up to "
            f"version {max_version}; it was written by a newer ppl, upgrade ppl to read it",
        )
    return envelope.payload


def read_envelope(path: PathLike, map_location: MapLocation = None) -> Envelope:
    """Read and check a ppl file's envelope (any kind); see :func:`safe_load` for errors."""
    obj = load_weights_only(path, map_location)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_TAG:
        raise ForeignFileError(
            path,
            "it is a torch file but not a ppl file (no ppl header); "
            "ppl reads only files written by ppl's save functions",
        )
    if set(obj) != _ENVELOPE_KEYS:
        raise CorruptFileError(
            path, f"its ppl header has keys {sorted(obj)}, expected {sorted(_ENVELOPE_KEYS)}"
        )
    format_version, kind, version = obj["format_version"], obj["kind"], obj["version"]
    if type(format_version) is not int or type(version) is not int or not isinstance(kind, str):
        raise CorruptFileError(
            path,
            f"malformed ppl header (format_version={format_version!r}, kind={kind!r}, "
            f"version={version!r})",
        )
    if format_version > FORMAT_VERSION:
        raise FileVersionError(
            path,
            f"its ppl file format is version {format_version} but this ppl reads up to "
            f"version {FORMAT_VERSION}; it was written by a newer ppl, upgrade ppl to read it",
        )
    return Envelope(kind, version, obj["payload"])


def load_weights_only(
    path: PathLike,
    map_location: MapLocation = None,
    allowed_classes: Mapping[str, type] | None = None,
) -> Any:
    """``torch.load(weights_only=True)`` with integrity checks and errors naming the file.

    This is the only place ppl unpickles anything. ``allowed_classes`` extends the
    weights-only allow-list (for reading foreign files whose classes are known to
    be pure data, e.g. torch constraint objects in a Pyro parameter file); such
    classes are rebuilt with ``__new__`` and a ``__dict__`` update, no other code runs.

    Args:
        path: the file.
        map_location: as ``torch.load``.
        allowed_classes: extra classes the unpickler may rebuild, by the global name
            (``module.qualname``) under which the file refers to them.

    Returns:
        Whatever the file holds.

    Raises:
        FileNotFoundError, CorruptFileError, UnsafeFileError: see :func:`safe_load`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"cannot load {path!r}: no such file")
    _verify_archive(path)
    allowed_classes = dict(allowed_classes or {})
    allowed: list[Any] = [(cls, name) for name, cls in allowed_classes.items()]
    try:
        with torch.serialization.safe_globals(allowed):
            location = dict(map_location) if isinstance(map_location, Mapping) else map_location
            return torch.load(path, map_location=location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" not in str(err).lower():
            raise CorruptFileError(path, f"its data cannot be unpickled ({err})") from None
        try:
            found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # the scan is diagnostic only
            found = []
        unsafe = [name for name in found if name not in allowed_classes]
        raise UnsafeFileError(
            path,
            "it holds pickled objects that are not plain data "
            f"({', '.join(unsafe) or 'see torch.load'}); ppl never unpickles code, so it "
            "was not loaded. Re-save it with ppl from a trusted source",
            unsafe,
        ) from None
    except (RuntimeError, EOFError, KeyError, IndexError, ValueError, OSError) as err:
        raise CorruptFileError(path, f"it is not a readable torch file ({err})") from None


def _verify_archive(path: str) -> None:
    """Check the zip container (and every member's CRC) before unpickling anything."""
    if os.path.getsize(path) == 0:
        raise CorruptFileError(path, "the file is empty (was a save interrupted?)")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile:
        raise CorruptFileError(
            path, "it is truncated, damaged, or not a file written by torch.save"
        ) from None
    except (OSError, EOFError, ValueError, NotImplementedError) as err:
        raise CorruptFileError(path, f"its archive cannot be read ({err})") from None
    if bad is not None:
        raise CorruptFileError(path, f"member {bad!r} fails its CRC check; the bytes are damaged")
