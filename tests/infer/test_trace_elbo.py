"""Trace_ELBO, JitTrace_ELBO, TraceMeanField_ELBO: values and gradients vs analytic ones."""

import math
import warnings

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.compile import JitTrace_ELBO
from ppl.infer.elbo import ELBO
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.infer.trace_mean_field_elbo import TraceMeanField_ELBO

X_OBS = 0.7


def normal_model():
    z = ppl.sample("z", dist.Normal(0.0, 1.0))
    ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(X_OBS))


def normal_guide(m0=0.3, s0=0.8):
    m = ppl.param("m", torch.tensor(m0))
    s = ppl.param("s", torch.tensor(s0), constraint=constraints.positive)
    ppl.sample("z", dist.Normal(m, s))


def analytic_normal(m, s):
    """-ELBO and its gradients w.r.t. m and log s for normal_model/normal_guide."""
    loss = 0.5 * (m**2 + s**2) + 0.5 * ((X_OBS - m) ** 2 + s**2) - math.log(s)
    loss += 0.5 * math.log(2 * math.pi) - 0.5
    return loss, -(X_OBS - 2 * m), 2 * s**2 - 1


def grads(names=("m", "s")):
    store = dict(ppl.get_param_store().named_parameters())
    out = [store[n].grad.clone() for n in names]
    for n in names:
        store[n].grad = None
    return out


@pytest.mark.parametrize("vectorize", [True, False])
def test_pathwise_value_and_grads_match_analytic(vectorize):
    k = 20000 if vectorize else 2000
    elbo = Trace_ELBO(num_particles=k, vectorize_particles=vectorize)
    loss = elbo.differentiable_loss(normal_model, normal_guide)
    loss.backward()
    g_m, g_s = grads()
    want, want_m, want_s = analytic_normal(0.3, 0.8)
    tol = 0.03 if vectorize else 0.08
    assert float(loss.detach()) == pytest.approx(want, abs=tol)
    assert float(g_m) == pytest.approx(want_m, abs=tol)
    assert float(g_s) == pytest.approx(want_s, abs=tol)


def test_loss_and_grads_returns_float_equal_to_differentiable_loss():
    ppl.set_rng_seed(3)
    value = Trace_ELBO().loss_and_grads(normal_model, normal_guide)
    g_m, _ = grads()
    ppl.set_rng_seed(3)
    loss = Trace_ELBO().differentiable_loss(normal_model, normal_guide)
    loss.backward()
    g_m2, _ = grads()
    ppl.set_rng_seed(3)
    detached = Trace_ELBO().loss(normal_model, normal_guide)
    assert isinstance(value, float) and isinstance(detached, float)
    assert value == pytest.approx(float(loss.detach())) == pytest.approx(detached)
    assert torch.equal(g_m, g_m2)


# --------------------------------------------------------------------------- score function
PRIOR_P = 0.3


def bern_model(scale=1.0):
    with ppl.poutine.scale(scale=scale):
        z = ppl.sample("z", dist.Bernoulli(PRIOR_P))
    ppl.sample("x", dist.Normal(2.0 * z, 1.0), obs=torch.tensor(1.5))


def bern_guide(scale=1.0):
    q = ppl.param("q", torch.tensor(0.6), constraint=constraints.unit_interval)
    with ppl.poutine.scale(scale=scale):
        ppl.sample("z", dist.Bernoulli(q))


def exact_bern(scale):
    """Exact -ELBO and d/d(logit q) by enumerating z."""
    u = torch.logit(torch.tensor(0.6)).requires_grad_()
    q = torch.sigmoid(u)
    total = 0.0
    for z, qz in ((1.0, q), (0.0, 1 - q)):
        log_p = math.log(PRIOR_P if z else 1 - PRIOR_P)
        log_lik = float(dist.Normal(2.0 * z, 1.0).log_prob(torch.tensor(1.5)))
        total = total + qz * (scale * (log_p - torch.log(qz)) + log_lik)
    (-total).backward()
    return float(-total.detach()), float(u.grad)


