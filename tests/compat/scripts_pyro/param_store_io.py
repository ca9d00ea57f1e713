"""``pyro.param`` with constraints, and saving/loading the global param store.

Pyro style: ``pyro.param(name, init, constraint=...)``, ``pyro.get_param_store()``
(``save``, ``load``, ``keys``, ``items``, ``named_parameters``, ``get_state``),
``pyro.clear_param_store()``, reading a param back by name without an init.
"""

import torch

import ppl as pyro
from ppl.distributions import constraints


def make_params():
    a = pyro.param("a", torch.tensor([0.5, 2.0]), constraint=constraints.positive)
    p = pyro.param("p", torch.tensor([0.2, 0.3, 0.5]), constraint=constraints.simplex)
    u = pyro.param("u", torch.tensor(0.25), constraint=constraints.interval(0.0, 1.0))
    m = pyro.param("m", lambda: torch.eye(2) * 3.0)
    return a, p, u, m


def main(path, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    make_params()
    store = pyro.get_param_store()
    out = {
        "keys": sorted(store.keys()),
        "a": pyro.param("a").tolist(),
        "unconstrained_a": dict(store.named_parameters())["a"].tolist(),
        "p_sum": pyro.param("p").sum().item(),
        "a_requires_grad": pyro.param("a").requires_grad,
        "leaf_is_leaf": dict(store.named_parameters())["a"].is_leaf,
    }
    # Pyro users move a param by setting the store entry; the constrained value is kept.
    store["u"] = torch.tensor(0.75)
    store.save(path)
    pyro.clear_param_store()
    out["len_after_clear"] = len(pyro.get_param_store())
    pyro.get_param_store().load(path)
    out["loaded_keys"] = sorted(pyro.get_param_store().keys())
    out["loaded_a"] = pyro.param("a").tolist()
    out["loaded_p"] = pyro.param("p").tolist()
    out["loaded_u"] = pyro.param("u").item()
    out["loaded_m"] = pyro.param("m").tolist()
    # An init given for an existing name is ignored (Pyro semantics).
    out["reinit_ignored_a"] = pyro.param("a", torch.tensor([9.0, 9.0])).tolist()
    state = pyro.get_param_store().get_state()
    out["state_keys"] = sorted(state)
    return out
