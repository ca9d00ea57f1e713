"""Look inside a model run: ``poutine.trace(model).get_trace(...)``.

Pyro style: ``trace.nodes[name]["value" | "fn" | "is_observed" | "type"]``,
``trace.log_prob_sum()``, ``trace.compute_log_prob()`` then ``site["log_prob"]``,
``stochastic_nodes`` / ``observation_nodes``, ``format_shapes()``.
"""

import torch

import ppl as pyro
import ppl.distributions as dist
from ppl import poutine


def model(x):
    scale = pyro.sample("scale", dist.LogNormal(0.0, 1.0))
    with pyro.plate("features", 3, dim=-1):
        w = pyro.sample("w", dist.Normal(0.0, 1.0))
    with pyro.plate("data", x.shape[0], dim=-2):
        loc = (x * w).sum(-1, keepdim=True)
        pyro.sample("y", dist.Normal(loc, scale), obs=torch.ones(x.shape[0], 1))
    pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
    return w


def manual_log_prob(tr, x):
    scale = tr.nodes["scale"]["value"]
    w = tr.nodes["w"]["value"]
    z = tr.nodes["z"]["value"]
    loc = (x * w).sum(-1, keepdim=True)
    total = dist.LogNormal(0.0, 1.0).log_prob(scale)
    total = total + dist.Normal(0.0, 1.0).log_prob(w).sum()
    total = total + dist.Normal(loc, scale).log_prob(torch.ones(x.shape[0], 1)).sum()
    return (total + dist.Normal(0.0, 1.0).log_prob(z).sum()).item()


def main(seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    x = torch.arange(12.0).reshape(4, 3) / 10
    tr = poutine.trace(model).get_trace(x)
    tr.compute_log_prob()
    return {
        "sample_sites": [n for n, s in tr.nodes.items() if s["type"] == "sample"],
        "stochastic": list(tr.stochastic_nodes),
        "observed": list(tr.observation_nodes),
        "y_is_observed": tr.nodes["y"]["is_observed"],
        "w_batch_shape": tuple(tr.nodes["w"]["fn"].batch_shape),
        "z_event_shape": tuple(tr.nodes["z"]["fn"].event_shape),
        "y_log_prob_shape": tuple(tr.nodes["y"]["log_prob"].shape),
        "return_equals_w": bool(torch.equal(tr.nodes["_RETURN"]["value"], tr.nodes["w"]["value"])),
        "log_prob_sum": tr.log_prob_sum().item(),
        "manual_log_prob": manual_log_prob(tr, x),
        "format_shapes": tr.format_shapes(),
    }
