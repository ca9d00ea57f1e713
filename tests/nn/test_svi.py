"""PyroModules under SVI: plain and Pyro params get optimized; the regression tutorial."""

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.nn import PyroModule, PyroParam, PyroSample

svi_module = pytest.importorskip("ppl.infer.svi", reason="ppl.infer.svi (SVI) is not there yet")
trace_elbo = pytest.importorskip("ppl.infer.trace_elbo", reason="ppl.infer.trace_elbo missing")
SVI, Trace_ELBO = svi_module.SVI, trace_elbo.Trace_ELBO

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial" / "pyro_module_regression.py"


class NormalModel(PyroModule):
    def __init__(self):
        super().__init__()
        self.z = PyroSample(dist.Normal(0.0, 1.0))

    def forward(self, data):
        z = self.z  # read outside the plate: a PyroSample is a site where it is first read
        with ppl.plate("data", len(data)):
            ppl.sample("obs", dist.Normal(z, 1.0), obs=data)


class NormalGuide(PyroModule):
    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.tensor(0.0))
        self.scale = PyroParam(torch.tensor(1.0), constraint=constraints.positive)
        self.z = PyroSample(lambda self: dist.Normal(self.loc, self.scale))

    def forward(self, data):
        return self.z


def test_svi_fits_a_pyro_module_guide_to_the_exact_posterior():
    data = torch.randn(19) + 2.0
    model, guide = NormalModel(), NormalGuide()
    svi = SVI(model, guide, ppl.optim.Adam({"lr": 0.05}), Trace_ELBO(num_particles=4))
    for _ in range(400):
        svi.step(data)
    post_mean, post_std = float(data.sum() / 20), 20**-0.5
    assert abs(float(guide.loc.detach()) - post_mean) < 0.1
    assert abs(float(guide.scale.detach()) - post_std) < 0.05
    leaves = dict(ppl.get_param_store().named_parameters())
    assert leaves["loc"] is guide.loc and leaves["scale"] is guide.scale_unconstrained


def test_svi_optimizes_plain_parameters_of_a_pyro_module():
    torch.manual_seed(0)
    x = torch.randn(200, 2)
    y = x @ torch.tensor([1.5, -2.0]) + 0.3 + 0.1 * torch.randn(200)

    class Regression(PyroModule):
        def __init__(self):
            super().__init__()
            self.linear = PyroModule[nn.Linear](2, 1)
            self.sigma = PyroParam(torch.tensor(1.0), constraint=constraints.positive)

        def forward(self, x, y=None):
            mean = self.linear(x).squeeze(-1)
            with ppl.plate("data", len(x)):
                ppl.sample("obs", dist.Normal(mean, self.sigma), obs=y)

    model = Regression()
    svi = SVI(model, lambda x, y: None, ppl.optim.Adam({"lr": 0.05}), Trace_ELBO())
    for _ in range(300):
        svi.step(x, y)
    assert set(ppl.get_param_store().keys()) == {"linear.weight", "linear.bias", "sigma"}
    assert torch.allclose(model.linear.weight.detach(), torch.tensor([[1.5, -2.0]]), atol=0.05)
    assert abs(float(model.linear.bias.detach()) - 0.3) < 0.05
    assert abs(float(model.sigma.detach()) - 0.1) < 0.03


def test_regression_tutorial_recovers_the_true_weights(capsys):
    pytest.importorskip("ppl.infer.autoguide", reason="AutoNormal is not there yet")
    spec = importlib.util.spec_from_file_location("pyro_module_regression", TUTORIAL)
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)
    posterior = tutorial.fit(num_steps=400, lr=0.05)
    assert "loss" in capsys.readouterr().out
    assert torch.allclose(posterior["linear.weight"], tutorial.TRUE_WEIGHT, atol=0.1)
    assert torch.allclose(posterior["linear.bias"], tutorial.TRUE_BIAS, atol=0.1)
    assert abs(float(posterior["sigma"]) - tutorial.TRUE_SIGMA) < 0.05
