"""TraceGraph_ELBO: analytic gradients on a Bernoulli model, baselines, bad options."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer import TraceGraph_ELBO


def _model(data, baseline=None):
    z = ppl.sample("z", dist.Bernoulli(0.3))
    ppl.sample("x", dist.Normal(2.0 * z - 1.0, 1.0), obs=data)


def _guide(data, baseline=None):
    p = ppl.param("p", torch.tensor(0.6))
    ppl.sample("z", dist.Bernoulli(p), infer={"baseline": baseline or {}})


def _exact_grad(data):
    """d(-ELBO)/dp by enumerating z in {0, 1}."""
    p = torch.tensor(0.6, requires_grad=True)
    elbo = 0.0
    for z, q in ((1.0, p), (0.0, 1 - p)):
        log_p = dist.Bernoulli(0.3).log_prob(torch.tensor(z)) + dist.Normal(
            2.0 * z - 1.0, 1.0
        ).log_prob(data)
        elbo = elbo + q * (log_p - torch.log(q))
    (-elbo).backward()
    return p.grad.item()


def _grads(baseline, n=2000):
    data = torch.tensor(0.5)
    elbo = TraceGraph_ELBO()
    grads = []
    for _ in range(n):
        loss = elbo.differentiable_loss(_model, _guide, data, baseline=baseline)
        p = dict(ppl.get_param_store().named_parameters())["p"]
        (g,) = torch.autograd.grad(loss, [p])
        grads.append(g.item())
    return torch.tensor(grads), _exact_grad(data)


@pytest.mark.parametrize(
    "baseline",
    [None, {"use_decaying_avg_baseline": True, "baseline_beta": 0.9},
     {"baseline_value": torch.tensor(-1.5)}],
)
def test_score_function_gradient_matches_enumeration(baseline):
    grads, exact = _grads(baseline)
    se = grads.std().item() / len(grads) ** 0.5
    assert abs(grads.mean().item() - exact) < 4 * se + 1e-3


def test_decaying_baseline_reduces_variance():
    plain, _ = _grads(None)
    ppl.clear_param_store()
    based, _ = _grads({"use_decaying_avg_baseline": True})
    print("variance without / with decaying baseline:", plain.var().item(), based.var().item())
    assert based.var() <= plain.var()


def test_loss_value_is_negative_elbo():
    data = torch.tensor(0.5)
    loss = TraceGraph_ELBO(num_particles=20000, vectorize_particles=True).loss(
        _model, _guide, data
    )
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
    with pytest.raises(ValueError, match="baseline shape"):
        TraceGraph_ELBO().loss(
            _model, _guide, torch.tensor(0.5), baseline={"baseline_value": torch.zeros(3)}
        )
