"""Runs pyroapi's generic suite (``pip install pyro-api``) with ppl registered as a backend."""

import pytest

pyroapi = pytest.importorskip("pyroapi")

pyroapi.register_backend(
    "ppl",
    {
        "distributions": "ppl.distributions",
        "handlers": "ppl.poutine",
        "infer": "ppl.infer",
        "ops": "torch",
        "optim": "ppl.optim",
        "pyro": "ppl",
    },
)


@pytest.fixture
def backend():
    with pyroapi.pyro_backend("ppl"):
        yield
