"""Haar/DCT/UnitJacobian reparameterizers: invertibility round trips (hypothesis), density."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions.transforms import DiscreteCosineTransform, HaarTransform, Permute
from ppl.infer.autoguide.initialization import InitMessenger, init_to_value
from ppl.infer.reparam import DiscreteCosineReparam, HaarReparam, UnitJacobianReparam


def series_model(shape):
    def model():
        return ppl.sample("x", dist.Normal(torch.zeros(shape), 1.0).to_event(len(shape)))

    return model


def make(kind, dim, option):
    if kind == "haar":
        return HaarReparam(dim=dim, flip=bool(option)), HaarTransform(dim=dim, flip=bool(option))
    return (
        DiscreteCosineReparam(dim=dim, smooth=float(option)),
        DiscreteCosineTransform(dim=dim, smooth=float(option)),
    )


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 17),
    m=st.integers(1, 4),
    dim=st.sampled_from([-1, -2]),
    kind=st.sampled_from(["haar", "dct"]),
    option=st.sampled_from([0, 1]),
)
def test_initial_value_round_trips(n, m, dim, kind, option):
    shape = (m, n)
    reparam, transform = make(kind, dim, option)
    x = torch.randn(shape)
    with InitMessenger(init_to_value(values={"x": x})):
        tr = poutine.trace(poutine.reparam(series_model(shape), {"x": reparam})).get_trace()
    aux = tr.nodes[f"x_{kind}"]["value"]
    assert torch.allclose(aux, transform(x), atol=1e-5)
    assert torch.allclose(tr.nodes["x"]["value"], x, atol=1e-5)
    # conditioning on the coefficients gives back the series
    cond = poutine.condition(
        poutine.reparam(series_model(shape), {"x": reparam}), {f"x_{kind}": aux}
    )
    assert torch.allclose(cond(), x, atol=1e-5)


@pytest.mark.parametrize("kind", ["haar", "dct"])
def test_white_noise_stays_white(kind):
    # an orthonormal transform (smooth=0) maps iid N(0,1) to iid N(0,1): same log-density
    reparam, _ = make(kind, -1, 0)
    tr = poutine.trace(poutine.reparam(series_model((8,)), {"x": reparam})).get_trace()
    aux = tr.nodes[f"x_{kind}"]["value"]
    x = tr.nodes["x"]["value"]
    assert torch.allclose(tr.log_prob_sum(), dist.Normal(0.0, 1.0).log_prob(x).sum(), atol=1e-4)
    assert torch.allclose(aux.pow(2).sum(), x.pow(2).sum(), atol=1e-4)


def test_permutation_reparam_names_and_values():
    perm = torch.tensor([2, 0, 1])
    r = UnitJacobianReparam(Permute(perm), suffix="perm")
    tr = poutine.trace(poutine.reparam(series_model((3,)), {"x": r})).get_trace()
    assert torch.equal(tr.nodes["x_perm"]["value"], tr.nodes["x"]["value"][perm])


def test_transform_along_a_batch_dim_raises():
    def model():
        with ppl.plate("t", 4):
            ppl.sample("x", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="cannot transform along a batch dim"):
        poutine.reparam(model, {"x": HaarReparam()})()