@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_score_function_gradient_matches_enumeration(scale):
    want_loss, want_grad = exact_bern(scale)
    elbo = Trace_ELBO(num_particles=200000, vectorize_particles=True)
    loss = elbo.differentiable_loss(bern_model, bern_guide, scale)
    loss.backward()
    (g_q,) = grads(["q"])
    assert float(loss.detach()) == pytest.approx(want_loss, abs=0.02)
    assert float(g_q) == pytest.approx(want_grad, abs=0.02)


def test_score_function_in_plate_rao_blackwellized():
    obs = torch.tensor([1.5, -0.3, 0.9])
    q0 = torch.tensor([0.2, 0.5, 0.7])

    def model():
        with ppl.plate("n", 3):
            z = ppl.sample("z", dist.Bernoulli(PRIOR_P))
            ppl.sample("x", dist.Normal(2.0 * z, 1.0), obs=obs)

    def guide():
        q = ppl.param("q", q0, constraint=constraints.unit_interval)
        with ppl.plate("n", 3):
            ppl.sample("z", dist.Bernoulli(q))

    u = torch.logit(q0).requires_grad_()
    q = torch.sigmoid(u)
    total = 0.0
    for z in (0.0, 1.0):
        qz = q if z else 1 - q
        lp = math.log(PRIOR_P if z else 1 - PRIOR_P)
        ll = dist.Normal(2.0 * z, 1.0).log_prob(obs)
        total = total + (qz * (lp + ll - torch.log(qz))).sum()
    (-total).backward()
    loss = Trace_ELBO(num_particles=100000, vectorize_particles=True).differentiable_loss(
        model, guide
    )
    loss.backward()
    (g,) = grads(["q"])
    assert float(loss.detach()) == pytest.approx(float(-total.detach()), abs=0.03)
    assert torch.allclose(g, u.grad, atol=0.02)


def test_non_reparam_value_is_plain_estimate():
    ppl.set_rng_seed(1)
    loss = Trace_ELBO().differentiable_loss(bern_model, bern_guide)
    ppl.set_rng_seed(1)
    tr_guide = ppl.poutine.trace(bern_guide).get_trace()
    tr_model = ppl.poutine.trace(ppl.poutine.replay(bern_model, trace=tr_guide)).get_trace()
    want = -(tr_model.log_prob_sum() - tr_guide.log_prob_sum())
    assert float(loss.detach()) == pytest.approx(float(want.detach()), abs=1e-6)


# --------------------------------------------------------------------------- plates, masks
def test_subsample_scaling_gives_full_data_loss():
    data = torch.zeros(100)

    def model():
        with ppl.plate("data", 100, subsample_size=10) as idx:
            ppl.sample("x", dist.Normal(0.0, 1.0), obs=data[idx])

    def guide():
        pass

    loss = Trace_ELBO().loss(model, guide)
    assert loss == pytest.approx(100 * 0.5 * math.log(2 * math.pi), rel=1e-5)


def test_guide_and_model_share_the_minibatch():
    data = torch.arange(50.0)

    def model():
        loc = ppl.sample("loc", dist.Normal(0.0, 10.0))
        with ppl.plate("data", 50, subsample_size=5) as idx:
            ppl.sample("x", dist.Normal(loc, 1.0), obs=data[idx])
        return idx

    def guide():
        with ppl.plate("data", 50, subsample_size=5):
            pass
        ppl.sample("loc", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))

    elbo = Trace_ELBO()
    ((model_tr, guide_tr),) = list(elbo._get_traces(model, guide, (), {}))
    assert torch.equal(model_tr.nodes["data"]["value"], guide_tr.nodes["data"]["value"])
    assert model_tr.nodes["x"]["scale"] == 10.0


def test_masked_observations_do_not_count():
    obs = torch.tensor([0.5, 1e6])

    def model(mask):
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        with ppl.plate("n", 2), ppl.poutine.mask(mask=mask):
            ppl.sample("x", dist.Normal(z, 1.0), obs=obs)

    def model_one():
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        ppl.sample("x", dist.Normal(z, 1.0), obs=obs[:1].squeeze())

    def guide(*args):
        ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(0.2)), 1.0))

    ppl.set_rng_seed(5)
    masked = Trace_ELBO().differentiable_loss(model, guide, torch.tensor([True, False]))
    ppl.set_rng_seed(5)
    single = Trace_ELBO().differentiable_loss(model_one, guide)
    assert math.isfinite(float(masked))
    assert float(masked) == pytest.approx(float(single), abs=1e-5)
    masked.backward()
    assert torch.isfinite(ppl.get_param_store().named_parameters().mapping["m"].grad)


