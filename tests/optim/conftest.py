"""Put this folder on sys.path so the tests can share ``optim_helpers``."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
