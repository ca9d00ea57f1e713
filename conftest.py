"""Doctests in ``ppl/`` start from the same state as the tests (``tests/conftest.py``):
an empty param store, seeded generators and validation on, so that no docstring example
depends on what ran before it."""

import pytest

import ppl


@pytest.fixture(autouse=True)
def _fresh_doctest_state(request):
    if not isinstance(request.node, pytest.DoctestItem):
        yield  # tests/conftest.py handles tests
        return
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    ppl.enable_validation(True)
    yield
    ppl.clear_param_store()
    ppl.enable_validation(True)
