"""``elbo(model, guide)`` -> ``ELBOModule``: a torch loss module over model and guide.

The main test ports the idea of Pyro's ``examples/svi_torch.py``: a plain
``torch.optim.Adam(loss_fn.parameters())`` loop with ``module_local_params=True``.
"""

import pytest
import torch
from torch import nn

import ppl
import ppl.distributions as dist
from ppl import poutine, settings
from ppl.distributions import constraints
from ppl.infer import Predictive, Trace_ELBO
from ppl.infer.autoguide import AutoNormal
from ppl.infer.elbo_module import ELBOModule
from ppl.nn import PyroModule, PyroParam, PyroSample


@pytest.fixture(autouse=True)
def _clear():
    ppl.clear_param_store()
    yield
    ppl.clear_param_store()


class Regression(PyroModule):
    """y ~ Normal(x @ w + b, sigma) with learnable w, b (nn.Linear) and sigma."""

    def __init__(self):
        super().__init__()
        self.linear = PyroModule[nn.Linear](2, 1)
        self.sigma = PyroParam(torch.tensor(1.0), constraints.positive)

    def forward(self, x, y=None):
        loc = self.linear(x).squeeze(-1)
        with ppl.plate("data", x.shape[0]):
            return ppl.sample("y", dist.Normal(loc, self.sigma), obs=y)


class NoLatents(PyroModule):
    def forward(self, *args, **kwargs):
        return None


class MeanModel(PyroModule):
    def __init__(self):
        super().__init__()
        self.mu = PyroSample(dist.Normal(0.0, 1.0))

    def forward(self, data):
        mu = self.mu  # read outside the plate: one global latent
        with ppl.plate("data", len(data)):
            ppl.sample("obs", dist.Normal(mu, 1.0), obs=data)


def _regression_data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 2, generator=gen)
    y = x @ torch.tensor([1.5, -0.5]) + 0.3 + 0.4 * torch.randn(50, generator=gen)
    return x, y


def test_calling_an_elbo_binds_model_and_guide():
    model, guide = Regression(), NoLatents()
    loss_fn = Trace_ELBO()(model, guide)
    assert isinstance(loss_fn, ELBOModule) and isinstance(loss_fn, nn.Module)
    assert loss_fn.model is model and loss_fn.guide is guide
    assert sorted(n for n, _ in loss_fn.named_parameters()) == [
        "model.linear.bias",
        "model.linear.weight",
        "model.sigma_unconstrained",
    ]
    x, y = _regression_data()
    expected = Trace_ELBO().differentiable_loss(model, guide, x, y)
    assert torch.allclose(loss_fn(x, y), expected)


def test_svi_torch_least_squares_with_module_local_params():
    x, y = _regression_data()
    with settings.context(module_local_params=True):
        model = Regression()
        loss_fn = Trace_ELBO()(model, NoLatents())
        loss_fn(x, y)
        optimizer = torch.optim.Adam(loss_fn.parameters(), lr=0.05)
        for _ in range(400):
            optimizer.zero_grad()
            loss = loss_fn(x, y)
            loss.backward()
            optimizer.step()
        # maximum likelihood: least squares, and sigma^2 = RSS / n
        design = torch.cat([x, torch.ones(50, 1)], -1)
        coef = torch.linalg.lstsq(design, y.unsqueeze(-1)).solution.squeeze(-1)
        rss = (y - design @ coef).pow(2).sum()
        assert torch.allclose(model.linear.weight.detach().squeeze(0), coef[:2], atol=2e-3)
        assert model.linear.bias.item() == pytest.approx(coef[2].item(), abs=2e-3)
        assert model.sigma.item() == pytest.approx((rss / 50).sqrt().item(), abs=2e-3)
        assert len(ppl.get_param_store()) == 0  # nothing went through the global store


def test_svi_torch_conjugate_posterior_with_an_autoguide():
    data = torch.tensor([0.5, 1.5, 1.0, 2.0])
    ppl.set_rng_seed(0)
    with settings.context(module_local_params=True):
        model = MeanModel()
        guide = AutoNormal(model)
        loss_fn = Trace_ELBO(num_particles=16, vectorize_particles=True)(model, guide)
        loss_fn(data)  # the guide creates its parameters
        names = sorted(n for n, _ in loss_fn.named_parameters())
        assert names == ["guide.locs.mu_unconstrained", "guide.scales.mu_unconstrained"]
        optimizer = torch.optim.Adam(loss_fn.parameters(), lr=0.05)
        for _ in range(300):
            optimizer.zero_grad()
            loss_fn(data).backward()
            optimizer.step()
        # Normal(0, 1) prior, four unit-variance observations: N(5/5, 1/5)
        assert guide.locs.mu.item() == pytest.approx(1.0, abs=0.05)
        assert guide.scales.mu.item() == pytest.approx(0.2**0.5, abs=0.05)
        assert guide.median()["mu"].item() == pytest.approx(1.0, abs=0.05)
        assert len(ppl.get_param_store()) == 0
        # handlers still see the (local) param statements
        tr = poutine.trace(guide).get_trace(data)
        assert tr.param_nodes == ["AutoNormal.locs.mu", "AutoNormal.scales.mu"]
        leaf = tr.nodes["AutoNormal.locs.mu"]["value"].unconstrained()
        assert leaf is guide.locs.mu_unconstrained


