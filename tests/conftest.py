"""Shared fixtures (the fresh state every test starts from is in the root conftest.py)."""

import pytest
import torch

# Tests use small tensors: one thread avoids oversubscription on small shared machines
# (a 2x2 op can take milliseconds with 2 threads when another process is busy).
torch.set_num_threads(1)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test on the CPU and, when there is one, on CUDA."""
    return torch.device(request.param)


@pytest.fixture(scope="session")
def load_module():
    """Import a script or tutorial file as a module, registered in ``sys.modules``
    (torch.compile and dataclasses look functions' modules up there)."""
    import importlib.util
    import sys

    def load(path, name):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    return load