def test_auxiliary_guide_sites_count_in_guide_density():
    def model():
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        m = ppl.param("m", torch.tensor(0.8))
        u = ppl.sample("u", dist.Normal(m, 1.0), infer={"is_auxiliary": True})
        ppl.sample("z", dist.Delta(u))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = Trace_ELBO(num_particles=20000, vectorize_particles=True).differentiable_loss(
            model, guide
        )
    loss.backward()
    (g_m,) = grads(["m"])
    assert float(loss) == pytest.approx(0.5 * 0.8**2, abs=0.02)  # KL(N(m,1) || N(0,1))
    assert float(g_m) == pytest.approx(0.8, abs=0.03)


def test_factor_counts_in_model():
    def model():
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        ppl.factor("f", -2.0 * z**2)

    loss = Trace_ELBO(num_particles=1000, vectorize_particles=True).loss(
        model, lambda: ppl.sample("z", dist.Delta(torch.tensor(1.0)))
    )
    assert loss == pytest.approx(0.5 + 0.5 * math.log(2 * math.pi) + 2.0, abs=1e-5)


# --------------------------------------------------------------------------- vectorization
def test_vectorized_equals_sequential_in_expectation():
    seq = Trace_ELBO(num_particles=8)
    vec = Trace_ELBO(num_particles=8, vectorize_particles=True)
    a = [seq.loss(normal_model, normal_guide) for _ in range(300)]
    b = [vec.loss(normal_model, normal_guide) for _ in range(300)]
    want = analytic_normal(0.3, 0.8)[0]
    assert sum(a) / len(a) == pytest.approx(want, abs=0.05)
    assert sum(b) / len(b) == pytest.approx(want, abs=0.05)


def test_vectorized_particles_guess_and_cache_plate_nesting():
    data = torch.randn(6)

    def model(data):
        loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
        with ppl.plate("n", 6):
            ppl.sample("x", dist.Normal(loc, 1.0), obs=data)

    def guide(data):
        ppl.sample("loc", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))

    elbo = Trace_ELBO(num_particles=4, vectorize_particles=True)
    ((model_tr, guide_tr),) = list(elbo._get_traces(model, guide, (data,), {}))
    assert elbo.max_plate_nesting == 1
    assert model_tr.nodes["x"]["log_prob"].shape == (4, 6)
    assert guide_tr.nodes["loc"]["value"].shape == (4, 1)


def test_batched_site_outside_plates_counts_for_nesting():
    def model():
        ppl.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        ppl.sample("w", dist.Normal(torch.zeros(2), 1.0))

    def guide():
        ppl.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        ppl.sample("w", dist.Normal(torch.zeros(2), 1.0))

    elbo = Trace_ELBO(num_particles=5, vectorize_particles=True, max_plate_nesting=math.inf)
    ppl.enable_validation(False)
    assert math.isfinite(elbo.loss(model, guide))
    assert elbo.max_plate_nesting == 1


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"num_particles": 0}, ValueError, "num_particles must be >= 1"),
        ({"num_particles": 1.5}, TypeError, "num_particles must be an int"),
        ({"vectorize_particles": "yes"}, TypeError, "vectorize_particles must be a bool"),
        ({"max_plate_nesting": -1}, ValueError, "max_plate_nesting must be a non-negative"),
        ({"max_plate_nesting": "2"}, TypeError, "max_plate_nesting must be an int"),
    ],
)
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        Trace_ELBO(**kwargs)


def test_max_iarange_nesting_is_deprecated_alias():
    with pytest.warns(DeprecationWarning, match="max_plate_nesting"):
        elbo = Trace_ELBO(max_iarange_nesting=2)
    assert elbo.max_plate_nesting == 2


def test_plate_stack_overflow_is_reported():
    def model():
        with ppl.plate("a", 2), ppl.plate("b", 3):
            ppl.sample("x", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="plate stack overflow"):
        Trace_ELBO(max_plate_nesting=1).loss(model, model)


