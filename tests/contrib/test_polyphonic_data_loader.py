"""ppl.contrib.examples.polyphonic_data_loader: Pyro's HMM/DMM data, safe and offline."""

import io
import os
import pickle

import pytest
import torch

from ppl.contrib.examples import polyphonic_data_loader as poly


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """A fresh ~/.data: with CI set, the example loaders keep their data there."""
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path / ".data"


def test_synthetic_corpus_has_the_jsb_shape(data_home):
    path = poly.write_synthetic(poly.JSB_CHORALES, seed=3)
    assert path == str(data_home / "jsb_chorales.pt")
    data = poly.load_data(poly.JSB_CHORALES)
    train = data["train"]
    assert train["sequences"].shape == (229, 129, 88)
    assert train["sequence_lengths"].dtype == torch.long
    assert int(train["sequence_lengths"].min()) >= 33
    assert int(train["sequence_lengths"].max()) == 129
    assert data["valid"]["sequences"].shape[0] == 76 and data["test"]["sequences"].shape[0] == 77
    played = (train["sequences"] == 1).sum(0).sum(0) > 0
    assert int(played.sum()) == 51  # as the real corpus: 37 of the 88 keys never sound
    # every step sounds at most 4 keys, and padding is silent
    assert int(train["sequences"].sum(-1).max()) <= 4
    last = int(train["sequence_lengths"][1])
    assert float(train["sequences"][1, last:].abs().sum()) == 0.0


def test_a_raw_corpus_is_read_with_a_plain_unpickler(data_home, monkeypatch):
    raw = {"train": [[(60, 64), (), (21,)]], "test": [[(108,)]]}
    payload = pickle.dumps(raw)

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda url: Response(payload))
    data = poly.load_data(poly.NOTTINGHAM)
    roll = data["train"]["sequences"][0]
    assert roll.shape == (3, 88)
    assert roll[0].nonzero().flatten().tolist() == [39, 43]  # keys 60 and 64, from note 21
    assert roll[1].sum() == 0 and roll[2].nonzero().flatten().tolist() == [0]
    assert data["test"]["sequences"][0, 0, 87] == 1.0
    assert os.path.exists(data_home / "nottingham.pt")  # cached: no second download

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="only lists, dicts"):
        poly._PlainUnpickler(io.BytesIO(pickle.dumps({"train": [Evil()]}))).load()


def test_offline_download_error_names_the_way_out(data_home, monkeypatch):
    import urllib.request

    def offline(url):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(OSError, match=r"cannot download muse_data .*write_synthetic"):
        poly.load_data(poly.MUSE_DATA)


def test_mini_batch_helpers_sort_reverse_mask_and_pack():
    sequences = torch.arange(3 * 4 * 2, dtype=torch.float32).reshape(3, 4, 2)
    lengths = torch.tensor([2, 4, 3])
    batch, packed, mask, sorted_lengths = poly.get_mini_batch(
        torch.tensor([0, 1, 2]), sequences, lengths
    )
    assert sorted_lengths.tolist() == [4, 3, 2]
    assert torch.equal(batch, sequences[[1, 2, 0]])
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]]
    unpacked = poly.pad_and_reverse(packed, sorted_lengths)  # reversing twice: the batch
    assert torch.equal(unpacked * mask.unsqueeze(-1), batch * mask.unsqueeze(-1))
    reversed_once = poly.reverse_sequences(batch, sorted_lengths)
    assert torch.equal(reversed_once[2, :2], sequences[0, :2].flip(0))
    assert float(reversed_once[2, 2:].abs().sum()) == 0.0
