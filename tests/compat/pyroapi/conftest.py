"""Runs pyroapi's generic suite (``pip install pyro-api``) with ppl registered as a backend."""

import pytest

pyroapi = pytest.importorskip("pyroapi")

PPL_BACKEND = {
    "distributions": "ppl.distributions",
    "handlers": "ppl.poutine",
    "infer": "ppl.infer",
    "ops": "torch",
    "optim": "ppl.optim",
    "pyro": "ppl",
}
pyroapi.register_backend("ppl", PPL_BACKEND)
# pyroapi's modules resolve to Pyro by default; pytest's doctest collection inspects the
# names the suite star-imports, which would import Pyro (absent here). Route them to ppl.
pyroapi.dispatch.GenericModule.current_backend.update(PPL_BACKEND)


@pytest.fixture
def backend():
    with pyroapi.pyro_backend("ppl"):
        yield
