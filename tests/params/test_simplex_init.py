"""A positive, unnormalised simplex init is accepted as Pyro accepts it (pyroapi's suite)."""

import pytest
import torch

import ppl
from ppl.distributions import constraints


def test_unnormalised_positive_simplex_init_is_normalised():
    init = torch.tensor([1.0, 2.0, 5.0])
    value = ppl.param("q", init, constraint=constraints.simplex)
    torch.testing.assert_close(value.detach(), init / 8.0)
    assert float(value.sum()) == pytest.approx(1.0)


def test_unnormalised_batched_simplex_init_is_normalised_per_row():
    init = torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    value = ppl.param("q", init, constraint=constraints.simplex)
    torch.testing.assert_close(value.detach(), torch.tensor([[0.25, 0.75], [0.5, 0.5]]))


def test_pyroapi_style_random_positive_init():
    ppl.set_rng_seed(0)
    value = ppl.param("q", torch.exp(torch.randn(3)), constraint=constraints.simplex)
    assert torch.all(value > 0)
    assert float(value.sum()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "init",
    [torch.tensor([1.0, -1.0, 2.0]), torch.tensor([1.0, float("nan"), 2.0]), torch.zeros(3)],
)
def test_simplex_init_no_bijection_can_map_is_refused(init):
    with pytest.raises(ValueError, match="parameter 'q'.*outside the support"):
        ppl.param("q", init, constraint=constraints.simplex)


def test_negative_positive_init_is_still_refused():
    with pytest.raises(ValueError, match="parameter 's'.*outside the support"):
        ppl.param("s", torch.tensor(-1.0), constraint=constraints.positive)
