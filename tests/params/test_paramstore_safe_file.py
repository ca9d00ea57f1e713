"""safe_file: atomic versioned save, weights-only load, and a clear error for every bad file."""

import os
import stat
import zipfile

import pytest
import torch

from ppl.params import safe_file
from ppl.params.safe_file import (
    CorruptFileError,
    FileVersionError,
    ForeignFileError,
    UnsafeFileError,
    atomic_save,
    safe_load,
)


def _payload():
    return {"w": torch.arange(6.0).reshape(2, 3), "meta": {"step": 7, "tags": ["a", None]}}


def test_round_trip_keeps_tensors_and_plain_data(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save(_payload(), path, kind="demo", version=2)
    out = safe_load(path, kind="demo", max_version=2)
    assert torch.equal(out["w"], torch.arange(6.0).reshape(2, 3))
    assert out["meta"] == {"step": 7, "tags": ["a", None]}
    envelope = safe_file.read_envelope(path)
    assert (envelope.kind, envelope.version) == ("demo", 2)
    assert os.listdir(tmp_path) == ["x.pt"]  # no temporary file left behind


def test_file_is_a_plain_torch_file_readable_with_weights_only(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save(_payload(), path, kind="demo")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "ppl" and raw["format_version"] == 1 and raw["kind"] == "demo"


def test_overwrite_keeps_permissions_of_the_old_file(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({"a": 1}, path, kind="demo")
    os.chmod(path, 0o600)
    atomic_save({"a": 2}, path, kind="demo")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert safe_load(path, kind="demo") == {"a": 2}


def test_map_location_places_tensors(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({"w": torch.ones(3, dtype=torch.float64)}, path, kind="demo")
    out = safe_load(path, map_location="meta", kind="demo")
    assert out["w"].device.type == "meta" and out["w"].dtype == torch.float64


@pytest.mark.parametrize(
    "obj,match",
    [
        ({"f": print}, r"payload\['f'\] is a builtin_function_or_method"),
        ({"p": torch.nn.Parameter(torch.ones(1))}, r"payload\['p'\] is a Parameter.*detach"),
        ({1.5: 2}, r"key 1.5 of type float"),
        ([{1, 2}], r"payload\[0\] is a set"),
    ],
)
def test_non_plain_data_is_refused_before_writing(tmp_path, obj, match):
    path = tmp_path / "x.pt"
    atomic_save({"old": 1}, path, kind="demo")
    with pytest.raises(TypeError, match=match):
        atomic_save(obj, path, kind="demo")
    assert safe_load(path, kind="demo") == {"old": 1}
    assert os.listdir(tmp_path) == ["x.pt"]


def test_failure_while_writing_keeps_old_file_and_removes_temporary(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    atomic_save({"old": 1}, path, kind="demo")

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"new": 2}, path, kind="demo")
    monkeypatch.undo()
    assert safe_load(path, kind="demo") == {"old": 1}
    assert os.listdir(tmp_path) == ["x.pt"]


def test_bad_save_arguments(tmp_path):
    with pytest.raises(TypeError, match="kind must be a non-empty str"):
        atomic_save({}, tmp_path / "x.pt", kind="")
    with pytest.raises(TypeError, match="version must be an int"):
        atomic_save({}, tmp_path / "x.pt", kind="demo", version="1")
    with pytest.raises(ValueError, match="version must be >= 1, got 0"):
        atomic_save({}, tmp_path / "x.pt", kind="demo", version=0)
    with pytest.raises(FileNotFoundError, match="folder .*nope.* does not exist"):
        atomic_save({}, tmp_path / "nope" / "x.pt", kind="demo")
    with pytest.raises(IsADirectoryError, match="it is a folder; pass a file name"):
        atomic_save({}, tmp_path, kind="demo")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cannot load .*absent.pt.*no such file"):
        safe_load(tmp_path / "absent.pt", kind="demo")


def test_empty_file(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"")
    with pytest.raises(CorruptFileError, match=r"cannot load .*x.pt.*the file is empty"):
        safe_load(path, kind="demo")


def test_truncated_file(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({"w": torch.randn(1000)}, path, kind="demo")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=r"x.pt.*truncated, damaged, or not a file"):
        safe_load(path, kind="demo")


def test_flipped_byte_in_tensor_data_is_detected(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({"w": torch.randn(1000)}, path, kind="demo")
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("data/0"))
    data = bytearray(path.read_bytes())
    data[info.header_offset + 200] ^= 0xFF  # inside the tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"member '.*data/0' fails its CRC check"):
        safe_load(path, kind="demo")


def test_text_file_is_not_a_torch_file(tmp_path):
    path = tmp_path / "x.pt"
    path.write_text("hello")
    with pytest.raises(CorruptFileError, match="not a file written by torch.save"):
        safe_load(path, kind="demo")


def test_torch_file_without_ppl_header_is_foreign(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(ForeignFileError, match=r"x.pt.*torch file but not a ppl file"):
        safe_load(path, kind="demo")


def test_other_kind_is_foreign(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({}, path, kind="ppl.optim")
    with pytest.raises(ForeignFileError, match=r"kind 'ppl.optim', expected 'ppl.param_store'"):
        safe_load(path, kind="ppl.param_store")


def test_newer_payload_version_says_upgrade(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({}, path, kind="demo", version=3)
    with pytest.raises(FileVersionError, match=r"version 3 but this ppl reads up to version 1"):
        safe_load(path, kind="demo")


def test_newer_envelope_version_says_upgrade(tmp_path):
    path = tmp_path / "x.pt"
    header = {"format": "ppl", "format_version": 99, "kind": "demo", "version": 1, "payload": {}}
    torch.save(header, path)
    with pytest.raises(FileVersionError, match=r"file format is version 99.*upgrade ppl"):
        safe_load(path, kind="demo")


@pytest.mark.parametrize(
    "header,match",
    [
        ({"format": "ppl", "kind": "demo"}, "its ppl header has keys"),
        (
            {"format": "ppl", "format_version": "1", "kind": "demo", "version": 1, "payload": 0},
            "malformed ppl header",
        ),
    ],
)
def test_malformed_header_is_corrupt(tmp_path, header, match):
    path = tmp_path / "x.pt"
    torch.save(header, path)
    with pytest.raises(CorruptFileError, match=match):
        safe_load(path, kind="demo")


class _Evil:
    """Unpickling this creates a file: the stand-in for arbitrary code."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_file_runs_nothing(tmp_path):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    torch.save({"format": "ppl", "payload": _Evil(str(target))}, path)
    with pytest.raises(UnsafeFileError, match=r"evil.pt.*not plain data \(io.open\)") as info:
        safe_load(path, kind="demo")
    assert info.value.unsafe_globals == ["io.open"]
    assert info.value.path == str(path)
    assert not target.exists()


def test_errors_are_value_errors():
    for cls in (CorruptFileError, UnsafeFileError, ForeignFileError, FileVersionError):
        assert issubclass(cls, ValueError)
