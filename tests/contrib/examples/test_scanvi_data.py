"""``ppl.contrib.examples.scanvi_data``: every cell served once per epoch, batches never
mixing labelled and unlabelled cells, labels one-hot and matching."""

import pytest
import torch

from ppl.contrib.examples.scanvi_data import BatchDataLoader, get_data
from ppl.contrib.examples.util import get_data_directory


def test_each_epoch_serves_every_cell_once_in_pure_batches():
    torch.manual_seed(0)
    x = torch.arange(30.0).unsqueeze(-1)  # the row id as the only gene
    y = torch.tensor([0, 1, -1] * 10)
    loader = BatchDataLoader(x, y, batch_size=4, num_classes=2)
    assert len(loader) == 3 + 5  # ceil(10 / 4) unlabelled + ceil(20 / 4) labelled
    for _ in range(2):
        seen = []
        for xb, yb in loader:
            rows = xb.squeeze(-1).long()
            seen += rows.tolist()
            if yb is None:
                assert (y[rows] == -1).all()
            else:
                assert torch.equal(yb, torch.nn.functional.one_hot(y[rows], 2))
        assert sorted(seen) == list(range(30))


def test_mock_data_shapes_and_label_split():
    torch.manual_seed(0)
    loader, num_genes, l_mean, l_scale, adata = get_data("mock", batch_size=100)
    assert (num_genes, l_mean, l_scale, adata) == (17, 2.0, 1.0, None)
    assert loader.num_labeled == 100 and loader.num_unlabeled == 100
    assert loader.data_x.shape == (200, 17)


def test_bad_input():
    with pytest.raises(ValueError, match="3 rows but data_y has 2"):
        BatchDataLoader(torch.zeros(3, 1), torch.zeros(2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="'pbmc' or 'mock'"):
        get_data("other")


def test_data_directory(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert get_data_directory("/a/b/script.py") == "/a/b/.data"
