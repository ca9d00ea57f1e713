"""Predictive with a guide over a SplitReparam model: the split parts' ImproperUniform
priors are never sampled (the shape run is conditioned on a guide draw)."""

import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import Predictive
from ppl.infer.autoguide import AutoDelta
from ppl.infer.reparam import SplitReparam


def test_predictive_conditions_improper_parts_on_the_guide():
    ppl.clear_param_store()
    torch.manual_seed(0)
    loc = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])

    def model():
        with ppl.plate("rows", 2):
            ppl.sample("x", dist.Normal(loc, 1.0).to_event(1))

    reparam_model = poutine.reparam(model, {"x": SplitReparam([1, 2], -1)})
    guide = AutoDelta(reparam_model, init_loc_fn=lambda site: torch.zeros(site["fn"].shape()))
    out = Predictive(
        reparam_model, guide=guide, num_samples=4, return_sites=["x_split_0", "x_split_1", "x"]
    )()
    assert out["x_split_0"].shape == (4, 2, 1) and out["x_split_1"].shape == (4, 2, 2)
    # the guide's point is zero, and x is the concatenation of its parts
    assert torch.equal(out["x"], torch.zeros(4, 2, 3))
