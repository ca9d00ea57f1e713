"""Layout: the one flatten/fold mechanism (names, shapes, offsets; batch-aware views)."""

import pytest
import torch

from ppl.ops.layout import Layout


def make():
    return Layout([("w", (2, 3)), ("b", 3), ("s", ())])


def test_offsets_sizes_and_mapping_protocol():
    lay = make()
    assert lay.names == ("w", "b", "s")
    assert lay.shapes == ((2, 3), (3,), ())
    assert lay.sizes == (6, 3, 1)
    assert lay.offsets == (0, 6, 9)
    assert lay.size == 10 and len(lay) == 3
    assert list(lay) == ["w", "b", "s"] and "b" in lay and "z" not in lay
    assert lay.slice("b") == slice(6, 9) and lay.shape("w") == (2, 3)
    assert Layout({"w": (2, 3), "b": 3, "s": ()}) == lay
    assert hash(Layout({"w": (2, 3), "b": 3, "s": ()})) == hash(lay)
    assert "size=10" in repr(lay)


def test_fold_values_and_views_share_memory():
    lay = make()
    v = torch.arange(10.0)
    d = lay.fold(v)
    assert torch.equal(d["w"], torch.tensor([[0.0, 1, 2], [3, 4, 5]]))
    assert torch.equal(d["b"], torch.tensor([6.0, 7, 8]))
    assert d["s"].shape == () and d["s"].item() == 9.0
    d["s"].fill_(100.0)
    d["w"][1, 2] = -1.0
    assert v[9].item() == 100.0 and v[5].item() == -1.0
    v[7] = 42.0
    assert d["b"][1].item() == 42.0
    assert [t.shape for t in lay.views(v)] == [(2, 3), (3,), ()]


def test_flatten_round_trip_and_out():
    lay = make()
    v = torch.randn(10)
    assert torch.equal(lay.flatten(lay.fold(v)), v)
    out = torch.empty(10)
    res = lay.flatten(lay.fold(v), out=out)
    assert res is out and torch.equal(out, v)


def test_batched_fold_flatten():
    lay = make()
    v = torch.randn(4, 5, 10)
    d = lay.fold(v)
    assert d["w"].shape == (4, 5, 2, 3) and d["s"].shape == (4, 5)
    assert torch.equal(d["w"][2, 3], v[2, 3, :6].reshape(2, 3))
    assert torch.equal(lay.flatten(d), v)
    assert lay.batch_shape(d) == (4, 5)


def test_gradients_and_vmap():
    lay = make()
    v = torch.randn(10, requires_grad=True)
    d = lay.fold(v)
    (d["w"].sum() * 2 + d["s"] * 3).backward()
    assert torch.equal(v.grad, torch.tensor([2.0] * 6 + [0.0] * 3 + [3.0]))
    batched = torch.func.vmap(lambda x: lay.flatten({k: t * 2 for k, t in lay.fold(x).items()}))
    x = torch.randn(7, 10)
    assert torch.equal(batched(x), 2 * x)


def test_dict_round_trip_and_from_tensors():
    lay = make()
    assert Layout.from_dict(lay.as_dict()) == lay
    lay2 = Layout.from_tensors({"a": torch.zeros(5, 2), "b": torch.zeros(5)}, batch_ndims=1)
    assert lay2.shapes == ((2,), ()) and lay2.size == 3


def test_empty_layout():
    lay = Layout([])
    assert lay.size == 0 and lay.fold(torch.zeros(0)) == {}
    assert lay.flatten({}).shape == (0,)


@pytest.mark.parametrize(
    "entries, exc, match",
    [
        ([("a", 2), ("a", 3)], ValueError, "unique; repeated: \\['a'\\]"),
        ([("a", (2, -1))], ValueError, "entry 'a': shape must be non-negative"),
        ([(1, 2)], TypeError, "names must be strings"),
        ([("a", "xy")], TypeError, "entry 'a': shape must be an int or a tuple"),
        ([("a", True)], TypeError, "got bool"),
    ],
)
def test_bad_entries(entries, exc, match):
    with pytest.raises(exc, match=match):
        Layout(entries)


def test_fold_errors():
    lay = make()
    with pytest.raises(ValueError, match="last dim 10 .*got shape \\(9,\\)"):
        lay.fold(torch.zeros(9))
    with pytest.raises(ValueError, match="got shape \\(\\)"):
        lay.fold(torch.tensor(1.0))
    with pytest.raises(TypeError, match="expects a tensor"):
        lay.fold([0.0] * 10)
    with pytest.raises(KeyError, match="'z' is not in the layout"):
        lay.slice("z")


def test_flatten_errors():
    lay = make()
    good = lay.fold(torch.zeros(10))
    with pytest.raises(ValueError, match="missing \\['s'\\], unexpected \\['t'\\]"):
        lay.flatten({"w": good["w"], "b": good["b"], "t": good["s"]})
    with pytest.raises(ValueError, match="entry 'b' expected shape \\(\\.\\.\\., \\*\\(3,\\)\\)"):
        lay.flatten({**good, "b": torch.zeros(4)})
    with pytest.raises(ValueError, match="entry 'b' has batch shape \\(2,\\) but 'w' has \\(\\)"):
        lay.flatten({**good, "b": torch.zeros(2, 3)})
    with pytest.raises(TypeError, match="entry 'w' must be a tensor"):
        lay.flatten({**good, "w": [[0.0] * 3] * 2})
    with pytest.raises(ValueError, match="out must have shape \\(10,\\)"):
        lay.flatten(good, out=torch.zeros(11))


def test_from_dict_errors_and_immutability():
    with pytest.raises(ValueError, match="expects \\{'names'"):
        Layout.from_dict({"names": ["a"]})
    with pytest.raises(ValueError, match="1 names but 2 shapes"):
        Layout.from_dict({"names": ["a"], "shapes": [[1], [2]]})
    with pytest.raises(AttributeError, match="immutable"):
        make().size = 3


def test_device_and_dtype_follow_input(device):
    lay = make()
    v = torch.randn(10, dtype=torch.float64, device=device)
    d = lay.fold(v)
    assert all(t.device == v.device and t.dtype == torch.float64 for t in d.values())
    assert lay.flatten(d).device == v.device
