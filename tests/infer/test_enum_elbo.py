"""TraceEnum_ELBO against brute-force sums over every discrete assignment."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer import SVI, TraceEnum_ELBO, config_enumerate
from ppl.infer.enum import iter_discrete_traces
from ppl.optim import Adam


@pytest.fixture(autouse=True)
def _clean():
    ppl.clear_param_store()
    torch.manual_seed(0)
    yield


def normal_lp(loc, x, scale=1.0):
    return dist.Normal(torch.as_tensor(loc, dtype=torch.float), scale).log_prob(x)


# ----------------------------------------------------------------- model enumeration
@pytest.mark.parametrize("kind", ["bernoulli", "categorical"])
def test_single_latent_equals_log_marginal(kind):
    probs = torch.tensor([0.2, 0.5, 0.3])
    x = torch.tensor(1.2)

    def model():
        if kind == "bernoulli":
            z = ppl.sample("z", dist.Bernoulli(0.3), infer={"enumerate": "parallel"})
        else:
            z = ppl.sample("z", dist.Categorical(probs), infer={"enumerate": "parallel"})
        ppl.sample("x", dist.Normal(1.5 * z, 1.0), obs=x)

    loss = TraceEnum_ELBO(max_plate_nesting=0).loss(model, lambda: None)
    prior = torch.tensor([0.7, 0.3]) if kind == "bernoulli" else probs
    exact = torch.logsumexp(prior.log() + normal_lp(1.5 * torch.arange(len(prior)), x), 0)
    assert loss == pytest.approx(-float(exact), abs=1e-5)


def test_mixture_in_plate_loss_and_gradient():
    data = torch.tensor([-1.0, 0.2, 3.9, 4.4, 1.8])
    locs = torch.tensor([0.0, 4.0], requires_grad=True)
    weights = torch.tensor([0.35, 0.65])

    @config_enumerate
    def model():
        with ppl.plate("data", len(data)):
            z = ppl.sample("z", dist.Categorical(weights))
            ppl.sample("x", dist.Normal(locs[z], 1.0), obs=data)

    loss = TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(model, lambda: None)
    exact = -torch.logsumexp(weights.log() + normal_lp(locs, data[:, None]), -1).sum()
    assert float(loss) == pytest.approx(float(exact), abs=1e-4)
    (g,) = torch.autograd.grad(loss, locs)
    (g_exact,) = torch.autograd.grad(exact, locs)
    assert torch.allclose(g, g_exact, atol=1e-5)


def test_nested_plates_global_and_local_latents():
    data = torch.randn(2, 3)  # plate "j" at dim -2, plate "i" at dim -1
    pz = torch.tensor([0.3, 0.7])
    py = torch.tensor([0.2, 0.9])

    @config_enumerate
    def model():
        z = ppl.sample("z", dist.Categorical(pz))
        with ppl.plate("i", 3, dim=-1):
            y = ppl.sample("y", dist.Bernoulli(py[z]))
            with ppl.plate("j", 2, dim=-2):
                ppl.sample("x", dist.Normal(y + z, 1.0), obs=data)

    loss = TraceEnum_ELBO(max_plate_nesting=2).loss(model, lambda: None)
    total = 0.0
    for z in range(2):
        prod = 1.0
        for i in range(3):
            s = 0.0
            for y in range(2):
                p_y = py[z] if y == 1 else 1 - py[z]
                s += float(p_y * normal_lp(float(y + z), data[:, i]).exp().prod())
            prod *= s
        total += float(pz[z]) * prod
    assert loss == pytest.approx(-math.log(total), abs=1e-4)


def _hmm_exact(trans, obs, emission_scale=2.0):
    total = 0.0
    for xs in itertools.product(range(trans.shape[0]), repeat=len(obs)):
        lp = 0.0
        prev = 0
        for t, x in enumerate(xs):
            lp += float(trans[prev, x].log() + normal_lp(emission_scale * x, obs[t]))
            prev = x
        total += math.exp(lp)
    return math.log(total)


def test_hmm_under_markov_equals_brute_force_and_recycles_dims():
    trans = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    obs = torch.tensor([0.1, 2.0, 1.9])

    def hmm():
        x = 0
        for t in ppl.markov(range(len(obs))):
            x = ppl.sample(f"x_{t}", dist.Categorical(trans[x]), infer={"enumerate": "parallel"})
            ppl.sample(f"y_{t}", dist.Normal(2.0 * x.float(), 1.0), obs=obs[t])

    loss = TraceEnum_ELBO(max_plate_nesting=0).loss(hmm, lambda: None)
    assert loss == pytest.approx(-_hmm_exact(trans, obs), abs=1e-4)
    tr = ppl.poutine.trace(ppl.poutine.enum(hmm, first_available_dim=-1)).get_trace()
    dims = [tr.nodes[f"x_{t}"]["infer"]["_enumerate_dim"] for t in range(3)]
    assert dims == [-1, -2, -1]  # a chain needs only history + 1 = 2 dims


def test_hmm_gradient_equals_autograd_of_exact_loss():
    logits = torch.tensor([[1.0, -0.5], [0.2, 0.4]], requires_grad=True)
    obs = torch.tensor([0.3, 1.7, 2.2])

    def hmm():
        x = 0
        trans = logits.softmax(-1)
        for t in ppl.markov(range(len(obs))):
            x = ppl.sample(f"x_{t}", dist.Categorical(trans[x]), infer={"enumerate": "parallel"})
            ppl.sample(f"y_{t}", dist.Normal(2.0 * x.float(), 1.0), obs=obs[t])

    loss = TraceEnum_ELBO(max_plate_nesting=0).differentiable_loss(hmm, lambda: None)
    (g,) = torch.autograd.grad(loss, logits)

    # the same log-likelihood by brute force, differentiably
    trans = logits.softmax(-1)
    terms = []
    for xs in itertools.product(range(2), repeat=3):
        lp = 0.0
        prev = 0
        for t, x in enumerate(xs):
            lp = lp + trans[prev, x].log() + normal_lp(2.0 * x, obs[t])
            prev = x
        terms.append(lp)
    exact = -torch.logsumexp(torch.stack(terms), 0)
    (g_exact,) = torch.autograd.grad(exact, logits)
    assert float(loss) == pytest.approx(float(exact), abs=1e-5)
    assert torch.allclose(g, g_exact, atol=1e-5)


def test_subsampled_plate_scales_the_log_marginal():
    data = torch.tensor([0.0, 1.0, 2.0, 3.0])

    @config_enumerate
    def model():
        with ppl.plate("data", 4, subsample=torch.tensor([1, 3])) as idx:
            z = ppl.sample("z", dist.Bernoulli(0.4))
            ppl.sample("x", dist.Normal(2.0 * z, 1.0), obs=data[idx])

    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(model, lambda: None)
    x = data[[1, 3]]
    per = torch.logsumexp(
        torch.stack([math.log(0.6) + normal_lp(0.0, x), math.log(0.4) + normal_lp(2.0, x)]), 0
    )
    assert loss == pytest.approx(-2.0 * float(per.sum()), abs=1e-4)


# ----------------------------------------------------------------- guide enumeration
@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_guide_enumeration_exact_elbo_and_gradient(mode):
    q = torch.tensor(0.6, requires_grad=True)
    x = torch.tensor(1.5)

    def model():
        z = ppl.sample("z", dist.Bernoulli(0.3))
        ppl.sample("x", dist.Normal(2.0 * z, 1.0), obs=x)

    def guide():
        ppl.sample("z", dist.Bernoulli(q), infer={"enumerate": mode})

    loss = TraceEnum_ELBO(max_plate_nesting=0).differentiable_loss(model, guide)
    exact = 0.0
    for z, qz, pz in [(0.0, 1 - q, 0.7), (1.0, q, 0.3)]:
        exact = exact - qz * (math.log(pz) + normal_lp(2.0 * z, x) - qz.log())
    assert float(loss) == pytest.approx(float(exact), abs=1e-5)
    (g,) = torch.autograd.grad(loss, q)
    (g_exact,) = torch.autograd.grad(exact, q)
    assert float(g) == pytest.approx(float(g_exact), abs=1e-5)


def test_guide_enumeration_in_plate_with_model_enumeration_downstream():
    # guide enumerates y_i; the model enumerates w_i (not in the guide) given y_i
    q = torch.tensor([0.2, 0.7, 0.5])
    data = torch.tensor([0.5, -1.0, 2.0])

    def model():
        with ppl.plate("i", 3):
            y = ppl.sample("y", dist.Bernoulli(0.4))
            w = ppl.sample("w", dist.Bernoulli(0.2 + 0.6 * y), infer={"enumerate": "parallel"})
            ppl.sample("x", dist.Normal(y + 2.0 * w, 1.0), obs=data)

    def guide():
        with ppl.plate("i", 3):
            ppl.sample("y", dist.Bernoulli(q), infer={"enumerate": "parallel"})

    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(model, guide)
    exact = 0.0
    for i in range(3):
        for y in (0, 1):
            qy = float(q[i]) if y else 1 - float(q[i])
            py = 0.4 if y else 0.6
            pw1 = 0.2 + 0.6 * y
            marg = sum(
                (pw1 if w else 1 - pw1) * math.exp(float(normal_lp(y + 2.0 * w, data[i])))
                for w in (0, 1)
            )
            exact += qy * (math.log(py) + math.log(marg) - math.log(qy))
    assert loss == pytest.approx(-exact, abs=1e-4)


def test_iter_discrete_traces_visits_every_assignment():
    @config_enumerate(default="sequential")
    def model():
        a = ppl.sample("a", dist.Bernoulli(0.3))
        b = ppl.sample("b", dist.Categorical(torch.ones(3) / 3))
        return a, b

    values = sorted(
        (int(tr.nodes["a"]["value"]), int(tr.nodes["b"]["value"]))
        for tr in iter_discrete_traces("flat", model)
    )
    assert values == [(a, b) for a in range(2) for b in range(3)]


# ----------------------------------------------------------------- learning
def test_gmm_svi_recovers_means():
    torch.manual_seed(3)
    true_locs = torch.tensor([-3.0, 3.0])
    z = torch.randint(0, 2, (200,))
    data = true_locs[z] + 0.5 * torch.randn(200)

    @config_enumerate
    def model(data):
        locs = ppl.param("locs", torch.tensor([-1.0, 0.5]))
        with ppl.plate("data", len(data)):
            k = ppl.sample("k", dist.Categorical(torch.tensor([0.5, 0.5])))
            ppl.sample("x", dist.Normal(locs[k], 0.5), obs=data)

    svi = SVI(model, lambda data: None, Adam({"lr": 0.1}), TraceEnum_ELBO(max_plate_nesting=1))
    for _ in range(150):
        svi.step(data)
    locs = ppl.param("locs").detach().sort().values
    assert torch.allclose(locs, true_locs, atol=0.15)


# ----------------------------------------------------------------- compute_marginals
def test_compute_marginals_equal_posterior():
    data = torch.tensor([0.0, 1.0, 5.0, 2.4])
    prior = torch.tensor([0.4, 0.6])
    locs = torch.tensor([0.0, 5.0])

    @config_enumerate
    def model():
        with ppl.plate("data", len(data)):
            z = ppl.sample("z", dist.Categorical(prior))
            ppl.sample("x", dist.Normal(locs[z], 1.0), obs=data)

    marginals = TraceEnum_ELBO(max_plate_nesting=1).compute_marginals(model, lambda: None)
    expected = (prior.log() + normal_lp(locs, data[:, None])).softmax(-1)
    assert torch.allclose(marginals["z"].probs, expected, atol=1e-5)


# ----------------------------------------------------------------- errors and warnings
def test_enumerating_continuous_site_names_it():
    def model():
        ppl.sample("loc", dist.Normal(0.0, 1.0), infer={"enumerate": "parallel"})

    with pytest.raises(ValueError, match="'loc'.*no enumerate_support"):
        TraceEnum_ELBO(max_plate_nesting=0).loss(model, lambda: None)


def test_plate_nesting_too_small_names_the_site():
    @config_enumerate
    def model():
        with ppl.plate("a", 2):
            with ppl.plate("b", 3):
                ppl.sample("z", dist.Bernoulli(0.5))

    with pytest.raises(ValueError, match="'z'.*max_plate_nesting"):
        TraceEnum_ELBO(max_plate_nesting=1).loss(model, lambda: None)


def test_warns_without_enumerated_sites():
    def model():
        ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        loss = TraceEnum_ELBO(max_plate_nesting=0).loss(model, lambda: None)
    assert any("no sample sites configured for enumeration" in str(w.message) for w in rec)
    assert loss == pytest.approx(0.5 * math.log(2 * math.pi), abs=1e-6)


def test_different_scales_rejected():
    def model():
        z = ppl.sample("z", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})
        with ppl.poutine.scale(scale=2.0):
            ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))

    with pytest.raises(ValueError, match="share a common poutine.scale"):
        TraceEnum_ELBO(max_plate_nesting=0).loss(model, lambda: None)


def test_matches_live_pyro_on_mixed_model():
    pyro = pytest.importorskip("pyro")
    import pyro.distributions as pdist

    data = torch.tensor([0.3, -1.2, 2.5, 0.9])

    def make(lib, d):
        def model():
            p = lib.param("p", torch.tensor(0.3))
            with lib.plate("data", 4):
                z = lib.sample("z", d.Bernoulli(p), infer={"enumerate": "parallel"})
                lib.sample("x", d.Normal(3.0 * z - 1.0, 1.0), obs=data)

        def guide():
            loc = lib.param("loc", torch.tensor(0.5))
            lib.sample("g", d.Normal(loc, 1.0))

        def model_g():
            lib.sample("g", d.Normal(0.0, 2.0))
            model()

        return model_g, guide

    pyro.clear_param_store()
    pm, pg = make(pyro, pdist)
    torch.manual_seed(5)
    expected = pyro.infer.TraceEnum_ELBO(max_plate_nesting=1).loss(pm, pg)
    mm, mg = make(ppl, dist)
    torch.manual_seed(5)
    actual = TraceEnum_ELBO(max_plate_nesting=1).loss(mm, mg)
    assert actual == pytest.approx(expected, abs=1e-4)


def test_plate_only_in_guide_warns_before_the_no_enumeration_warning():
    def model():
        ppl.sample("x", dist.Bernoulli(0.5))

    def guide():
        for _ in ppl.plate("extra", 4):
            pass
        ppl.sample("x", dist.Bernoulli(0.5))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TraceEnum_ELBO(max_plate_nesting=0).loss(model, guide)
    messages = [str(w.message) for w in caught]
    assert "plate statements in guide but not model: ['extra']" in messages[0]


# ------------------------------------------------------------- masks, markov, particles
def test_masked_plate_elements_drop_out_of_an_enumerated_sum():
    # y is enumerated per data point, z observed; the masked third point must
    # contribute nothing (log 1), as if the plate only held the first two points.
    probs_y = torch.tensor([[0.75, 0.25], [0.55, 0.45]], dtype=torch.float64)
    probs_z = torch.tensor([[0.3, 0.7], [0.2, 0.8]], dtype=torch.float64)
    prior_x = torch.tensor([0.4, 0.6], dtype=torch.float64)
    data = torch.tensor([0.0, 1.0, 1.0])

    def model():
        x = ppl.sample("x", dist.Categorical(prior_x), infer={"enumerate": "parallel"})
        with ppl.plate("data", 3), ppl.poutine.mask(mask=torch.tensor([True, True, False])):
            y = ppl.sample("y", dist.Categorical(probs_y[x]), infer={"enumerate": "parallel"})
            ppl.sample("z", dist.Categorical(probs_z[y]), obs=data)

    expected = math.log(
        sum(
            prior_x[x]
            * math.prod(
                sum(probs_y[x, y] * probs_z[y, int(data[i])] for y in range(2)) for i in range(2)
            )
            for x in range(2)
        )
    )
    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(model, lambda: None)
    assert loss == pytest.approx(-expected, rel=1e-6)


@pytest.mark.parametrize("history", [0, 1, 2])
def test_markov_history_too_short_is_a_dim_conflict(history):
    @config_enumerate
    def model():
        p = torch.full((2, 2), 0.25)
        x_prev = x_curr = torch.tensor(0)
        for t in ppl.markov(range(4), history=history):  # a second-order chain
            x_prev, x_curr = x_curr, ppl.sample(f"x_{t}", dist.Bernoulli(p[x_prev, x_curr])).long()

    elbo = TraceEnum_ELBO(max_plate_nesting=0)
    if history < 2:
        with pytest.raises(ValueError, match='Enumeration dim conflict at site "x_'):
            elbo.loss(model, lambda: None)
    else:
        assert elbo.loss(model, lambda: None) == pytest.approx(0.0, abs=1e-6)


def test_one_vectorized_particle_adds_no_dim():
    shapes = []

    @config_enumerate
    def model():
        with ppl.plate("x", 5):
            b = ppl.sample("b", dist.Beta(1.1, 1.1))
            c = ppl.sample("c", dist.Bernoulli(b))
        shapes.append((tuple(b.shape), tuple(c.shape)))

    guide = ppl.poutine.block(model, hide=["c"])
    for num_particles, expected in [(1, ((5,), (2, 1))), (3, ((3, 5), (2, 1, 1)))]:
        shapes.clear()
        elbo = TraceEnum_ELBO(
            max_plate_nesting=1, num_particles=num_particles, vectorize_particles=True
        )
        elbo.loss(model, guide)
        assert shapes[-1] == expected


def test_tmc_stray_batch_dim_is_an_invalid_shape():
    from ppl.infer import TraceTMC_ELBO

    def model():
        p = torch.tensor([0.5])
        with ppl.plate("outer", 5), ppl.plate("inner", 6):
            # batch (5, 6, 5): the leftmost 5 is neither a plate nor an upstream particle
            ppl.sample("z", dist.Bernoulli(p[0]).expand([5, 6, 5]))

    guide = config_enumerate(model, num_samples=2)
    with pytest.raises(ValueError, match="at site 'z': invalid log_prob shape"):
        TraceTMC_ELBO(max_plate_nesting=2).loss(model, guide)


def test_pack_site_shares_one_packed_between_keys_holding_the_same_tensor():
    # without mask or scale, log_prob, unscaled_log_prob and masked_log_prob are one
    # tensor and get one Packed; a masked site's masked_log_prob is zero where masked
    from ppl.infer.traceenum_elbo import pack_site

    def model():
        with ppl.plate("data", 3):
            ppl.sample("a", dist.Normal(0.0, 1.0), obs=torch.zeros(3))
            with ppl.poutine.mask(mask=torch.tensor([True, False, True])):
                ppl.sample("b", dist.Normal(0.0, 1.0), obs=torch.ones(3))

    tr = ppl.poutine.trace(model).get_trace()
    tr.compute_log_prob()
    a, b = tr.nodes["a"], tr.nodes["b"]
    shared = pack_site(a, "masked_log_prob")
    assert pack_site(a, "unscaled_log_prob") is shared and pack_site(a, "log_prob") is shared
    assert shared.dims == ("plate:data",)
    masked = pack_site(b, "masked_log_prob")
    assert masked is not pack_site(b, "unscaled_log_prob")
    lp = -0.5 - 0.5 * math.log(2 * math.pi)  # Normal(0, 1).log_prob(1)
    assert masked.dims == ("plate:data",)
    assert torch.allclose(masked.tensor, torch.tensor([lp, 0.0, lp]), rtol=0, atol=1e-6)
