"""Effect handlers on a two-level model: ``condition``, ``do``, ``block``, ``replay``.

Pyro style: handlers used as function wrappers (``poutine.condition(model, data=...)``)
and as context managers (``with poutine.block(hide=[...])``), traces read as dicts.
"""

import torch

import ppl as pyro
import ppl.distributions as dist
from ppl import poutine


def model():
    z = pyro.sample("z", dist.Normal(0.0, 1.0))
    x = pyro.sample("x", dist.Normal(z, 0.1))
    return z, x


def guide():
    pyro.sample("z", dist.Normal(5.0, 1e-3))


def main(seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    out = {}

    conditioned = poutine.condition(model, data={"x": torch.tensor(1.5)})
    tr = poutine.trace(conditioned).get_trace()
    out["condition_x_value"] = tr.nodes["x"]["value"].item()
    out["condition_x_observed"] = tr.nodes["x"]["is_observed"]
    out["condition_z_observed"] = tr.nodes["z"]["is_observed"]

    intervened = poutine.do(model, data={"z": torch.tensor(3.0)})
    tr = poutine.trace(intervened).get_trace()
    z, x = tr.nodes["_RETURN"]["value"]
    out["do_returned_z"] = float(z)
    out["do_x_near_3"] = abs(float(x) - 3.0) < 1.0
    out["do_site_names"] = [n for n, s in tr.nodes.items() if s["type"] == "sample"]

    xs = [float(poutine.do(model, data={"z": torch.tensor(-2.0)})()[1]) for _ in range(400)]
    out["do_x_mean"] = sum(xs) / len(xs)

    hidden = poutine.block(model, hide=["z"])
    out["block_hide_sites"] = list(poutine.trace(hidden).get_trace().stochastic_nodes)
    exposed = poutine.block(model, expose=["z"])
    out["block_expose_sites"] = list(poutine.trace(exposed).get_trace().stochastic_nodes)
    with poutine.trace() as tracer:
        with poutine.block(hide_types=["sample"]):
            model()
    out["block_hide_types_sites"] = list(tracer.trace.nodes)

    guide_trace = poutine.trace(guide).get_trace()
    replayed = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace()
    out["replay_z_equal"] = bool(
        torch.equal(replayed.nodes["z"]["value"], guide_trace.nodes["z"]["value"])
    )
    out["replay_x_near_5"] = abs(replayed.nodes["x"]["value"].item() - 5.0) < 1.0

    with poutine.trace() as tracer:
        with poutine.condition(data={"z": torch.tensor(0.25)}):
            model()
    out["condition_ctx_z"] = tracer.trace.nodes["z"]["value"].item()
    return out
