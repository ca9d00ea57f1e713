"""Inference with discrete latent variables: enumeration, its shapes, and ``markov``.

The flow of Pyro's enumeration tutorial, each step recording what it shows:

1. **Sampling vs enumerating a guide.** A five-valued ``z`` drawn by ``Trace_ELBO``
   takes one value; with ``config_enumerate(guide, "parallel")`` ``TraceEnum_ELBO``
   sees all five at once (a tensor of shape ``(5,)``), with ``"sequential"`` it reruns
   the model once per value. Model and guide are equal, so each loss is exactly 0.
2. **Enumerating in the model.** A chain ``x -> y -> z`` of three-valued variables is
   enumerated without a guide; each variable gets its own enumeration dim, to the
   left of the last one (shapes ``(3,)``, ``(3, 1)``, ``(3, 1, 1)``), and
   ``infer_discrete`` turns the enumerated model into one that draws from (or, at
   temperature 0, maximises) the exact posterior.
3. **Indexing with enumerated values.** ``Vindex(p)[..., x, y, :]`` broadcasts the
   enumeration dims of ``x`` and ``y`` with the batch dims of ``p``; capturing a plate's
   index (``with plate as i``) lets it index a plated parameter.
4. **A mixture under ``AutoNormal``.** Hiding the discrete site from the autoguide
   leaves it to the ELBO: the assignment has shape ``(10,)`` when sampled and
   ``(3, 1)`` when enumerated.
5. **HMMs and ``markov``.** Without ``markov`` every step of an enumerated chain takes
   a new dim (cost exponential in the length); inside ``pyro.markov`` the dims are
   recycled, alternating between two. Both give the same loss.

Every shape and loss is returned by :func:`run` (and printed by ``main``); the tests
compare them with exact answers and brute-force sums. A second or so on one core.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import torch
from torch.distributions import constraints

import ppl as pyro
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import Trace_ELBO, TraceEnum_ELBO, config_enumerate, infer_discrete
from ppl.infer.autoguide import AutoNormal
from ppl.ops.indexing import Vindex

__all__ = ["run", "main"]


def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


# ---------------------------------------------------------------- 1. guide enumeration
def guide_enumeration() -> dict[str, Any]:
    """Losses and the values of ``z`` seen by the guide under three strategies."""
    seen: list[torch.Tensor] = []

    def model() -> None:
        pyro.sample("z", dist.Categorical(torch.ones(5)))

    def guide() -> None:
        seen.append(pyro.sample("z", dist.Categorical(torch.ones(5))))

    out: dict[str, Any] = {}
    for name, elbo, g in [
        ("sampled", Trace_ELBO(), guide),
        ("parallel", TraceEnum_ELBO(max_plate_nesting=0), config_enumerate(guide, "parallel")),
        (
            "sequential",
            TraceEnum_ELBO(max_plate_nesting=0),
            config_enumerate(guide, "sequential"),
        ),
    ]:
        seen.clear()
        out[f"{name}_loss"] = float(elbo.loss(model, g))
        out[f"{name}_z"] = [z.tolist() for z in seen]
    return out


# ---------------------------------------------------------------- 2. model enumeration
def chain_model(shapes: list[tuple[int, ...]]) -> Any:
    @config_enumerate
    def model() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p = pyro.param("p", torch.randn(3, 3).exp(), constraint=constraints.simplex)
        x = pyro.sample("x", dist.Categorical(p[0]))
        y = pyro.sample("y", dist.Categorical(p[x]))
        z = pyro.sample("z", dist.Categorical(p[y]))
        shapes.extend([_shape(x), _shape(y), _shape(z)])
        return x, y, z

    return model


def model_enumeration() -> dict[str, Any]:
    """Shapes of the chain sampled and enumerated, its loss, and infer_discrete's MAP."""
    pyro.clear_param_store()
    shapes: list[tuple[int, ...]] = []
    model = chain_model(shapes)
    model()
    sampled = list(shapes)
    shapes.clear()
    loss = float(TraceEnum_ELBO(max_plate_nesting=0).loss(model, lambda: None))
    enumerated = list(shapes)
    shapes.clear()
    x, y, z = infer_discrete(model, first_available_dim=-1)()
    posterior_sample = [int(x), int(y), int(z)]
    x, y, z = infer_discrete(model, first_available_dim=-1, temperature=0)()
    shapes.clear()
    p = pyro.param("p").detach()
    return {
        "chain_sampled_shapes": sampled,
        "chain_enumerated_shapes": enumerated,
        "chain_loss": loss,
        "chain_sample": posterior_sample,
        "chain_map": [int(x), int(y), int(z)],
        "chain_p": p,
    }