def test_invalid_log_prob_shape_is_reported():
    def model():
        ppl.sample("x", dist.Normal(torch.zeros(3), 1.0))

    with pytest.raises(ValueError, match="invalid log_prob shape"):
        Trace_ELBO(max_plate_nesting=1).loss(model, model)


def test_model_guide_shape_mismatch():
    def model():
        ppl.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    def guide():
        ppl.sample("x", dist.Normal(torch.zeros(2), 1.0).to_event(1))

    with pytest.raises(ValueError, match="Model and guide shapes disagree"):
        Trace_ELBO().loss(model, guide)


def test_guide_latent_observed_in_model():
    def model():
        ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    def guide():
        ppl.sample("x", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="latent in the guide but observed in the model"):
        Trace_ELBO().loss(model, guide)


def test_unmatched_sites_warn():
    def model():
        ppl.sample("a", dist.Normal(0.0, 1.0))

    def guide():
        ppl.sample("b", dist.Normal(0.0, 1.0))

    with pytest.warns(UserWarning, match="in the guide but not the model"):
        with pytest.warns(UserWarning, match="in the model but not the guide"):
            Trace_ELBO().loss(model, guide)


def test_base_elbo_is_abstract():
    with pytest.raises(NotImplementedError, match="must implement _particle_loss"):
        ELBO().loss(normal_model, normal_guide)


# --------------------------------------------------------------------------- JIT
def test_jit_matches_eager_draw_for_draw():
    data = torch.cat([torch.ones(6), torch.zeros(4)])

    def model(data):
        f = ppl.sample("f", dist.Uniform(0.0, 1.0))
        with ppl.plate("n", data.shape[0]):
            ppl.sample("obs", dist.Bernoulli(f), obs=data)

    def guide(data):
        a = ppl.param("a", torch.tensor(3.0), constraint=constraints.positive)
        b = ppl.param("b", torch.tensor(2.0), constraint=constraints.positive)
        ppl.sample("f", dist.Beta(a, b))

    jit = JitTrace_ELBO(ignore_jit_warnings=True)
    eager = Trace_ELBO()
    for seed in range(3):
        ppl.set_rng_seed(seed)
        lj = jit.differentiable_loss(model, guide, data)
        lj.backward()
        gj = grads(["a", "b"])
        ppl.set_rng_seed(seed)
        le = eager.differentiable_loss(model, guide, data)
        le.backward()
        ge = grads(["a", "b"])
        assert float(lj) == pytest.approx(float(le), abs=1e-5)
        assert torch.allclose(torch.stack(gj), torch.stack(ge), atol=1e-5)
    assert jit._graphs.states() == ["running"]


def test_jit_falls_back_to_eager_when_tracing_fails(monkeypatch):
    def broken_trace(*args, **kwargs):
        raise RuntimeError("cannot trace this")

    monkeypatch.setattr(torch.jit, "trace", broken_trace)
    jit = JitTrace_ELBO()
    jit.loss(normal_model, normal_guide)  # the first call of a layout runs eagerly
    with pytest.warns(RuntimeWarning, match="falling back to the eager"):
        jit.loss(normal_model, normal_guide)  # the second traces, and fails
    want = analytic_normal(0.3, 0.8)[0]
    losses = [jit.loss(normal_model, normal_guide) for _ in range(400)]
    assert sum(losses) / len(losses) == pytest.approx(want, abs=0.1)


# --------------------------------------------------------------------------- mean field
def test_mean_field_uses_analytic_kl():
    def model():
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(1.0)), 1.0))

    assert TraceMeanField_ELBO().loss(model, guide) == pytest.approx(0.5, abs=1e-6)
    loss = TraceMeanField_ELBO().differentiable_loss(model, guide)
    loss.backward()
    assert float(grads(["m"])[0]) == pytest.approx(1.0, abs=1e-6)


