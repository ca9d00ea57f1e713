"""LSH neighbours, ApproxSet occupancy and merge_points on exact configurations."""

import pytest
import torch

from ppl.contrib.tracking.hashing import LSH, ApproxSet, merge_points


def test_lsh_neighbours_and_updates():
    lsh = LSH(1.0)
    lsh.add("a", torch.tensor([0.0, 0.0]))
    lsh.add("b", torch.tensor([1.2, -0.9]))  # adjacent cell (1, -1)
    lsh.add("c", torch.tensor([2.6, 0.0]))  # cell (3, 0): two cells away
    assert lsh.nearby("a") == {"b"}
    assert lsh.nearby("b") == {"a"}
    assert lsh.nearby("c") == set()
    lsh.add("c", torch.tensor([0.4, 0.4]))  # re-adding moves the key
    assert lsh.nearby("a") == {"b", "c"}
    lsh.remove("b")
    assert lsh.nearby("a") == {"c"}
    with pytest.raises(KeyError):
        lsh.remove("b")


def test_approx_set():
    s = ApproxSet(0.5)
    assert s.try_add(torch.tensor([0.1]))
    assert not s.try_add(torch.tensor([-0.2]))
    assert s.try_add(torch.tensor([0.3]))  # rounds to cell 1


def test_merge_points_exact():
    points = torch.tensor([[0.0, 0.0], [0.0, 1.0], [2.0, 0.0], [2.0, 0.5], [2.0, 1.0]])
    merged, groups = merge_points(points, radius=1.0)
    # the closest pair (2, 3) merges first to (2, 0.25); then with (2, 1): (2, 0.625)
    assert groups == [(0,), (1,), (4, 2, 3)]
    assert merged.tolist() == [[0.0, 0.0], [0.0, 1.0], [2.0, 0.625]]
    grid = torch.tensor([[0.0], [1.0], [2.0]])  # exactly radius apart: never merged
    same, groups = merge_points(grid, radius=1.0)
    assert same is grid and groups == [(0,), (1,), (2,)]


@pytest.mark.parametrize("radius", [-1.0, 0.0, True, torch.ones(2)])
def test_bad_radius(radius):
    with pytest.raises(ValueError, match="radius must be a number greater than 0"):
        LSH(radius)
    with pytest.raises(ValueError, match="radius"):
        ApproxSet(radius)


def test_merge_points_bad_shape():
    with pytest.raises(ValueError, match=r"expected points.shape == \(K, D\)"):
        merge_points(torch.zeros(3), 1.0)
