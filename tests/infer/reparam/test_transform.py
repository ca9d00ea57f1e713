"""TransformReparam: exact log-density relation, moments of a log-normal, init round trip."""

import math

import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions.transforms import AffineTransform, ExpTransform
from ppl.infer.autoguide.initialization import InitMessenger, init_to_value
from ppl.infer.reparam import TransformReparam


def lognormal(loc, scale):
    return dist.TransformedDistribution(
        dist.Normal(torch.zeros_like(loc), torch.ones_like(scale)),
        [AffineTransform(loc, scale), ExpTransform()],
    )


def test_log_density_equals_original_plus_log_jacobian():
    loc, scale = torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0])

    def model():
        return ppl.sample("x", lognormal(loc, scale).to_event(1))

    rep = poutine.trace(poutine.reparam(model, {"x": TransformReparam()})).get_trace()
    u, x = rep.nodes["x_base"]["value"], rep.nodes["x"]["value"]
    assert torch.allclose(x, (loc + scale * u).exp())
    orig = poutine.trace(poutine.condition(model, {"x": x})).get_trace()
    # log p(x) = log p(u) - log|dx/du|,  dx/du = scale * x
    expected = orig.log_prob_sum() + (scale * x).log().sum()
    assert torch.allclose(rep.log_prob_sum(), expected, atol=1e-4)
    assert rep.nodes["x_base"]["fn"].event_shape == (2,)


def test_lognormal_mean_by_sampling():
    n, loc, scale = 50000, torch.tensor(0.2), torch.tensor(0.4)

    def model():
        with ppl.plate("n", n):
            return ppl.sample("x", lognormal(loc, scale))

    x = poutine.reparam(model, {"x": TransformReparam()})()
    mean = math.exp(0.2 + 0.4**2 / 2)
    sd = math.sqrt((math.exp(0.4**2) - 1) * mean**2)
    assert abs(x.mean().item() - mean) < 4 * sd / math.sqrt(n)


def test_initial_value_is_pulled_back_to_the_base_site():
    loc, scale = torch.tensor(1.0), torch.tensor(2.0)

    def model():
        return ppl.sample("x", lognormal(loc, scale))

    with InitMessenger(init_to_value(values={"x": 5.0})):
        tr = poutine.trace(poutine.reparam(model, {"x": TransformReparam()})).get_trace()
    assert tr.nodes["x"]["value"].item() == 5.0
    assert torch.allclose(tr.nodes["x_base"]["value"], (torch.tensor(5.0).log() - 1.0) / 2.0)


def test_wrong_family_raises():
    import pytest

    with pytest.raises(TypeError, match="expects a TransformedDistribution"):
        poutine.reparam(lambda: ppl.sample("x", dist.Normal(0.0, 1.0)), {"x": TransformReparam()})()