def test_mean_field_falls_back_to_monte_carlo_and_matches_trace_elbo():
    want = analytic_normal(0.3, 0.8)[0]
    elbo = TraceMeanField_ELBO(num_particles=4000, vectorize_particles=True)
    assert elbo.loss(normal_model, normal_guide) == pytest.approx(want, abs=0.03)

    def model_uniform():
        ppl.sample("z", dist.Uniform(0.0, 1.0))

    def guide_beta():
        ppl.sample("z", dist.Beta(ppl.param("a", torch.tensor(2.0), constraints.positive), 2.0))

    mc = TraceMeanField_ELBO(num_particles=20000, vectorize_particles=True).loss(
        model_uniform, guide_beta
    )
    # KL(Beta(2,2) || U(0,1)) = -entropy(Beta(2,2))
    assert mc == pytest.approx(-float(dist.Beta(2.0, 2.0).entropy()), abs=0.01)


def test_mean_field_rejects_non_reparameterized_guides():
    with pytest.raises(NotImplementedError, match="is not reparameterized"):
        TraceMeanField_ELBO().loss(bern_model, bern_guide)


def test_mean_field_needs_a_guide_site_for_each_latent():
    def model():
        ppl.sample("z", dist.Normal(0.0, 1.0))

    ppl.enable_validation(False)
    with pytest.raises(ValueError, match="has no guide site"):
        TraceMeanField_ELBO().loss(model, lambda: None)


def test_vectorized_particles_with_subsampled_plate():
    """The plate's index draw is not broadcast over the particle plate: one minibatch,
    shared by all particles, and the loss equals the mean of per-particle losses."""
    data = torch.arange(20.0)

    def model():
        mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
        with ppl.plate("data", 20, subsample_size=5) as idx:
            ppl.sample("obs", dist.Normal(mu, 1.0), obs=data[idx])

    def guide():
        ppl.sample("mu", dist.Normal(ppl.param("m", torch.tensor(9.0)), 1.0))

    elbo = Trace_ELBO(num_particles=4, vectorize_particles=True)
    ((model_tr, guide_tr),) = list(elbo._get_traces(model, guide, (), {}))
    assert model_tr.nodes["data"]["value"].shape == (5,)
    assert model_tr.nodes["obs"]["fn"].batch_shape == (4, 5)
    assert torch.isfinite(elbo.differentiable_loss(model, guide))


def test_model_guide_event_dim_mismatch():
    def model():
        with ppl.plate("p", 2):
            ppl.sample("x", dist.Normal(torch.zeros(2), 1.0).to_event(1))

    def guide():
        with ppl.plate("p", 2):
            ppl.sample("x", dist.Normal(torch.zeros(2), 1.0))

    with pytest.raises(ValueError, match="event_dims disagree at site 'x': model 1 vs guide 0"):
        Trace_ELBO().loss(model, guide)


def test_plate_in_guide_but_not_model_warns_only_under_validation():
    def model():
        ppl.sample("x", dist.Normal(0.0, 1.0))

    def guide():
        for _ in ppl.plate("extra", 4, 2):
            pass
        ppl.sample("x", dist.Normal(0.0, 1.0))

    with pytest.warns(UserWarning, match=r"plate statements in guide but not model: \['extra'\]"):
        Trace_ELBO().loss(model, guide)
    with ppl.validation_enabled(False), warnings.catch_warnings():
        warnings.simplefilter("error")
        ppl.set_rng_seed(0)
        loss = Trace_ELBO().loss(model, guide)
    assert loss == pytest.approx(0.0)  # guide == prior: log p - log q = 0 exactly


def test_guide_factor_must_state_has_rsample():
    def model():
        pass

    def guide():
        ppl.factor("f", torch.tensor(0.5))

    with pytest.raises(ValueError, match=r"factor\('f', ...\), missing specification"):
        Trace_ELBO().loss(model, guide)

    def stated_guide():
        ppl.factor("f", torch.tensor(0.5), has_rsample=True)

    # the guide's factor enters as a guide log-density term: loss = -(0 - 0.5)
    assert Trace_ELBO().loss(model, stated_guide) == pytest.approx(0.5)


def test_guide_sites_marked_for_enumeration_warn_under_trace_elbo():
    def model():
        ppl.sample("x", dist.Bernoulli(0.5))

    def guide():
        ppl.sample("x", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})

    with pytest.warns(UserWarning, match="configured for enumeration: x"):
        loss = Trace_ELBO().loss(model, guide)
    assert loss == pytest.approx(0.0)  # guide == prior, so log p - log q = 0 per draw
