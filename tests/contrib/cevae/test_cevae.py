"""CEVAE: the loss is -(ELBO + log q(t|x) + log q(y|t,x)) exactly; ite is the
difference of the outcome means under do(t=1) and do(t=0)."""

import pytest
import torch

import ppl
from ppl import poutine
from ppl.contrib.cevae import CEVAE, DistributionNet, TraceCausalEffect_ELBO
from ppl.contrib.cevae.nets import PreWhitener


def small_cevae(outcome_dist="normal", **kw):
    return CEVAE(3, outcome_dist, latent_dim=2, hidden_dim=6, num_layers=2, **kw)


def data(n=12):
    torch.manual_seed(0)
    x = torch.randn(n, 3)
    t = (x[:, 0] > 0).float()
    y = x[:, 1] + 2 * t
    return x, t, y


def test_loss_is_elbo_plus_auxiliary_log_likelihoods():
    cevae = small_cevae()
    x, t, y = data()
    ppl.set_rng_seed(3)
    loss = TraceCausalEffect_ELBO().differentiable_loss(cevae.model, cevae.guide, x, t, y, size=40)
    ppl.set_rng_seed(3)
    guide_tr = poutine.trace(cevae.guide).get_trace(x, t, y, size=40)
    model_tr = poutine.trace(poutine.replay(cevae.model, trace=guide_tr)).get_trace(
        x, t, y, size=40
    )
    model_tr.compute_log_prob()
    guide_tr.compute_log_prob()
    log_p = sum(model_tr.nodes[n]["log_prob"].sum() for n in ("z", "x", "t", "y"))
    log_q = {n: guide_tr.nodes[n]["log_prob"].sum() for n in ("z", "t", "y")}
    expected = -(log_p - log_q["z"] + log_q["t"] + log_q["y"])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # the plate scales a minibatch of 12 to the data size 40
    assert model_tr.nodes["x"]["scale"] == pytest.approx(40 / 12)


def test_ite_is_the_difference_of_intervened_outcome_means():
    cevae = small_cevae(num_samples=7)
    x, t, y = data()
    cevae.whiten = PreWhitener(x)
    model = cevae.model
    # make the treated outcome net the untreated one shifted by exactly 1.5
    model.y1_nn.load_state_dict(model.y0_nn.state_dict())
    with torch.no_grad():
        model.y1_nn.fc[-1].bias[0] += 1.5
    ite = cevae.ite(x)
    assert ite.shape == (12,)
    assert torch.allclose(ite, torch.full((12,), 1.5), atol=1e-5)
    assert torch.allclose(cevae.ite(x, batch_size=5), ite, atol=1e-5)


@pytest.mark.slow
def test_fit_recovers_the_average_effect():
    torch.manual_seed(1)
    n = 200
    z = torch.randint(0, 2, (n,)).float()  # the hidden confounder
    x = torch.randn(n, 3) + 2 * z.unsqueeze(-1)
    t = torch.bernoulli(0.25 + 0.5 * z)  # treatment depends on z
    y = z + 3 * t + 0.1 * torch.randn(n)  # true effect of t: 3
    ppl.set_rng_seed(0)
    cevae = CEVAE(3, "normal", latent_dim=2, hidden_dim=16, num_layers=2, num_samples=20)
    losses = cevae.fit(
        x, t, y, num_epochs=30, batch_size=100, learning_rate=0.05, learning_rate_decay=0.5
    )
    assert sum(losses[-4:]) < sum(losses[:4]) / 2
    # a short fit (60 steps) gets close to the true average effect of 3 (3.28 here)
    assert 2.5 < cevae.ite(x).mean().item() < 4.0


def test_errors():
    with pytest.raises(ValueError, match="expected latent_dim > 0"):
        CEVAE(3, latent_dim=0)
    with pytest.raises(ValueError, match="dtype not supported: 'poisson'"):
        CEVAE(3, "poisson")
    cevae = small_cevae()
    with pytest.raises(ValueError, match="call fit"):
        cevae.ite(torch.zeros(2, 3))
    x, t, y = data()
    with pytest.raises(ValueError, match=r"expected x of shape \(num_data, 3\)"):
        cevae.fit(x[:, :2], t, y)
    with pytest.raises(ValueError, match="expected t and y of shape"):
        cevae.fit(x, t[:3], y)
    assert DistributionNet.get_class("studentt").__name__ == "StudentTNet"
