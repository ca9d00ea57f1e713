"""Data for the scANVI example: mini-batches that are all labelled or all unlabelled.

scANVI (semi-supervised single-cell model) trains on cells of which only some carry a
cell-type label. Its loss treats the two kinds differently, so each mini-batch holds only
one kind: :class:`BatchDataLoader` shuffles the labelled and unlabelled cells separately,
cuts each into batches and serves the batches in a random order, a label-less batch as
``(x, None)`` and a labelled one as ``(x, one_hot(y))``.

``get_data("mock")`` builds a small synthetic set (Poisson counts, 200 cells, 17 genes,
two labelled classes of 50 cells and 100 unlabelled ones); ``get_data("pbmc")`` needs the
``scanpy`` and ``scvi-tools`` packages and network access.

Example:
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> loader, num_genes, l_mean, l_scale, _ = get_data("mock", batch_size=64)
    >>> num_genes, len(loader)
    (17, 4)
    >>> sorted(tuple(x.shape) + (y is None,) for x, y in loader)
    [(36, 17, False), (36, 17, True), (64, 17, False), (64, 17, True)]
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

__all__ = ["BatchDataLoader", "get_data"]


class BatchDataLoader:
    """Serve shuffled mini-batches, each fully labelled or fully unlabelled.

    Args:
        data_x: ``(num_cells, num_genes)`` counts.
        data_y: ``(num_cells,)`` integer labels, ``missing_label`` where unknown.
        batch_size: cells per batch (the last batch of each kind may be smaller).
        num_classes: width of the one-hot labels.
        missing_label: the value marking an unlabelled cell.
    """

    def __init__(
        self,
        data_x: torch.Tensor,
        data_y: torch.Tensor,
        batch_size: int,
        num_classes: int = 4,
        missing_label: int = -1,
    ) -> None:
        if data_x.size(0) != data_y.size(0):
            raise ValueError(
                f"BatchDataLoader: data_x has {data_x.size(0)} rows but data_y has {data_y.size(0)}"
            )
        self.data_x = data_x
        self.data_y = data_y
        self.batch_size = batch_size
        self.num_classes = num_classes
        self.unlabeled = torch.nonzero(data_y == missing_label).flatten()
        self.labeled = torch.nonzero(data_y != missing_label).flatten()
        self.num_unlabeled = self.unlabeled.numel()
        self.num_labeled = self.labeled.numel()
        self.num_unlabeled_batches = math.ceil(self.num_unlabeled / batch_size)
        self.num_labeled_batches = math.ceil(self.num_labeled / batch_size)
        if len(self) == 0:
            raise ValueError("BatchDataLoader: no cells to serve")

    @property
    def size(self) -> int:
        """The number of cells."""
        return self.data_x.size(0)

    def __len__(self) -> int:
        return self.num_unlabeled_batches + self.num_labeled_batches

    def _batches(self, cells: torch.Tensor, labelled: bool) -> list[tuple[torch.Tensor, bool]]:
        shuffled = cells[torch.randperm(cells.numel(), device=cells.device)]
        return [(chunk, labelled) for chunk in torch.split(shuffled, self.batch_size)]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        order = torch.randperm(len(self)).tolist()
        batches = self._batches(self.unlabeled, False) + self._batches(self.labeled, True)
        for index in order:
            cells, labelled = batches[index]
            x = self.data_x[cells]
            if labelled:
                yield x, torch.nn.functional.one_hot(self.data_y[cells], self.num_classes)
            else:
                yield x, None


def get_data(
    dataset: str = "pbmc", batch_size: int = 100, cuda: bool = False
) -> tuple[BatchDataLoader, int, float, float, object]:
    """``(loader, num_genes, l_mean, l_scale, anndata)`` for the scANVI example.

    ``l_mean``/``l_scale`` are the location and scale of the log library size prior;
    ``anndata`` is the preprocessed data set (None for ``"mock"``).
    """
    if dataset == "mock":
        num_genes, num_cells = 17, 200
        x = torch.distributions.Poisson(10.0).sample((num_cells, num_genes))
        y = torch.zeros(num_cells, dtype=torch.long)
        y[50:100] = 1
        y[100:] = -1
        if cuda:
            x, y = x.cuda(), y.cuda()
        return BatchDataLoader(x, y, batch_size), num_genes, 2.0, 1.0, None
    if dataset != "pbmc":
        raise ValueError(f"get_data: dataset must be 'pbmc' or 'mock', got {dataset!r}")
    raise ImportError(
        "get_data('pbmc') needs the PBMC data set through scanpy and scvi-tools and network "
        "access, which ppl does not provide; use get_data('mock') for a synthetic set"
    )
