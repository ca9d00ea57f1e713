"""NeuTraReparam: the warped model's density is the original's pulled back, exactly."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.autoguide import AutoDiagonalNormal
from ppl.infer.reparam import NeuTraReparam


def funnel():
    y = ppl.sample("y", dist.Normal(0.0, 3.0))
    with ppl.plate("D", 4):
        ppl.sample("x", dist.Normal(0.0, torch.exp(y / 2)))


def test_log_density_is_pulled_back_through_the_guide():
    guide = AutoDiagonalNormal(funnel)
    guide()
    neutra = NeuTraReparam(guide)
    tr = poutine.trace(neutra.reparam(funnel)).get_trace()
    assert [n for n in tr.stochastic_nodes if n != "D"] == ["y_shared_latent"]
    assert tr.nodes["y_shared_latent"]["value"].shape == (5,)  # not broadcast along plate D

    z = tr.nodes["y_shared_latent"]["value"]
    loc, scale = guide.loc.detach(), guide.scale.detach()
    u = loc + scale * z  # the diagonal-normal bijection
    y, x = u[0], u[1:]
    assert torch.allclose(tr.nodes["y"]["value"], y)
    assert torch.allclose(tr.nodes["x"]["value"], x)
    expected = (
        dist.Normal(0.0, 3.0).log_prob(y)
        + dist.Normal(0.0, torch.exp(y / 2)).log_prob(x).sum()
        + scale.log().sum()
    )
    assert torch.allclose(tr.log_prob_sum().detach(), expected, atol=1e-4)


def test_transform_sample_inverts_the_warp():
    guide = AutoDiagonalNormal(funnel)
    guide()
    neutra = NeuTraReparam(guide)
    z = torch.randn(7, 5)
    samples = neutra.transform_sample(z)
    u = guide.loc.detach() + guide.scale.detach() * z
    assert torch.allclose(samples["y"].detach(), u[:, 0])
    assert samples["x"].shape == (7, 4)


def test_guide_type_and_observed_sites_are_checked():
    with pytest.raises(TypeError, match="expected an AutoContinuous guide"):
        NeuTraReparam(object())
    guide = AutoDiagonalNormal(funnel)
    guide()
    neutra = NeuTraReparam(guide)
    with pytest.raises(NotImplementedError, match="does not support observe statements"):
        poutine.reparam(poutine.condition(funnel, {"y": torch.tensor(0.0)}), {"y": neutra})()
