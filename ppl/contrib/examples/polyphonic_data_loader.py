"""The polyphonic music datasets of Pyro's HMM and DMM examples, and their mini-batch helpers.

Four corpora of piano-roll sequences (Boulanger-Lewandowski, Bengio and Vincent, 2012):
JSB chorales, Piano-midi.de, MuseData and Nottingham. Each sequence is a ``(T, 88)``
0/1 tensor: which of the 88 piano keys sound at each time step. :func:`load_data`
returns ``{"train"|"valid"|"test": {"sequences": (N, T_max, 88) padded float tensor,
"sequence_lengths": (N,) long tensor}}`` as Pyro's loader does, on torch's default
device, so ``examples/hmm.py`` and ``examples/dmm.py`` run unchanged.

Design notes
------------
* **Safe files.** The raw corpora are published as Python pickles; they are read with an
  unpickler that admits only plain containers and numbers (no class, no function), and
  the processed tensors are cached with ``torch.save`` and read back with
  ``torch.load(weights_only=True)``. A cached file never runs code when loaded.
* **Offline use.** Without network access, :func:`write_synthetic` puts a synthetic
  corpus of the same shape in the cache (JSB chorales: 229/76/77 sequences of 33 to 129
  steps), which :func:`load_data` then reads as if downloaded: examples can run, and be
  timed, on data of the real size.

Example:
    >>> import torch
    >>> batch = torch.arange(2 * 3 * 1.0).reshape(2, 3, 1)
    >>> reverse_sequences(batch, torch.tensor([3, 2]))[..., 0]
    tensor([[2., 1., 0.],
            [4., 3., 0.]])
    >>> get_mini_batch_mask(batch, torch.tensor([3, 2]))
    tensor([[1., 1., 1.],
            [1., 1., 0.]])
"""

from __future__ import annotations

import io
import os
import pickle
from collections import namedtuple
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from .util import get_data_directory

__all__ = [
    "JSB_CHORALES",
    "MUSE_DATA",
    "NOTTINGHAM",
    "PIANO_MIDI",
    "dset",
    "get_mini_batch",
    "get_mini_batch_mask",
    "load_data",
    "pad_and_reverse",
    "process_data",
    "reverse_sequences",
    "write_synthetic",
]

#: a dataset: its name, the address of its raw pickle, and the name of its cache file
dset = namedtuple("dset", ["name", "url", "filename"])

_HOST = "https://d2hg8soec8ck9v.cloudfront.net/datasets/polyphonic/"
JSB_CHORALES = dset("jsb_chorales", _HOST + "jsb_chorales.pickle", "jsb_chorales.pt")
PIANO_MIDI = dset("piano_midi", _HOST + "piano_midi.pickle", "piano_midi.pt")
MUSE_DATA = dset("muse_data", _HOST + "muse_data.pickle", "muse_data.pt")
NOTTINGHAM = dset("nottingham", _HOST + "nottingham.pickle", "nottingham.pt")

