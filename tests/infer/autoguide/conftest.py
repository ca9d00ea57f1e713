"""Autoguide tests: share ``autoguide_models`` and run tiny models on one thread."""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _one_thread():
    # On a loaded 2-core machine a parallel ``tril`` on a 2x2 matrix can take ~20 ms;
    # these models are tiny, so one thread is both faster and deterministic.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