# ------------------------------------------------------------------------ 3. Vindex
def vindex_shapes() -> dict[str, Any]:
    """Shapes around ``Vindex`` with two enumerated indices, sampled and enumerated."""
    shapes: list[tuple[int, ...]] = []

    @config_enumerate
    def model() -> None:
        p = pyro.param("p", torch.randn(5, 4, 3, 2).exp(), constraint=constraints.simplex)
        x = pyro.sample("x", dist.Categorical(torch.ones(4)))
        y = pyro.sample("y", dist.Categorical(torch.ones(3)))
        with pyro.plate("z_plate", 5):
            p_xy = Vindex(p)[..., x, y, :]
            z = pyro.sample("z", dist.Categorical(p_xy))
        shapes.extend([_shape(p), _shape(x), _shape(y), _shape(p_xy), _shape(z)])

    pyro.clear_param_store()
    model()
    sampled = list(shapes)
    shapes.clear()
    loss = float(TraceEnum_ELBO(max_plate_nesting=1).loss(model, lambda: None))
    out = {"vindex_sampled_shapes": sampled, "vindex_enumerated_shapes": list(shapes)}
    out["vindex_loss"] = loss

    # a plate index captured with ``as`` and reshaped to broadcast against the data plate
    shapes.clear()

    @config_enumerate
    def plated_model() -> None:
        data_plate = pyro.plate("data_plate", 6, dim=-1)
        feature_plate = pyro.plate("feature_plate", 5, dim=-2)
        component_plate = pyro.plate("component_plate", 4, dim=-1)
        with feature_plate, component_plate:
            p = pyro.sample("p", dist.Dirichlet(torch.ones(3)))
        with data_plate:
            c = pyro.sample("c", dist.Categorical(torch.ones(4)))
            with feature_plate as vdx:
                pc = Vindex(p)[vdx[..., None], c, :]
                x = pyro.sample("x", dist.Categorical(pc), obs=torch.zeros(5, 6, dtype=torch.long))
        shapes.extend([_shape(p), _shape(c), _shape(vdx), _shape(pc), _shape(x)])

    def plated_guide() -> None:
        with pyro.plate("feature_plate", 5, dim=-2), pyro.plate("component_plate", 4, dim=-1):
            pyro.sample("p", dist.Dirichlet(torch.ones(3)))

    plated_model()
    out["plate_index_sampled_shapes"] = list(shapes)
    shapes.clear()
    TraceEnum_ELBO(max_plate_nesting=2).loss(plated_model, plated_guide)
    out["plate_index_enumerated_shapes"] = list(shapes)
    return out


