"""Vindex/vindex and Index against brute-force loops; bad indices raise clear errors."""

import itertools

import pytest
import torch

from ppl.ops.indexing import Index, Vindex, index, vindex


def test_vindex_matches_brute_force_loop():
    torch.manual_seed(0)
    x = torch.randn(5, 3, 4)  # batch 5, indexed dims (3, 4)
    i = torch.randint(3, (2, 1))
    j = torch.randint(4, (1, 5))
    out = Vindex(x)[..., i, j]
    assert out.shape == (2, 5)
    for a, b in itertools.product(range(2), range(5)):
        assert out[a, b] == x[b, i[a, 0], j[0, b]]


def test_vindex_keeps_sliced_dims_on_the_right():
    torch.manual_seed(1)
    probs = torch.rand(3, 4)
    prev = torch.arange(3).reshape(3, 1, 1)
    out = Vindex(probs)[..., prev, :]
    assert out.shape == (3, 1, 1, 4)
    for k in range(3):
        torch.testing.assert_close(out[k, 0, 0], probs[k])


def test_vindex_without_ellipsis_indexes_leftmost_dims():
    x = torch.arange(24).reshape(2, 3, 4)
    i = torch.tensor([1, 0])
    out = vindex(x, (i,))
    assert out.shape == (2, 3, 4)
    torch.testing.assert_close(out, x[i])


def test_index_flattens_nested_tuples_and_passes_plain_args():
    x = torch.arange(24).reshape(2, 3, 4)
    torch.testing.assert_close(index(x, ((1,), (Ellipsis, 2))), x[1, ..., 2])
    torch.testing.assert_close(Index(x)[1], x[1])
    torch.testing.assert_close(index(x, slice(0, 1)), x[0:1])


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((Ellipsis, 0, 0, 0), ValueError, "3 index arguments for a tensor of shape"),
        ((0, Ellipsis), ValueError, "'...' may only appear first"),
        ((Ellipsis, torch.tensor([True, False])), TypeError, "boolean index at position 0"),
        ((Ellipsis, torch.tensor([0.5])), TypeError, "must be an integer tensor"),
        ((Ellipsis, None), TypeError, "None \\(new axis\\) is not supported"),
    ],
)
def test_vindex_bad_indices(args, error, match):
    with pytest.raises(error, match=match):
        Vindex(torch.zeros(2, 3))[args]