# sequences per split and the range of their lengths, as in the real JSB corpus
_JSB_SHAPE = {"train": (229, 33, 129), "valid": (76, 33, 129), "test": (77, 33, 129)}


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles only builtin containers and numbers: a raw corpus cannot run code."""

    _allowed = {("builtins", name) for name in ("list", "dict", "set", "tuple", "frozenset")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"polyphonic data: the raw file refers to {module}.{name}; only lists, "
            "dicts, sets, tuples and numbers are accepted"
        )


def _piano_rolls(raw: dict, min_note: int, note_range: int) -> dict[str, dict[str, Any]]:
    """``{split: [[notes of step t] for t]}`` -> ``{split: {"sequences", "sequence_lengths"}}``."""
    processed: dict[str, dict[str, Any]] = {}
    for split, sequences in raw.items():
        rolls = []
        for sequence in sequences:
            roll = torch.zeros(len(sequence), note_range)
            for t, notes in enumerate(sequence):
                keys = torch.tensor(sorted(notes), dtype=torch.long) - min_note
                if keys.numel():
                    roll[t, keys] = 1.0
            rolls.append(roll)
        lengths = torch.tensor([len(r) for r in rolls], dtype=torch.long)
        processed[split] = {"sequences": rolls, "sequence_lengths": lengths}
    return processed


def _save(processed: dict, path: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(processed, tmp)
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def process_data(base_path: str, dataset: dset, min_note: int = 21, note_range: int = 88) -> None:
    """Download ``dataset`` and cache its piano rolls in ``base_path``, unless cached.

    Raises:
        OSError: if the file is not cached and cannot be downloaded (offline: see
            :func:`write_synthetic`).
    """
    output = os.path.join(base_path, dataset.filename)
    if os.path.exists(output):
        return
    from urllib.request import urlopen

    try:
        with urlopen(dataset.url) as response:
            payload = response.read()
    except OSError as error:
        raise OSError(
            f"polyphonic data: cannot download {dataset.name} from {dataset.url} ({error}); "
            "offline, ppl.contrib.examples.polyphonic_data_loader.write_synthetic("
            f"{dataset.name.upper()}) caches a synthetic corpus of the same shape"
        ) from error
    raw = _PlainUnpickler(io.BytesIO(payload)).load()
    os.makedirs(base_path, exist_ok=True)
    _save(_piano_rolls(raw, min_note, note_range), output)


def _base_path() -> str:
    return get_data_directory(__file__)


def load_data(dataset: dset) -> dict[str, dict[str, torch.Tensor]]:
    """The dataset's splits as padded ``(N, T_max, 88)`` sequences and their lengths.

    Downloads and caches the corpus on first use (:func:`process_data`).
    """
    base_path = _base_path()
    process_data(base_path, dataset)
    cached = torch.load(os.path.join(base_path, dataset.filename), weights_only=True)
    device = torch.get_default_device()
    result: dict[str, dict[str, torch.Tensor]] = {}
    for split, value in cached.items():
        sequences = pad_sequence(value["sequences"], batch_first=True).float()
        result[split] = {
            "sequences": sequences.to(device),
            "sequence_lengths": value["sequence_lengths"].to(device),
        }
    return result


def write_synthetic(
    dataset: dset = JSB_CHORALES, seed: int = 0, notes_per_step: int = 4, note_range: int = 88
) -> str:
    """Cache a synthetic corpus with the real one's shape in place of ``dataset``.

    Each sequence is a random walk over chords: ``notes_per_step`` keys out of 51 (the
    keys the JSB chorales use), each held with probability 0.7 from one step to the next.
    Returns the path of the cache file :func:`load_data` will read.
    """
    g = torch.Generator().manual_seed(seed)
    used_keys = torch.arange(20, 71)  # 51 of the 88 keys ever sound
    processed: dict[str, dict[str, Any]] = {}
    for split, (count, shortest, longest) in _JSB_SHAPE.items():
        lengths = torch.randint(shortest, longest + 1, (count,), generator=g)
        lengths[0] = longest  # every split reaches the longest length
        rolls = []
        for length in lengths.tolist():
            roll = torch.zeros(length, note_range)
            chord = used_keys[torch.randperm(len(used_keys), generator=g)[:notes_per_step]]
            for t in range(length):
                fresh = used_keys[torch.randint(len(used_keys), chord.shape, generator=g)]
                keep = torch.rand(chord.shape, generator=g) < 0.7
                chord = torch.where(keep, chord, fresh)
                roll[t, chord] = 1.0
            rolls.append(roll)
        processed[split] = {"sequences": rolls, "sequence_lengths": lengths}
    base_path = _base_path()
    os.makedirs(base_path, exist_ok=True)
    path = os.path.join(base_path, dataset.filename)
    _save(processed, path)
    return path


def reverse_sequences(mini_batch: torch.Tensor, seq_lengths: torch.Tensor) -> torch.Tensor:
    """Each ``(T_max, D)`` sequence of the batch reversed in time over its first
    ``seq_lengths[b]`` steps; the padding stays zero."""
    reversed_batch = torch.zeros_like(mini_batch)
    for b, length in enumerate(seq_lengths.tolist()):
        reversed_batch[b, :length] = mini_batch[b, :length].flip(0)
    return reversed_batch


def pad_and_reverse(rnn_output: Any, seq_lengths: torch.Tensor) -> torch.Tensor:
    """Unpack an RNN's packed output to a padded batch and reverse each sequence."""
    padded, _ = nn.utils.rnn.pad_packed_sequence(rnn_output, batch_first=True)
    return reverse_sequences(padded, seq_lengths)


def get_mini_batch_mask(mini_batch: torch.Tensor, seq_lengths: torch.Tensor) -> torch.Tensor:
    """A ``(B, T_max)`` 0/1 mask: 1 on each sequence's first ``seq_lengths[b]`` steps."""
    steps = torch.arange(mini_batch.shape[1], device=mini_batch.device)
    return (steps < seq_lengths.to(mini_batch.device).unsqueeze(-1)).to(mini_batch.dtype)


def get_mini_batch(
    mini_batch_indices: torch.Tensor,
    sequences: torch.Tensor,
    seq_lengths: torch.Tensor,
    cuda: bool = False,
) -> tuple[torch.Tensor, Any, torch.Tensor, torch.Tensor]:
    """A mini-batch sorted by decreasing length, for an RNN guide (Pyro's DMM example).

    Returns:
        ``(mini_batch, packed reversed mini_batch, mask, sorted lengths)``; with ``cuda``
        the tensors are moved to the GPU before packing.
    """
    lengths = seq_lengths[mini_batch_indices]
    order = torch.sort(lengths).indices.flip(0)
    sorted_lengths = lengths[order]
    indices = mini_batch_indices[order]
    mini_batch = sequences[indices, : int(lengths.max())]
    reversed_batch = reverse_sequences(mini_batch, sorted_lengths)
    mask = get_mini_batch_mask(mini_batch, sorted_lengths)
    if cuda:
        mini_batch, mask, reversed_batch = mini_batch.cuda(), mask.cuda(), reversed_batch.cuda()
    packed = nn.utils.rnn.pack_padded_sequence(
        reversed_batch, sorted_lengths.cpu(), batch_first=True
    )
    return mini_batch, packed, mask, sorted_lengths
