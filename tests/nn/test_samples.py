"""PyroSample: priors sampled from, one draw per outermost call, callables, pyro_method."""

import torch
from torch import nn

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints
from ppl.nn import PyroModule, PyroParam, PyroSample, pyro_method


class Gather(PyroModule):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.0))
        self.b = PyroParam(torch.tensor(1.0), constraint=constraints.positive)
        self.c = PyroSample(dist.Normal(0.0, 1.0))
        self.p = PyroModule()
        self.p.f = PyroSample(dist.Normal(5.0, 1.0))

    def forward(self):
        return [self.gather(), self.gather()]

    def gather(self):
        return {"a": self.a, "b": self.b, "c": self.c, "p.f": self.p.f}


def test_samples_are_cached_within_a_call_and_fresh_across_calls():
    m = Gather()
    first, second = m()
    for key in ("a", "c", "p.f"):
        assert first[key] is second[key], key
    again, _ = m()
    assert again["c"] is not first["c"] and float(again["c"]) != float(first["c"])
    assert not m._pyro_context.cache and m._pyro_context.active == 0


def test_each_sample_site_appears_once_in_the_trace():
    tr = poutine.trace(Gather()).get_trace()
    assert [n for n, s in tr.nodes.items() if s["type"] == "sample"] == ["c", "p.f"]
    assert [n for n, s in tr.nodes.items() if s["type"] == "param"] == ["a", "b"]


def test_sites_are_drawn_from_the_declared_prior():
    m = PyroModule()
    m.w = PyroSample(dist.Normal(3.0, 0.5).expand([2000]).to_event(1))
    m.forward = lambda: m.w
    tr = poutine.trace(m).get_trace()
    site = tr.nodes["w"]
    assert isinstance(site["fn"].base_dist, torch.distributions.Normal)
    value = site["value"]
    assert abs(float(value.mean()) - 3.0) < 0.05 and abs(float(value.std()) - 0.5) < 0.05
    expected = torch.distributions.Normal(3.0, 0.5).log_prob(value).sum()
    assert torch.allclose(tr.log_prob_sum(), expected)


def test_condition_fixes_a_pyro_sample():
    m = PyroModule()
    m.z = PyroSample(dist.Normal(0.0, 1.0))
    m.forward = lambda: m.z * 2
    assert float(poutine.condition(m, data={"z": torch.tensor(1.5)})()) == 3.0


def test_callable_prior_sees_the_module_and_hierarchies_are_cached():
    class Hier(PyroModule):
        def __init__(self):
            super().__init__()
            self.loc = PyroParam(torch.tensor(10.0))
            self.mu = PyroSample(lambda self: dist.Normal(self.loc, 0.01))
            self.x = PyroSample(lambda self: dist.Normal(self.mu, 0.01).expand([3]).to_event(1))
            self.y = PyroSample(lambda self: dist.Normal(self.mu, 0.01))

        def forward(self):
            return self.x, self.y, self.mu

    tr = poutine.trace(Hier()).get_trace()
    assert [n for n, s in tr.nodes.items() if s["type"] == "sample"] == ["mu", "x", "y"]
    assert torch.equal(tr.nodes["x"]["fn"].base_dist.loc, tr.nodes["mu"]["value"].expand(3))
    assert abs(float(tr.nodes["mu"]["value"].detach()) - 10.0) < 0.1


def test_prior_callable_may_itself_sample():
    def prior(module):
        scale = ppl.sample("scale", dist.LogNormal(0.0, 1.0))
        return dist.Normal(0.0, scale)

    m = PyroModule()
    m.b = PyroSample(prior)
    m.forward = lambda: m.b + m.b
    tr = poutine.trace(m).get_trace()
    assert [n for n, s in tr.nodes.items() if s["type"] == "sample"] == ["scale", "b"]


def test_outside_a_call_a_read_draws_without_a_site():
    m = PyroModule()
    m.z = PyroSample(dist.Normal(0.0, 1.0).expand([4]).to_event(1))
    with poutine.trace() as tr:
        a, b = m.z, m.z
    assert a.shape == (4,) and not torch.equal(a, b)
    assert len(tr.trace.nodes) == 0


def test_pyro_method_enters_the_context():
    class Coin(PyroModule):
        def __init__(self):
            super().__init__()
            self.p = PyroSample(dist.Beta(2.0, 2.0))

        @pyro_method
        def flips(self, n):
            with ppl.plate("flips", n):
                return ppl.sample("x", dist.Bernoulli(self.p)), self.p

    tr = poutine.trace(Coin().flips).get_trace(5)
    # the plate's site comes first: the plate is built before self.p is read
    assert [n for n, s in tr.nodes.items() if s["type"] == "sample"] == ["flips", "p", "x"]
    out, p = tr.nodes["_RETURN"]["value"]
    assert p is tr.nodes["p"]["value"] and out.shape == (5,)


def test_seeded_runs_are_reproducible():
    m = Gather()
    ppl.set_rng_seed(3)
    first = m()[0]["c"]
    ppl.set_rng_seed(3)
    assert torch.equal(m()[0]["c"], first)


def test_bayesian_gru_resamples_weights_each_call():
    from ppl.nn import to_pyro_module_

    gru = nn.GRU(2, 3)
    x = torch.randn(4, 1, 2)
    to_pyro_module_(gru)
    for name, value in list(gru.named_parameters(recurse=False)):
        setattr(
            gru, name, PyroSample(dist.Normal(0.0, 1.0).expand(value.shape).to_event(value.dim()))
        )
    out1, _ = gru(x)
    out2, _ = gru(x)
    assert out1.shape == (4, 1, 3) and not torch.allclose(out1, out2)
    tr = poutine.trace(gru).get_trace(x)
    assert {n for n, s in tr.nodes.items() if s["type"] == "sample"} == {
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
    }
