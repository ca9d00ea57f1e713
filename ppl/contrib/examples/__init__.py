"""Data helpers that Pyro's example scripts import (``pyro.contrib.examples``).

* :mod:`~ppl.contrib.examples.util`: where example data lives, MNIST loaders (torchvision,
  an optional extra), ``print_and_log``;
* :mod:`~ppl.contrib.examples.scanvi_data`: the scANVI example's labelled/unlabelled
  mini-batch loader and its data (a synthetic ``"mock"`` set needs nothing else).

Example:
    >>> from ppl.contrib.examples.util import get_data_directory
    >>> get_data_directory("/tmp/example.py") in ("/tmp/.data", os.path.expanduser("~/.data"))
    True
"""

import os  # noqa: F401  (used by the doctest)
