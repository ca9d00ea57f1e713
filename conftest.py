"""Every test and doctest starts from the same state: an empty param store, seeded
generators and validation on, so that none depends on what ran before it."""

import pytest

import ppl


@pytest.fixture(autouse=True)
def _fresh_state():
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    ppl.enable_validation(True)
    yield
    ppl.clear_param_store()
    ppl.enable_validation(True)
