"""Tests of ppl.util, Pyro's pyro.util helpers."""

import math
import warnings

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.util import (
    check_site_shape,
    ignore_jit_warnings,
    optional,
    set_rng_seed,
    torch_float,
    torch_isinf,
    torch_isnan,
    warn_if_inf,
    warn_if_nan,
)


@pytest.mark.parametrize(
    "value, nan, inf",
    [
        (1.0, False, False),
        (math.nan, True, False),
        (math.inf, False, True),
        (-math.inf, False, True),
    ],
)
def test_isnan_isinf_numbers_and_tensors(value, nan, inf):
    assert torch_isnan(value) is nan
    assert torch_isinf(value) is inf
    assert bool(torch_isnan(torch.tensor([1.0, value]))) is nan
    assert bool(torch_isinf(torch.tensor([1.0, value]))) is inf
    assert torch_isnan(torch.zeros(2, 3)).shape == ()


def test_warn_if_nan_and_inf():
    with pytest.warns(UserWarning, match="NaN: loss"):
        out = warn_if_nan(torch.tensor([1.0, math.nan]), "loss")
    assert out.shape == (2,)
    with pytest.warns(UserWarning, match="Inf"):
        warn_if_inf(torch.tensor([-math.inf]), allow_posinf=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_nan(2.0)
        warn_if_inf(torch.tensor([math.inf]), allow_posinf=True)


def test_set_rng_seed_repeats_draws():
    set_rng_seed(3)
    a = torch.randn(3)
    set_rng_seed(3)
    assert torch.equal(a, torch.randn(3))


def _site(shape_sizes, batch):
    def model():
        with ppl.plate("p", shape_sizes, dim=-1):
            ppl.sample("x", dist.Normal(torch.zeros(batch), 1.0))

    tr = poutine.trace(model).get_trace()
    tr.compute_log_prob()
    return tr.nodes["x"]


def test_check_site_shape_accepts_plate_shape():
    check_site_shape(_site(3, (3,)), max_plate_nesting=1)
    check_site_shape(_site(3, (3,)), max_plate_nesting=2)


def test_check_site_shape_rejects_undeclared_dim():
    def model():
        ppl.sample("y", dist.Normal(torch.zeros(2, 1), 1.0).to_event(1))

    tr = poutine.trace(model).get_trace()
    tr.compute_log_prob()
    with pytest.raises(ValueError, match="site 'y'.*no plate"):
        check_site_shape(tr.nodes["y"], max_plate_nesting=1)
    with pytest.raises(ValueError, match="site 'y'.*left of max_plate_nesting=0"):
        check_site_shape(tr.nodes["y"], max_plate_nesting=0)


def test_optional_ignore_jit_torch_float():
    with optional(pytest.warns(UserWarning), True):
        warnings.warn("x")
    with optional(pytest.raises(ValueError), False):
        pass
    with ignore_jit_warnings():
        warnings.warn("traced", torch.jit.TracerWarning)
    assert torch_float(2) == 2.0 and isinstance(torch_float(2), float)
    assert torch_float(torch.tensor(2)).dtype == torch.float32
