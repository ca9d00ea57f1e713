"""Tensor shapes in ppl: batch and event shapes, plates, subsampling, enumeration.

The flow of Pyro's tensor-shapes tutorial, with every shape it asserts recorded:

1. **Distribution shapes.** ``sample()`` has shape ``batch_shape + event_shape`` and
   ``log_prob`` has shape ``batch_shape``; ``expand`` grows the batch shape and
   ``to_event(n)`` moves the rightmost ``n`` batch dims into the event.
2. **Plates.** Inside ``plate(..., dim=d)`` a site's batch dim ``d`` is the plate; nested
   plates at ``dim=-2`` and ``-3`` give values of shape ``(3, 1)``, ``(2, 1, 1)`` ...
   ``Trace.format_shapes()`` prints the table of every site's shapes.
3. **Subsampling.** ``plate("data", 100, subsample_size=10) as ind`` yields the indices
   of a minibatch; the log-likelihood is scaled by ``100 / 10``.
4. **Enumeration.** With ``max_plate_nesting=2`` each enumerated site gets a fresh
   dim left of the plates (``a`` at ``-3``, ``b`` at ``-4`` ...), unexpanded; a
   sampled site depending on one keeps that dim.
5. **Writing shape-agnostic code.** A sparse-pixel model that broadcasts and indexes
   with ``...`` runs with and without enumeration, and inside a ``num_particles``
   plate whichever way its Bernoullis are expanded.

:func:`run` returns the recorded shapes, the two shape tables and the losses; the
tests compare the shapes with the tutorial's, and the enumerated losses with their
closed forms. Under a second on one core.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import constraints

import ppl as pyro
import ppl.poutine as poutine
from ppl.distributions import Bernoulli, Categorical, MultivariateNormal, Normal
from ppl.distributions.util import broadcast_shape
from ppl.infer import ELBO, Trace_ELBO, TraceEnum_ELBO, config_enumerate

Shapes = dict[str, tuple[int, ...]]


def _s(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, torch.Tensor) else tuple(x)


def check_loss(model: Callable[[], Any], guide: Callable[[], Any], loss: ELBO) -> float:
    """One loss evaluation on a fresh param store (the tutorial's ``test_model``)."""
    pyro.clear_param_store()
    return float(loss.loss(model, guide))


# ------------------------------------------------------------ 1. distribution shapes
def distribution_shapes() -> dict[str, Shapes]:
    """``batch_shape``, ``event_shape``, sample and log_prob shapes of five distributions."""
    dists = {
        "scalar": Bernoulli(0.5),
        "batched": Bernoulli(0.5 * torch.ones(3, 4)),
        "expanded": Bernoulli(torch.tensor([0.1, 0.2, 0.3, 0.4])).expand([3, 4]),
        "mvn": MultivariateNormal(torch.zeros(3), torch.eye(3, 3)),
        "to_event": Bernoulli(0.5 * torch.ones(3, 4)).to_event(1),
    }
    out = {}
    for name, d in dists.items():
        x = d.sample()
        out[name] = {
            "batch_shape": _s(d.batch_shape),
            "event_shape": _s(d.event_shape),
            "sample": _s(x),
            "log_prob": _s(d.log_prob(x)),
        }
    return out


# ----------------------------------------------------------------------- 2. plates
def model1(shapes: Shapes) -> None:
    a = pyro.sample("a", Normal(0, 1))
    b = pyro.sample("b", Normal(torch.zeros(2), 1).to_event(1))
    with pyro.plate("c_plate", 2):
        c = pyro.sample("c", Normal(torch.zeros(2), 1))
    with pyro.plate("d_plate", 3):
        d = pyro.sample("d", Normal(torch.zeros(3, 4, 5), 1).to_event(2))
    x_axis = pyro.plate("x_axis", 3, dim=-2)
    y_axis = pyro.plate("y_axis", 2, dim=-3)
    with x_axis:
        x = pyro.sample("x", Normal(0, 1))
    with y_axis:
        y = pyro.sample("y", Normal(0, 1))
    with x_axis, y_axis:
        xy = pyro.sample("xy", Normal(0, 1))
        z = pyro.sample("z", Normal(0, 1).expand([5]).to_event(1))
    shapes.update(a=_s(a), b=_s(b), c=_s(c), d=_s(d), x=_s(x), y=_s(y), xy=_s(xy), z=_s(z))


# ------------------------------------------------------------------- 3. subsampling
def model2(data: torch.Tensor, record: dict[str, Any]) -> None:
    mean = pyro.param("mean", torch.zeros(len(data)))
    with pyro.plate("data", len(data), subsample_size=10) as ind:
        batch = data[ind]
        x = pyro.sample("x", Normal(mean[ind], 1), obs=batch)
    record.update(ind=ind, x=_s(x))


# ------------------------------------------------------------------ 4. enumeration
def make_model3(shapes: Shapes) -> Callable[[], None]:
    @config_enumerate
    def model3() -> None:
        p = pyro.param("p", torch.arange(6.0) / 6)
        locs = pyro.param("locs", torch.tensor([-1.0, 1.0]))
        a = pyro.sample("a", Categorical(torch.ones(6) / 6))
        b = pyro.sample("b", Bernoulli(p[a]))  # depends on a
        with pyro.plate("c_plate", 4):
            c = pyro.sample("c", Bernoulli(0.3))
            with pyro.plate("d_plate", 5):
                d = pyro.sample("d", Bernoulli(0.4))
                e_loc = locs[d.long()].unsqueeze(-1)
                e_scale = torch.arange(1.0, 8.0)
                e = pyro.sample("e", Normal(e_loc, e_scale).to_event(1))  # depends on d
        shapes.update(
            a=_s(a), b=_s(b), c=_s(c), d=_s(d), e=_s(e), e_loc=_s(e_loc), e_scale=_s(e_scale)
        )

    return model3


# -------------------------------------------------------- 5. shape-agnostic models
WIDTH, HEIGHT = 8, 10
SPARSE_PIXELS = torch.LongTensor([[3, 2], [3, 5], [3, 9], [7, 1]])


def dense_pixels_like(p: torch.Tensor) -> torch.Tensor:
    """The observed image, broadcast to ``p``'s leading (enumeration) dims."""
    dense = p.new_zeros(broadcast_shape(p.shape, (WIDTH, HEIGHT)))
    for x, y in SPARSE_PIXELS:
        dense[..., x, y] = 1  # ``...`` leaves room for any dims on the left
    return dense


def pixel_fun(observe: bool, shapes: Shapes) -> None:
    p_x = pyro.param("p_x", torch.tensor(0.1), constraint=constraints.unit_interval)
    p_y = pyro.param("p_y", torch.tensor(0.1), constraint=constraints.unit_interval)
    x_axis = pyro.plate("x_axis", WIDTH, dim=-2)
    y_axis = pyro.plate("y_axis", HEIGHT, dim=-1)
    with x_axis:
        x_active = pyro.sample("x_active", Bernoulli(p_x))
    with y_axis:
        y_active = pyro.sample("y_active", Bernoulli(p_y))
    p = 0.1 + 0.5 * x_active * y_active
    dense = dense_pixels_like(p)
    shapes.update(x_active=_s(x_active), y_active=_s(y_active), p=_s(p), dense=_s(dense))
    with x_axis, y_axis:
        if observe:
            pyro.sample("pixels", Bernoulli(p), obs=dense)


SAMPLE_FNS = ("no_broadcasting", "full_broadcasting", "partial_broadcasting")


def particle_fun(observe: bool, how: str, shapes: Shapes, num_particles: int = 100) -> None:
    p_x = pyro.param("p_x", torch.tensor(0.1), constraint=constraints.unit_interval)
    p_y = pyro.param("p_y", torch.tensor(0.1), constraint=constraints.unit_interval)
    x_axis = pyro.plate("x_axis", WIDTH, dim=-2)
    y_axis = pyro.plate("y_axis", HEIGHT, dim=-1)
    with pyro.plate("num_particles", num_particles, dim=-3):
        if how == "no_broadcasting":
            dx, dy = (
                Bernoulli(p_x).expand([num_particles, WIDTH, 1]),
                Bernoulli(p_y).expand([num_particles, 1, HEIGHT]),
            )
        elif how == "partial_broadcasting":
            dx, dy = Bernoulli(p_x).expand([WIDTH, 1]), Bernoulli(p_y).expand([HEIGHT])
        else:
            dx, dy = Bernoulli(p_x), Bernoulli(p_y)
        with x_axis:
            x_active = pyro.sample("x_active", dx)
        with y_axis:
            y_active = pyro.sample("y_active", dy)
        p = 0.1 + 0.5 * x_active * y_active
        dense = dense_pixels_like(p)
        shapes.update(x_active=_s(x_active), y_active=_s(y_active), p=_s(p), dense=_s(dense))
        with x_axis, y_axis:
            if observe:
                pyro.sample("pixels", Bernoulli(p), obs=dense)


def pixel_expected_loss(p_x: float = 0.1, p_y: float = 0.1) -> float:
    """The exact enumerated loss of the pixel model: ``-E_q log p(pixels | x, y)``.

    Guide and model share the priors of ``x_active`` and ``y_active``, so only the
    likelihood is left; each pixel is on with probability ``0.6`` when both its row
    and column are active (probability ``p_x p_y``) and ``0.1`` otherwise.
    """
    both = p_x * p_y
    on = len(SPARSE_PIXELS)
    off = WIDTH * HEIGHT - on
    ll_on = both * math.log(0.6) + (1 - both) * math.log(0.1)
    ll_off = both * math.log(0.4) + (1 - both) * math.log(0.9)
    return -(on * ll_on + off * ll_off)


def run(seed: int = 0) -> dict[str, Any]:
    """The whole tutorial; returns every recorded shape, both tables and the losses."""
    pyro.set_rng_seed(seed)
    out: dict[str, Any] = {"distributions": distribution_shapes()}

    shapes: Shapes = {}
    out["model1_loss"] = check_loss(lambda: model1(shapes), lambda: model1({}), Trace_ELBO())
    out["model1_shapes"] = dict(shapes)
    trace = poutine.trace(model1).get_trace({})
    trace.compute_log_prob()
    out["model1_table"] = trace.format_shapes()

    data = torch.arange(100.0)
    record: dict[str, Any] = {}
    out["model2_loss"] = check_loss(lambda: model2(data, record), lambda: None, Trace_ELBO())
    out["model2_ind"], out["model2_x"] = record["ind"], record["x"]

    shapes = {}
    model3 = make_model3(shapes)
    out["model3_loss"] = check_loss(model3, model3, TraceEnum_ELBO(max_plate_nesting=2))
    out["model3_shapes"] = dict(shapes)
    trace = poutine.trace(poutine.enum(model3, first_available_dim=-3)).get_trace()
    trace.compute_log_prob()
    out["model3_table"] = trace.format_shapes()

    for enumerated in (False, True):
        key = "enumerated" if enumerated else "sampled"
        seen: Shapes = {}
        guide = functools.partial(pixel_fun, False, seen)
        elbo: ELBO = TraceEnum_ELBO(max_plate_nesting=2) if enumerated else Trace_ELBO()
        out[f"pixels_{key}_loss"] = check_loss(
            functools.partial(pixel_fun, True, {}),
            config_enumerate(guide, "parallel") if enumerated else guide,
            elbo,
        )
        out[f"pixels_{key}_shapes"] = seen

    for how in SAMPLE_FNS:
        seen = {}
        out[f"particles_{how}_loss"] = check_loss(
            functools.partial(particle_fun, True, how, {}),
            config_enumerate(functools.partial(particle_fun, False, how, seen)),
            TraceEnum_ELBO(max_plate_nesting=3),
        )
        out[f"particles_{how}_shapes"] = seen
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = run(args.seed)
    for name, table in out["distributions"].items():
        print(f"{name:10s} {table}")
    print(out["model1_table"])
    print(out["model3_table"])
    for name, value in out.items():
        if name.endswith("_loss") or name.endswith("_shapes"):
            print(f"{name:36s} {value}")
    return out


if __name__ == "__main__":
    main()
