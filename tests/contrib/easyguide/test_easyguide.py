"""EasyGuide: MAP estimates equal closed-form modes; groups pack, transform and replay
sites exactly; parameters live in the ParamStore; errors name the problem."""

import pytest
import torch
from torch.distributions import biject_to, constraints

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.contrib.easyguide import EasyGuide, easy_guide
from ppl.infer import SVI, Trace_ELBO
from ppl.infer.autoguide.initialization import init_to_mean, init_to_median
from ppl.optim import Adam

X = torch.tensor([0.5, 1.5, 2.0, -0.5])
A, B = 3.0, 2.0  # Gamma prior of the precision


def conjugate_model(x):
    loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
    tau = ppl.sample("tau", dist.Gamma(A, B))
    with ppl.plate("data", len(x)):
        ppl.sample("x_loc", dist.Normal(loc, 1.0), obs=x)
        ppl.sample("x_tau", dist.Normal(0.0, tau.rsqrt()), obs=x)


@pytest.mark.slow
def test_map_estimate_is_the_posterior_mode():
    @easy_guide(conjugate_model)
    def guide(self, x):
        self.group(match="loc|tau").map_estimate()

    guide.init = init_to_median
    svi = SVI(conjugate_model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    for _ in range(300):
        svi.step(X)
    n = len(X)
    loc_mode = X.sum() / (n + 1)  # Normal(0,1) prior, unit-variance likelihood
    tau_mode = (A + n / 2 - 1) / (B + (X**2).sum() / 2)  # Gamma posterior mode
    store = ppl.get_param_store()
    assert store["guide.loc"].item() == pytest.approx(loc_mode.item(), abs=2e-3)
    assert store["guide.tau"].item() == pytest.approx(tau_mode.item(), abs=2e-3)


def test_params_are_module_attributes_in_the_store():
    class Guide(EasyGuide):
        def guide(self, x):
            self.map_estimate("loc")
            self.map_estimate("tau")

    guide = Guide(conjugate_model)
    guide.init = init_to_median
    tr = poutine.trace(guide).get_trace(X)
    store = ppl.get_param_store()
    assert set(store.keys()) == {"Guide.loc", "Guide.tau"}
    assert tr.param_nodes == ["Guide.loc", "Guide.tau"]
    # the store's leaves are the module's parameters (one tensor, two views)
    leaves = store.unconstrained_leaves()
    assert {id(p) for p in guide.parameters()} == {id(leaves[k]) for k in leaves}
    assert store["Guide.tau"].item() > 0
    assert torch.equal(tr.nodes["tau"]["value"], store["Guide.tau"])
    assert tr.nodes["tau"]["fn"].event_dim == 0


def test_group_packs_transforms_and_replays():
    def model():
        ppl.sample("a", dist.Normal(0.0, 1.0))
        ppl.sample("b", dist.LogNormal(0.0, 1.0).expand([2]).to_event(1))
        ppl.sample("c", dist.Dirichlet(torch.ones(3)))

    packed = torch.tensor([0.3, -1.0, 0.5, 0.2, -0.7])

    @easy_guide(model)
    def guide(self):
        group = self.group()
        return group.sample("abc", dist.Delta(packed, event_dim=1))

    tr = poutine.trace(guide).get_trace()
    guide_z, zs = tr.nodes["_RETURN"]["value"]
    assert guide.group().event_shape == (1 + 2 + 2,)  # the simplex of 3 is 2-dim
    assert torch.equal(guide_z, packed)
    assert tr.nodes["abc"]["infer"]["is_auxiliary"]
    assert torch.allclose(zs["a"], packed[0])
    assert torch.allclose(zs["b"], packed[1:3].exp())
    simplex = biject_to(constraints.simplex)
    assert torch.allclose(zs["c"], simplex(packed[3:]))
    # each replayed Delta carries log|d unconstrained / d value| (the inverse Jacobian)
    tr.compute_log_prob()
    assert tr.nodes["a"]["log_prob"].item() == pytest.approx(0.0)
    assert tr.nodes["b"]["log_prob"].item() == pytest.approx(-packed[1:3].sum().item())
    expected_c = -simplex.log_abs_det_jacobian(packed[3:], zs["c"])
    assert tr.nodes["c"]["log_prob"].item() == pytest.approx(expected_c.item(), abs=1e-5)


def test_group_with_common_and_per_site_plates():
    def model(subsample):
        with ppl.plate("shared", 6, subsample=subsample, dim=-2):
            ppl.sample("x", dist.Normal(0.0, 1.0))
            with ppl.plate("own", 3, dim=-1):
                ppl.sample("y", dist.Normal(0.0, 1.0))

    @easy_guide(model)
    def guide(self, subsample):
        group = self.group(match="x|y")
        with self.plate("shared", 6, subsample=subsample, dim=-2):
            loc = ppl.param("loc", torch.arange(6.0 * 4).reshape(6, 1, 4), event_dim=1)
            return group.sample("xy", dist.Delta(loc, event_dim=1))

    subsample = torch.tensor([1, 4])
    _, zs = guide(subsample)
    assert guide.group(match="x|y").event_shape == (4,)
    assert zs["x"].shape == (2, 1) and zs["y"].shape == (2, 3)
    assert zs["x"].flatten().tolist() == [4.0, 16.0]
    assert zs["y"].tolist() == [[5.0, 6.0, 7.0], [17.0, 18.0, 19.0]]


def test_map_estimate_under_subsampling_has_full_size():
    def model(subsample):
        with ppl.plate("data", 10, subsample=subsample):
            ppl.sample("z", dist.Normal(torch.arange(10.0)[subsample], 1.0))

    @easy_guide(model)
    def guide(self, subsample):
        with self.plate("data", 10, subsample=subsample):
            return self.map_estimate("z")

    guide.init = init_to_mean
    value = guide(torch.tensor([2, 3, 4]))
    assert value.tolist() == [2.0, 3.0, 4.0]
    full = ppl.get_param_store()["guide.z"]
    assert full.shape == (10,)  # the init value is tiled periodically to full size
    # the minibatch keeps its values at its indices; the rest repeats them periodically
    assert full.tolist() == [2.0, 3.0, 2.0, 3.0, 4.0, 4.0, 2.0, 3.0, 4.0, 2.0]
    assert guide(torch.tensor([0, 9])).tolist() == [2.0, 2.0]


def test_errors():
    def model():
        ppl.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))

    @easy_guide(model)
    def no_match(self):
        self.group(match="w")

    with pytest.raises(ValueError, match="pattern 'w' matched no model sites"):
        no_match()

    @easy_guide(model)
    def unknown(self):
        self.map_estimate("w")

    with pytest.raises(ValueError, match="no latent site 'w'"):
        unknown()

    @easy_guide(model)
    def wrong_shape(self):
        self.group().sample("g", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    with pytest.raises(ValueError, match=r"expected \(2,\), actual \(3,\)"):
        wrong_shape()

    def dotted():
        ppl.sample("a.b", dist.Normal(0.0, 1.0))

    @easy_guide(dotted)
    def dotted_guide(self):
        self.map_estimate("a.b")

    with pytest.raises(ValueError, match="cannot contain '.'"):
        dotted_guide()

    def sequential():
        for i in ppl.plate("seq", 2):
            ppl.sample(f"s{i}", dist.Normal(0.0, 1.0))

    @easy_guide(sequential)
    def seq_guide(self):
        pass

    with pytest.raises(NotImplementedError, match="sequential plate 'seq'"):
        seq_guide()
    with pytest.raises(TypeError, match="abstract"):
        EasyGuide(model)
    with pytest.raises(TypeError, match="model must be callable"):
        easy_guide(3)


def test_overlapping_plates_error():
    def model():
        with ppl.plate("shared", 4, dim=-1):
            ppl.sample("x", dist.Normal(0.0, 1.0))
            with ppl.plate("own", 2, dim=-2):
                ppl.sample("y", dist.Normal(0.0, 1.0))

    @easy_guide(model)
    def guide(self):
        self.group(match="x|y")

    with pytest.raises(ValueError, match="per-site plates to be right of all common plates"):
        guide()


def test_module_registered_under_two_names_steps_once():
    # a plain nn.Module child read by the PyroModule ("guide.net$$$...") and also
    # registered by ppl.module under another name: one tensor, updated once per step
    def model():
        ppl.sample("z", dist.Normal(0.0, 1.0))

    @easy_guide(model)
    def guide(self):
        if not hasattr(self, "net"):
            self.net = torch.nn.Linear(1, 1)
        ppl.module("alias", self.net)
        loc = self.net(torch.ones(1)).squeeze(-1)
        ppl.sample("z", dist.Delta(loc))

    from ppl.optim import SGD

    guide()
    weight = guide.net.weight
    before = weight.detach().clone()
    loss = Trace_ELBO().differentiable_loss(model, guide)
    (grad,) = torch.autograd.grad(loss, [weight])
    SVI(model, guide, SGD({"lr": 0.1}), Trace_ELBO()).step()
    assert torch.allclose(guide.net.weight.detach(), before - 0.1 * grad)