def test_global_mode_shares_leaves_with_the_store():
    x, y = _regression_data()
    model = Regression()
    loss_fn = Trace_ELBO()(model, NoLatents())
    loss_fn(x, y)
    store_leaves = {id(p) for _, p in ppl.get_param_store().named_parameters()}
    assert {id(p) for p in loss_fn.parameters()} == store_leaves
    # and two instances of one class share their parameters by name
    assert Regression()(x) is not None
    assert len(ppl.get_param_store()) == 3


def test_local_mode_keeps_instances_apart():
    x, _ = _regression_data()
    with settings.context(module_local_params=True):
        a, b = Regression(), Regression()
        a(x), b(x)
        assert not torch.equal(a.linear.weight, b.linear.weight)
        with torch.no_grad():
            a.sigma = torch.tensor(3.0)
        assert a.sigma.item() == pytest.approx(3.0) and b.sigma.item() == pytest.approx(1.0)


def test_module_moves_and_casts_model_and_guide():
    data = torch.tensor([1.0, 2.0])
    with settings.context(module_local_params=True):
        model = MeanModel()
        loss_fn = Trace_ELBO()(model, AutoNormal(model))
        loss_fn(data)
        loss_fn.to(torch.float64)
        assert all(p.dtype == torch.float64 for p in loss_fn.parameters())
        assert loss_fn(data.double()).dtype == torch.float64


def test_bad_arguments():
    with pytest.raises(TypeError, match="model must be callable"):
        Trace_ELBO()(3, NoLatents())
    with pytest.raises(TypeError, match="elbo must be an ELBO"):
        ELBOModule(NoLatents(), NoLatents(), object())


def test_predictive_is_a_module_over_its_guide():
    data = torch.tensor([1.0, 2.0])
    model = MeanModel()
    guide = AutoNormal(model)
    guide(data)
    predictive = Predictive(model, guide=guide, num_samples=4)
    assert isinstance(predictive, nn.Module)
    assert sorted(predictive.state_dict()) == [
        "guide.locs.mu_unconstrained",
        "guide.scales.mu_unconstrained",
    ]
    ppl.set_rng_seed(1)
    out = predictive(data)
    ppl.set_rng_seed(1)
    assert torch.equal(predictive.forward(data)["mu"], out["mu"])
    assert out["obs"].shape == (4, 2)


def test_local_mode_sends_param_messages_for_plain_children():
    class WithChild(PyroModule):
        def __init__(self):
            super().__init__()
            self.extra = nn.Linear(1, 1)
            self.s = PyroParam(torch.ones(2), constraints.positive)

        def forward(self):
            return self.extra(self.s[:1])

    with settings.context(module_local_params=True):
        model = WithChild()
        with poutine.trace(param_only=True) as capture:
            model()
        assert set(capture.trace.param_nodes) == {"extra$$$weight", "extra$$$bias", "s"}
        assert len(ppl.get_param_store()) == 0
    ppl.clear_param_store()
    model()  # global mode: ppl.module puts the child's parameters in the store
    assert sorted(ppl.get_param_store()) == ["extra$$$bias", "extra$$$weight", "s"]


def test_local_mode_refuses_global_params_inside_a_module():
    class Mixed(PyroModule):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(2))

        def forward(self):
            return self.w + ppl.param("outside", torch.ones(2))

    with settings.context(module_local_params=True):
        with pytest.raises(NotImplementedError, match=r"ppl.param\('outside'\)"):
            Mixed()()
        with ppl.validation_enabled(False):
            assert torch.equal(Mixed()(), torch.ones(2))
    assert torch.equal(Mixed()(), torch.ones(2))  # global mode: fine


def test_local_mode_autoguide_with_a_subsampled_plate():
    def local_model(data):
        with ppl.plate("data", 6, subsample_size=3):
            ppl.sample("z", dist.Normal(0.0, 1.0))

    with settings.context(module_local_params=True):
        guide = AutoNormal(local_model)
        tr = poutine.trace(guide).get_trace(torch.zeros(6))
        assert tr.nodes["z"]["value"].shape == (3,)
        assert guide.locs.z.shape == (6,)
        assert len(ppl.get_param_store()) == 0
