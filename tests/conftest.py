"""Shared fixtures: every test starts with an empty ParamStore, a fixed seed and validation on."""

import pytest
import torch

import ppl


@pytest.fixture(autouse=True)
def _fresh_state():
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    ppl.enable_validation(True)
    yield
    ppl.clear_param_store()
    ppl.enable_validation(True)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test on the CPU and, when there is one, on CUDA."""
    return torch.device(request.param)