# ------------------------------------------------------------- 4. mixture + AutoNormal
def mixture_shapes() -> dict[str, Any]:
    """The assignment's shape and the likelihood's batch shape, sampled and enumerated."""
    shapes: list[tuple[int, ...]] = []

    @config_enumerate
    def model(data: torch.Tensor, num_components: int = 3) -> None:
        p = pyro.sample("p", dist.Dirichlet(0.5 * torch.ones(num_components)))
        scale = pyro.sample("scale", dist.LogNormal(0.0, num_components))
        with pyro.plate("components", num_components):
            loc = pyro.sample("loc", dist.Normal(0.0, 10.0))
        with pyro.plate("data", len(data)):
            x = pyro.sample("x", dist.Categorical(p))
            likelihood = dist.Normal(loc[x], scale)
            pyro.sample("obs", likelihood, obs=data)
        shapes.extend([_shape(x), tuple(likelihood.batch_shape)])

    pyro.clear_param_store()
    guide = AutoNormal(poutine.block(model, hide=["x", "data"]))
    data = torch.randn(10)
    model(data)
    sampled = list(shapes)
    shapes.clear()
    loss = float(TraceEnum_ELBO(max_plate_nesting=1).loss(model, guide, data))
    return {
        "mixture_sampled_shapes": sampled,
        "mixture_enumerated_shapes": list(shapes[-2:]),
        "mixture_loss": loss,
    }


# ----------------------------------------------------------------------- 5. HMM + markov
def hmm_model(
    data: torch.Tensor, data_dim: int, shapes: list[tuple[int, ...]], markov: bool
) -> None:
    hidden_dim = 10
    with pyro.plate("hidden_state", hidden_dim):
        transition = pyro.sample("transition", dist.Dirichlet(0.5 * torch.ones(hidden_dim)))
        emission = pyro.sample("emission", dist.Dirichlet(0.5 * torch.ones(data_dim)))
    x: Any = 0  # the initial state
    steps = pyro.markov(enumerate(data)) if markov else enumerate(data)
    for t, y in steps:
        x = pyro.sample(f"x_{t}", dist.Categorical(transition[x]), infer={"enumerate": "parallel"})
        pyro.sample(f"y_{t}", dist.Categorical(emission[x]), obs=y)
        shapes.append(_shape(x))


def hmm_losses(num_steps: int = 10, data_dim: int = 4) -> dict[str, Any]:
    """Enumerated shapes and losses of the HMM with and without ``markov`` (same guide draw)."""
    data = dist.Categorical(torch.ones(num_steps, data_dim)).sample()
    shapes: list[tuple[int, ...]] = []
    pyro.clear_param_store()
    guide = AutoNormal(
        poutine.block(hmm_model, expose=["transition", "emission"])  # type: ignore[arg-type]
    )
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    out: dict[str, Any] = {"hmm_data": data}
    for markov in (False, True):
        shapes.clear()
        with pyro.poutine.seed(rng_seed=1):  # the same draw of the globals both times
            loss = float(elbo.loss(hmm_model, guide, data, data_dim, shapes, markov))
        key = "markov" if markov else "plain"
        out[f"hmm_{key}_shapes"] = list(shapes[-num_steps:])
        out[f"hmm_{key}_loss"] = loss
    with pyro.poutine.seed(rng_seed=1):
        globals_ = guide(data, data_dim, [], True)
    out["hmm_transition"] = globals_["transition"].detach()
    out["hmm_emission"] = globals_["emission"].detach()
    return out


def brute_force_chain_map(p: torch.Tensor) -> list[int]:
    """argmax over all 27 assignments of ``p[0, x] p[x, y] p[y, z]``."""
    best = max(
        itertools.product(range(3), repeat=3),
        key=lambda v: float(p[0, v[0]] * p[v[0], v[1]] * p[v[1], v[2]]),
    )
    return list(best)


def run(seed: int = 0) -> dict[str, Any]:
    """The whole tutorial; returns every shape and loss it shows, by name."""
    pyro.set_rng_seed(seed)
    results: dict[str, Any] = {}
    for step in (guide_enumeration, model_enumeration, vindex_shapes, mixture_shapes, hmm_losses):
        results.update(step())
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = run(args.seed)
    for name, value in results.items():
        if not isinstance(value, torch.Tensor):
            print(f"{name:32s} {value}")
    return results


if __name__ == "__main__":
    main()
