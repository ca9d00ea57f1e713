"""Writing guides with ``ppl.contrib.easyguide``: by hand, with ``easy_guide``, amortized.

The flow of Pyro's ``easyguide`` tutorial, in our own code:

1. **Model.** ``full_size`` binary time series of ``num_time_steps`` steps; each
   series has a Gaussian random walk ``z_t ~ N(z_{t-1}, drift)`` observed through
   ``Bernoulli(logits=z_t)``; one global ``drift ~ LogNormal(-1, 0.5)``. The data
   are drawn from the model itself, so the true drift is known.
2. **A hand-written guide.** A ``Delta`` point estimate of ``drift`` and, per
   series, one ``LowRankMultivariateNormal`` over all its states (local means,
   shared rank-3 covariance), sampled as an auxiliary site and unpacked into one
   ``Delta`` per ``state_t``.
3. **The same guide with ``easy_guide``.** ``self.map_estimate("drift")`` replaces
   the Delta boilerplate; ``self.group(match="state_[0-9]*")`` collects the
   per-step sites, whose ``event_shape`` is their concatenated size, and
   ``group.sample`` draws the joint and replays each site from its slice.
4. **Amortized.** The per-series means come from a linear layer of the observed
   series instead of one free parameter per series.

Each guide is trained by SVI on minibatches of 20 series; the mean loss per
observation is printed every ten epochs, with the learned drift. Run
``python tutorial/easyguide.py`` (``--epochs`` sets the number of passes).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import constraints

import ppl as pyro
import ppl.distributions as dist
from ppl.contrib.easyguide import EasyGuide, easy_guide
from ppl.infer import SVI, Trace_ELBO
from ppl.optim import Adam

RANK = 3
FULL_SIZE = 100
NUM_TIME_STEPS = 7
BATCH_SIZE = 20


def model(batch: list[Any], subsample: torch.Tensor, full_size: int) -> torch.Tensor:
    """Random-walk logits with Bernoulli observations; ``batch[t]`` is step ``t`` or None."""
    batch = list(batch)
    drift = pyro.sample("drift", dist.LogNormal(-1.0, 0.5))
    with pyro.plate("data", full_size, subsample=subsample):
        z: Any = 0.0
        for t in range(len(batch)):
            z = pyro.sample(f"state_{t}", dist.Normal(z, drift))
            batch[t] = pyro.sample(f"obs_{t}", dist.Bernoulli(logits=z), obs=batch[t])
    return torch.stack(batch)


def make_data(seed: int = 123456789) -> tuple[torch.Tensor, float]:
    """Series drawn from the model (shape ``(num_time_steps, full_size)``) and their drift."""
    pyro.set_rng_seed(seed)
    trace = pyro.poutine.trace(model).get_trace(
        [None] * NUM_TIME_STEPS, torch.arange(FULL_SIZE), FULL_SIZE
    )
    data = trace.nodes["_RETURN"]["value"]
    return data, float(trace.nodes["drift"]["value"])


def manual_guide(batch: torch.Tensor, subsample: torch.Tensor, full_size: int) -> None:
    """Step 2: the guide written out by hand."""
    num_time_steps = batch.shape[0]
    drift_loc = pyro.param("drift_loc", lambda: torch.tensor(0.1), constraint=constraints.positive)
    pyro.sample("drift", dist.Delta(drift_loc))
    cov_diag = pyro.param(
        "state_cov_diag",
        lambda: torch.full((num_time_steps,), 0.01),
        constraint=constraints.positive,
    )
    cov_factor = pyro.param("state_cov_factor", lambda: torch.randn(num_time_steps, RANK) * 0.01)
    with pyro.plate("data", full_size, subsample=subsample):
        loc = pyro.param(
            "state_loc", lambda: torch.full((full_size, num_time_steps), 0.5), event_dim=1
        )
        states = pyro.sample(
            "states",
            dist.LowRankMultivariateNormal(loc, cov_factor, cov_diag),
            infer={"is_auxiliary": True},
        )
        for t in range(num_time_steps):
            pyro.sample(f"state_{t}", dist.Delta(states[:, t]))


def _shared_covariance(group: Any) -> tuple[torch.Tensor, torch.Tensor]:
    cov_diag = pyro.param(
        "state_cov_diag",
        lambda: torch.full(group.event_shape, 0.01),
        constraint=constraints.positive,
    )
    cov_factor = pyro.param(
        "state_cov_factor", lambda: torch.randn(group.event_shape + (RANK,)) * 0.01
    )
    return cov_diag, cov_factor


def make_guides() -> dict[str, Callable[..., Any]]:
    """The three guides, the EasyGuide ones built fresh (they hold state, e.g. ``nn``)."""

    @easy_guide(model)
    def easy(self: EasyGuide, batch: torch.Tensor, subsample: torch.Tensor, full_size: int) -> None:
        """Step 3: the same guide, with the Delta and the unpacking done by EasyGuide."""
        self.map_estimate("drift")
        group = self.group(match="state_[0-9]*")
        cov_diag, cov_factor = _shared_covariance(group)
        with self.plate("data", full_size, subsample=subsample):
            loc = pyro.param(
                "state_loc", lambda: torch.full((full_size,) + group.event_shape, 0.5), event_dim=1
            )
            group.sample("states", dist.LowRankMultivariateNormal(loc, cov_factor, cov_diag))

    @easy_guide(model)
    def amortized(
        self: EasyGuide, batch: torch.Tensor, subsample: torch.Tensor, full_size: int
    ) -> None:
        """Step 4: the local means predicted from each observed series by a linear layer."""
        num_time_steps = batch.shape[0]
        self.map_estimate("drift")
        group = self.group(match="state_[0-9]*")
        cov_diag, cov_factor = _shared_covariance(group)
        if not hasattr(self, "nn"):
            size = group.event_shape.numel()
            self.nn = torch.nn.Linear(size, size)
            self.nn.weight.data.fill_(1.0 / num_time_steps)
            self.nn.bias.data.fill_(-0.5)
        pyro.module("state_nn", self.nn)
        with self.plate("data", full_size, subsample=subsample):
            loc = self.nn(batch.t())
            group.sample("states", dist.LowRankMultivariateNormal(loc, cov_factor, cov_diag))

    return {"manual": manual_guide, "easy": easy, "amortized": amortized}


def drift_estimate() -> float:
    """The point estimate of ``drift`` in the store, whichever guide wrote it."""
    store = pyro.get_param_store()
    for name in store.keys():
        if name.endswith("drift") or name == "drift_loc":
            return float(store[name].detach())
    raise KeyError("no drift estimate in the param store")


def train(
    guide: Callable[..., Any], data: torch.Tensor, num_epochs: int, seed: int = 123456789
) -> list[float]:
    """SVI over minibatches; returns the mean loss per observation of every epoch."""
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    svi = SVI(model, guide, Adam({"lr": 0.02}), Trace_ELBO())
    full_size = data.size(-1)
    epoch_losses = []
    for _ in range(num_epochs):
        losses = []
        for pos in range(0, full_size, BATCH_SIZE):
            subsample = torch.arange(pos, pos + BATCH_SIZE)
            losses.append(svi.step(data[:, pos : pos + BATCH_SIZE], subsample, full_size=full_size))
        epoch_losses.append(sum(losses) / len(losses) / data.numel())
    return epoch_losses


def run(num_epochs: int = 101) -> dict[str, Any]:
    """The whole tutorial: the data's drift, and each guide's losses and drift estimate."""
    data, true_drift = make_data()
    results: dict[str, Any] = {"true_drift": true_drift}
    for name, guide in make_guides().items():
        results[name] = {"losses": train(guide, data, num_epochs), "drift": drift_estimate()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=101)
    args = parser.parse_args()
    r = run(args.epochs)
    print(f"true drift {r['true_drift']:.4f}")
    for name in ("manual", "easy", "amortized"):
        losses = r[name]["losses"]
        for epoch in range(0, len(losses), 10):
            print(f"{name:9s} epoch {epoch:3d} loss = {losses[epoch]:.4f}")
        print(f"{name:9s} drift estimate {r[name]['drift']:.4f}")


if __name__ == "__main__":
    main()
