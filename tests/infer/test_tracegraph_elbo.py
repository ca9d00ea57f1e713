"""TraceGraph_ELBO: analytic gradients on a Bernoulli model, baselines, bad options."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer import TraceGraph_ELBO

R = 1000  # replicates in a plate: one call gives R independent gradient estimates


def _model(data, baseline=None):
    with ppl.plate("rep", data.shape[0] if data.dim() else 1):
        z = ppl.sample("z", dist.Bernoulli(0.3))
        ppl.sample("x", dist.Normal(2.0 * z - 1.0, 1.0), obs=data)


def _guide(data, baseline=None):
    n = data.shape[0] if data.dim() else 1
    p = ppl.param("p", torch.full((n,), 0.6))
    with ppl.plate("rep", n):
        ppl.sample("z", dist.Bernoulli(p), infer={"baseline": baseline or {}})


def _exact_grad(x):
    """d(-ELBO)/dp by enumerating z in {0, 1}."""
    p = torch.tensor(0.6, requires_grad=True)
    elbo = 0.0
    for z, q in ((1.0, p), (0.0, 1 - p)):
        log_p = dist.Bernoulli(0.3).log_prob(torch.tensor(z)) + dist.Normal(
            2.0 * z - 1.0, 1.0
        ).log_prob(torch.tensor(x))
        elbo = elbo + q * (log_p - torch.log(q))
    (-elbo).backward()
    return p.grad.item()


def _grads(baseline, calls=1, reps=R, burn_in=0):
    """Gradient estimates of every replicate over ``calls`` calls (after ``burn_in``)."""
    data = torch.full((reps,), 0.5)
    elbo = TraceGraph_ELBO()
    grads = []
    for i in range(calls + burn_in):
        loss = elbo.differentiable_loss(_model, _guide, data, baseline=baseline)
        leaf = ppl.get_param_store().get_param("p").unconstrained()
        (g,) = torch.autograd.grad(loss, [leaf])
        if i >= burn_in:
            grads.append(g)
    return torch.cat(grads), _exact_grad(0.5)


@pytest.mark.parametrize(
    "baseline",
    [None, {"use_decaying_avg_baseline": True, "baseline_beta": 0.9},
     {"baseline_value": torch.full((R,), -1.5)}],
)
def test_score_function_gradient_matches_enumeration(baseline):
    grads, exact = _grads(baseline, calls=2)
    se = grads.std().item() / len(grads) ** 0.5
    assert abs(grads.mean().item() - exact) < 4 * se + 1e-3


def test_decaying_baseline_reduces_variance():
    plain, exact = _grads(None, calls=40, reps=50, burn_in=20)
    ppl.clear_param_store()
    based, _ = _grads({"use_decaying_avg_baseline": True}, calls=40, reps=50, burn_in=20)
    print(
        f"gradient variance without / with decaying baseline: {plain.var().item():.4f} / "
        f"{based.var().item():.4f} (means {plain.mean():.3f} / {based.mean():.3f}, "
        f"exact {exact:.3f})"
    )
    assert based.var() <= plain.var()
    se = based.std().item() / len(based) ** 0.5
    assert abs(based.mean().item() - exact) < 4 * se


def test_loss_value_is_negative_elbo():
    data = torch.tensor(0.5)
    loss = TraceGraph_ELBO(num_particles=20000, vectorize_particles=True).loss(
        _model, _guide, data
    )  # one replicate
    p = 0.6
    exact = 0.0
    for z, q in ((1.0, p), (0.0, 1 - p)):
        log_p = dist.Bernoulli(0.3).log_prob(torch.tensor(z)) + dist.Normal(
            2.0 * z - 1.0, 1.0
        ).log_prob(data)
        exact -= q * (log_p.item() - torch.log(torch.tensor(q)).item())
    assert abs(loss - exact) < 0.05


def test_unknown_baseline_key_raises():
    with pytest.raises(ValueError, match="unknown baseline option"):
        TraceGraph_ELBO().loss(_model, _guide, torch.tensor(0.5), baseline={"nn": 1})


def test_wrong_baseline_shape_raises():
    with pytest.raises(ValueError, match="expected the baseline to have .* shape"):
        TraceGraph_ELBO().loss(
            _model, _guide, torch.tensor(0.5), baseline={"baseline_value": torch.zeros(3)}
        )


# ------------------------------------------------------------ dependency structure
def _two_site_model():
    with ppl.plate("rep", R):
        a = ppl.sample("a", dist.Bernoulli(0.3))
        b = ppl.sample("b", dist.Bernoulli(0.6))
        ppl.sample("xa", dist.Normal(3.0 * a, 1.0), obs=torch.full((R,), 2.0))
        ppl.sample("xb", dist.Normal(3.0 * b, 1.0), obs=torch.full((R,), -1.0))


def _two_site_guide():
    pa = ppl.param("pa", torch.full((R,), 0.5))
    with ppl.plate("rep", R):
        ppl.sample("a", dist.Bernoulli(pa))
        ppl.sample("b", dist.Bernoulli(0.5))


def _grad_samples(elbo, model, guide, name, calls=2):
    out = []
    for _ in range(calls):
        loss = elbo.differentiable_loss(model, guide)
        leaf = ppl.get_param_store().get_param(name).unconstrained()
        (g,) = torch.autograd.grad(loss, [leaf])
        out.append(g)
    return torch.cat(out)


def test_provenance_drops_costs_that_do_not_depend_on_the_site():
    from ppl.infer import Trace_ELBO

    graph = _grad_samples(TraceGraph_ELBO(), _two_site_model, _two_site_guide, "pa")
    plain = _grad_samples(Trace_ELBO(), _two_site_model, _two_site_guide, "pa")
    # exact: d/dpa of -E_q[log p(a, xa) - log q(a)] (b's terms do not involve pa)
    pa = torch.tensor(0.5, requires_grad=True)
    elbo = 0.0
    for a, q in ((1.0, pa), (0.0, 1 - pa)):
        log_p = dist.Bernoulli(0.3).log_prob(torch.tensor(a)) + dist.Normal(3.0 * a, 1.0).log_prob(
            torch.tensor(2.0)
        )
        elbo = elbo + q * (log_p - torch.log(q))
    (exact,) = torch.autograd.grad(-elbo, [pa])
    print(
        f"gradient variance: Trace_ELBO {plain.var().item():.3f}, "
        f"TraceGraph_ELBO {graph.var().item():.3f}"
    )
    for grads in (graph, plain):
        se = grads.std().item() / len(grads) ** 0.5
        assert abs(grads.mean().item() - exact.item()) < 4 * se
    assert graph.var() < 0.8 * plain.var()


def _chain_model():
    with ppl.plate("rep", R):
        a = ppl.sample("a", dist.Bernoulli(0.4))
        b = ppl.sample("b", dist.Bernoulli(0.2 + 0.6 * a))
        ppl.sample("x", dist.Normal(2.0 * b - 1.0, 1.0), obs=torch.full((R,), 0.7))


def _chain_guide():
    pa = ppl.param("pa", torch.full((R,), 0.6))
    pb = ppl.param("pb", torch.tensor([0.3, 0.7]))
    with ppl.plate("rep", R):
        a = ppl.sample("a", dist.Bernoulli(pa))
        ppl.sample("b", dist.Bernoulli(pb[a.long()]))


def test_chain_gradient_matches_enumeration():
    # b's distribution is computed from a: b's and x's costs count for a
    grads = _grad_samples(TraceGraph_ELBO(), _chain_model, _chain_guide, "pa", calls=3)
    pa = torch.tensor(0.6, requires_grad=True)
    pb = torch.tensor([0.3, 0.7])
    elbo = 0.0
    for a in (0, 1):
        qa = pa if a else 1 - pa
        for b in (0, 1):
            qb = pb[a] if b else 1 - pb[a]
            log_p = (
                dist.Bernoulli(0.4).log_prob(torch.tensor(float(a)))
                + dist.Bernoulli(0.2 + 0.6 * a).log_prob(torch.tensor(float(b)))
                + dist.Normal(2.0 * b - 1.0, 1.0).log_prob(torch.tensor(0.7))
            )
            elbo = elbo + qa * qb * (log_p - torch.log(qa) - torch.log(qb))
    (exact,) = torch.autograd.grad(-elbo, [pa])
    se = grads.std().item() / len(grads) ** 0.5
    assert abs(grads.mean().item() - exact.item()) < 4 * se


def test_nn_baseline_of_the_wrong_shape_names_the_site():
    net = torch.nn.Linear(1, 3)
    with pytest.raises(ValueError, match="at site 'z': expected the baseline"):
        TraceGraph_ELBO().loss(
            _model,
            _guide,
            torch.tensor(0.5),
            baseline={"nn_baseline": net, "nn_baseline_input": torch.ones(1)},
        )


@pytest.mark.slow
def test_normal_normal_with_nonreparameterized_guide_reaches_the_posterior():
    """Pyro's svi_part_iii idea: a score-function guide plus baselines fits the
    conjugate Normal-Normal posterior N(mu_n, sigma_n)."""
    from ppl.distributions.testing.fakes import NonreparameterizedNormal
    from ppl.infer import SVI
    from ppl.optim import Adam

    data = torch.tensor([1.2, 0.4, 2.1, 1.5, 0.9])
    # prior N(0, 1), likelihood N(z, 1): posterior precision 1 + n, mean sum(x) / (1 + n)
    post_loc = data.sum().item() / (1 + len(data))
    post_scale = (1 + len(data)) ** -0.5

    class Baseline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return self.bias.expand(())

    baseline = Baseline()

    def model():
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        with ppl.plate("data", len(data)):
            ppl.sample("x", dist.Normal(z, 1.0), obs=data)

    def guide():
        ppl.module("baseline", baseline)
        loc = ppl.param("loc", torch.tensor(0.0))
        scale = ppl.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        ppl.sample(
            "z",
            NonreparameterizedNormal(loc, scale),
            infer={
                "baseline": {
                    "nn_baseline": baseline,
                    "nn_baseline_input": data,
                    "use_decaying_avg_baseline": True,
                    "baseline_beta": 0.95,
                }
            },
        )

    elbo = TraceGraph_ELBO(num_particles=16, vectorize_particles=True)
    svi = SVI(model, guide, Adam({"lr": 0.05}), elbo)
    for _ in range(100):
        svi.step()
    loc, scale = ppl.param("loc").item(), ppl.param("scale").item()
    print(f"fit loc {loc:.3f} (exact {post_loc:.3f}), scale {scale:.3f} (exact {post_scale:.3f})")
    # at the posterior the cost log p(x, z) - log q(z) is the constant log p(x): once the
    # baselines learn it the score-function noise vanishes, so the fit is tight
    assert loc == pytest.approx(post_loc, abs=0.05)
    assert scale == pytest.approx(post_scale, abs=0.05)


def test_jit_tracegraph_fits_a_discrete_posterior():
    import warnings

    from ppl.infer import SVI, JitTraceGraph_ELBO
    from ppl.optim import Adam

    data = torch.tensor(0.5)

    def model():
        z = ppl.sample("z", dist.Bernoulli(0.3))
        ppl.sample("x", dist.Normal(2.0 * z - 1.0, 1.0), obs=data)

    def guide():
        p = ppl.param("p", torch.tensor(0.6), constraint=dist.constraints.unit_interval)
        ppl.sample("z", dist.Bernoulli(p), infer={"baseline": {"use_decaying_avg_baseline": True}})

    log_odds = (
        torch.log(torch.tensor(0.3 / 0.7))
        + dist.Normal(1.0, 1.0).log_prob(data)
        - dist.Normal(-1.0, 1.0).log_prob(data)
    )
    exact = torch.sigmoid(log_odds).item()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svi = SVI(model, guide, Adam({"lr": 0.02}), JitTraceGraph_ELBO(ignore_jit_warnings=True))
        for _ in range(300):
            svi.step()
    assert ppl.param("p").item() == pytest.approx(exact, abs=0.03)
