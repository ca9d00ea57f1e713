"""Put this folder on sys.path (shared helpers) and restart sharded plates for every test."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from ppl.distributed import reset_shard_steps  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_shard_steps():
    reset_shard_steps()
    yield
    reset_shard_steps()
