"""Helpers shared by example scripts: the data directory, MNIST loaders, logging.

``get_data_loader`` and ``MNIST`` need torchvision (``pip install torchvision``), imported
only when they are used, so the rest works without it.

Example:
    >>> import io
    >>> log = io.StringIO()
    >>> print_and_log(log, "epoch 1")
    epoch 1
    >>> log.getvalue()
    'epoch 1\\n'
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["get_data_directory", "get_data_loader", "print_and_log"]

# a mirror that serves MNIST when the torchvision defaults are slow or down
_MNIST_MIRROR = "https://d2hg8soec8ck9v.cloudfront.net/datasets/mnist/"


def _torchvision() -> Any:
    try:
        import torchvision
    except ImportError as error:
        raise ImportError(
            "ppl.contrib.examples.util: loading image datasets needs torchvision "
            "(pip install torchvision)"
        ) from error
    return torchvision


def get_data_directory(filepath: str | None = None) -> str:
    """Where an example keeps downloaded data: ``~/.data`` on CI (``CI`` is set), else a
    ``.data`` folder beside ``filepath`` (the script's ``__file__``)."""
    if "CI" in os.environ or filepath is None:
        return os.path.expanduser("~/.data")
    return os.path.abspath(os.path.join(os.path.dirname(filepath), ".data"))


def print_and_log(logger: Any, msg: str) -> None:
    """Print ``msg`` (flushed) and append it as a line to ``logger`` (a file) if given."""
    print(msg)
    sys.stdout.flush()
    if logger is not None:
        logger.write(f"{msg}\n")
        logger.flush()


def __getattr__(name: str) -> Any:
    if name == "MNIST":  # built on first use: it subclasses torchvision's dataset
        datasets = _torchvision().datasets
        cls = type(
            "MNIST", (datasets.MNIST,), {"mirrors": [_MNIST_MIRROR, *datasets.MNIST.mirrors]}
        )
        globals()["MNIST"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_data_loader(
    dataset_name: str,
    data_dir: str,
    batch_size: int = 1,
    dataset_transforms: list | None = None,
    is_training_set: bool = True,
    shuffle: bool = True,
) -> Any:
    """A ``DataLoader`` over a torchvision dataset (downloaded into ``data_dir`` if
    needed), its images turned into tensors and then through ``dataset_transforms``."""
    from torch.utils.data import DataLoader

    torchvision = _torchvision()
    transform = torchvision.transforms.Compose(
        [torchvision.transforms.ToTensor(), *(dataset_transforms or [])]
    )
    dataset_cls = (
        __getattr__("MNIST")
        if dataset_name == "MNIST"
        else getattr(torchvision.datasets, dataset_name)
    )
    print("downloading data")
    dataset = dataset_cls(root=data_dir, train=is_training_set, transform=transform, download=True)
    print("download complete.")
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)
