"""pyroapi's backend-generic tests (SVI on valid models, constraints, optimizers), on ppl.

The test functions come from the installed ``pyroapi`` package and are collected here;
the ``backend`` fixture in this folder's conftest routes them to ppl. Skipped when
pyroapi is not installed (it is in the ``test`` extra).
"""

import pytest

pytest.importorskip("pyroapi")

from pyroapi.tests import *  # noqa: E402,F403
