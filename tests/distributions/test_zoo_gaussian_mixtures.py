"""GaussianScaleMixture and MixtureOfDiagNormals(+SharedCovariance): log_prob against a
direct mixture sum and live Pyro; pathwise gradients equal closed-form expected gradients."""

import pytest
import torch

import ppl.distributions as dist

N = 200000


def _leaf(x):
    return x.detach().clone().requires_grad_()


def test_gsm_log_prob_and_gradients():
    torch.manual_seed(0)
    c, logits, s = torch.rand(3) + 0.5, torch.randn(4), torch.rand(4) + 0.5
    d = dist.GaussianScaleMixture(c, logits, s)
    x = torch.randn(6, 3)
    comps = dist.Normal(torch.zeros(4, 3), s.unsqueeze(-1) * c).to_event(1)
    expected = torch.logsumexp(comps.log_prob(x.unsqueeze(-2)) + logits.log_softmax(-1), -1)
    assert torch.allclose(d.log_prob(x), expected, atol=1e-5)
    # E sum z^4 = 3 sum_i c_i^4 sum_k pi_k s_k^4.
    c, logits, s = _leaf(c), _leaf(logits), _leaf(s)
    z = dist.GaussianScaleMixture(c, logits, s).rsample((N,))
    (z.pow(4).sum() / N).backward()
    c2, l2, s2 = _leaf(c), _leaf(logits), _leaf(s)
    (3 * c2.pow(4).sum() * (l2.softmax(-1) * s2.pow(4)).sum()).backward()
    for a, b in [(c, c2), (logits, l2), (s, s2)]:
        assert torch.allclose(a.grad, b.grad, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("shared", [False, True])
def test_mixture_of_diag_normals_gradients_unbiased(shared):
    # E|z|^2 = sum_k pi_k (|mu_k|^2 + |sigma_k|^2); compare the mean pathwise gradient over
    # independent replicas with the exact gradient, within 5 standard errors.
    torch.manual_seed(1)
    locs0 = torch.randn(2, 3, 3)
    scale0 = torch.rand(2, 3) + 0.5 if shared else torch.rand(2, 3, 3) + 0.5
    logits0 = torch.randn(2, 3)
    cls = dist.MixtureOfDiagNormalsSharedCovariance if shared else dist.MixtureOfDiagNormals
    reps, n = 8, 25000
    grads = []
    for _ in range(reps):
        locs, scale, logits = _leaf(locs0), _leaf(scale0), _leaf(logits0)
        z = cls(locs, scale, logits).rsample((n,))
        assert z.shape == (n, 2, 3)
        (z.pow(2).sum() / n).backward()
        grads.append([locs.grad, scale.grad, logits.grad])
    l2, s2, g2 = _leaf(locs0), _leaf(scale0), _leaf(logits0)
    s2_k = s2.unsqueeze(-2) if shared else s2
    (g2.softmax(-1) * (l2.pow(2).sum(-1) + s2_k.pow(2).sum(-1))).sum().backward()
    for estimates, exact in zip(zip(*grads), [l2.grad, s2.grad, g2.grad]):
        est = torch.stack(estimates)
        se = est.std(0) / reps**0.5
        assert ((est.mean(0) - exact).abs() <= 5 * se + 1e-3).all()


def test_mixture_of_diag_normals_log_prob_shapes_and_pyro():
    torch.manual_seed(2)
    locs, scale, logits = torch.randn(3, 2), torch.rand(3, 2) + 0.5, torch.randn(3)
    d = dist.MixtureOfDiagNormals(locs, scale, logits)
    x = torch.randn(5, 2)
    comps = dist.Normal(locs, scale).to_event(1)
    expected = torch.logsumexp(comps.log_prob(x.unsqueeze(-2)) + logits.log_softmax(-1), -1)
    assert torch.allclose(d.log_prob(x), expected, atol=1e-5)
    assert d.expand((4,)).rsample((2,)).shape == (2, 4, 2)
    with pytest.raises(ValueError, match="event_shape"):
        d.log_prob(torch.zeros(5, 3))
    pd = pytest.importorskip("pyro.distributions")
    assert torch.allclose(d.log_prob(x), pd.MixtureOfDiagNormals(locs, scale, logits).log_prob(x))
