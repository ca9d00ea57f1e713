"""GP hyperparameters learned by MAP equal real Pyro's on the same data and steps.

Runs only where pyro-ppl is importable (e.g. ``/tmp/benchenv/bin/python -m pytest``
with this tree on ``PYTHONPATH``); CI has no Pyro and skips it. Both backends run in
this process on the same float64 data: the MAP objective (the marginal likelihood
plus the log prior at the Delta guide's point) is deterministic, so Adam follows the
same path in both up to round-off.
"""

import importlib.util

import pytest
import torch

import ppl
import ppl.contrib.gp
import ppl.nn

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pyro") is None, reason="pyro-ppl not installed"
)


def fit_map(backend, gp, nn, X, y, num_steps):
    backend.clear_param_store()
    backend.set_rng_seed(0)
    kernel = gp.kernels.RBF(input_dim=1, variance=torch.tensor(1.0), lengthscale=torch.tensor(1.0))
    kernel.lengthscale = nn.PyroSample(
        backend.distributions.LogNormal(X.new_tensor(0.0), X.new_tensor(1.0))
    )
    kernel.variance = nn.PyroSample(
        backend.distributions.LogNormal(X.new_tensor(0.0), X.new_tensor(1.0))
    )
    model = gp.models.GPRegression(X, y, kernel, noise=X.new_tensor(0.5))
    losses = gp.util.train(
        model, torch.optim.Adam(model.parameters(), lr=0.02), num_steps=num_steps
    )
    model.set_mode("guide")
    return {
        "lengthscale": float(model.kernel.lengthscale),
        "variance": float(model.kernel.variance),
        "noise": float(model.noise),
        "loss": losses[-1],
    }


def test_gp_map_hyperparameters_match_pyro():
    import pyro
    import pyro.contrib.gp
    import pyro.nn

    gen = torch.Generator().manual_seed(123)
    X = 5.0 * torch.rand(30, generator=gen, dtype=torch.float64)
    y = 0.5 * torch.sin(3.0 * X) + 0.2 * torch.randn(30, generator=gen, dtype=torch.float64)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ours = fit_map(ppl, ppl.contrib.gp, ppl.nn, X, y, 300)
        theirs = fit_map(pyro, pyro.contrib.gp, pyro.nn, X, y, 300)
    finally:
        torch.set_default_dtype(default)
    # measured: the two paths agree to ~1e-12 relative; 1e-6 leaves room for BLAS order
    for key in ("lengthscale", "variance", "noise", "loss"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-6), key
    # and the fit is a real one: lengthscale of sin(3x) is ~0.5, noise variance ~0.04
    assert 0.3 < ours["lengthscale"] < 0.8 and 0.01 < ours["noise"] < 0.1
