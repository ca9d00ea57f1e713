"""Benchmark NUTS: ppl vs Pyro and NumPyro (when installed), side by side in one run.

Workloads (issue 16's): eight schools, non-centered; Bayesian logistic regression with
N=1000 points and D=10 features. Every backend runs the same model, data, warm-up and
draw counts, one chain, one torch thread (JAX on the CPU). For each run it reports

- ``wall``: the whole ``run`` (warm-up, sampling and any compilation), seconds;
- ``grad/s``: gradient evaluations per second in the sampling phase;
- ``neff/grad``: the smallest effective sample size over the latents, per gradient
  evaluation in the sampling phase (the sampler's statistical efficiency);
- ``neff/s``: that n_eff over the whole wall time.

Gradient evaluations are counted as model calls for ppl and Pyro (each potential-and-
gradient evaluation runs the model once) and from NumPyro's ``num_steps`` extra field.
Rows are medians over ``--seeds`` seeds; the last column is ppl's ratio to each anchor.
``ppl-jit`` is ppl's fast path (``NUTS(..., jit_compile=True)``: energy and gradient in
one traced graph); its gradient evaluations are counted as graph calls. ``ppl-vec4`` and
``NumPyro-vec4`` run 4 chains with ``chain_method="vectorized"`` (one process, one batched
gradient per leapfrog step for all chains); their gradient evaluations count every
chain's (masked chains included: the work done), their n_eff is over all 4 chains, and
their last column is the wall time per draw of one chain against the 1-chain run's
(``ppl-jit``'s, NumPyro's).

Usage:
    python scripts/bench_mcmc.py --quick          # 200 + 200 draws, one seed
    python scripts/bench_mcmc.py                  # 1000 + 4000 draws, 5 seeds
    python scripts/bench_mcmc.py --warmup 500 --samples 500   # the short run
    python scripts/bench_mcmc.py --workloads logreg --backends ppl-vec4   # 4 chains vs 1
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

J = 8
SCHOOL_Y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]
SCHOOL_SIGMA = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]


@dataclass
class Result:
    wall: float
    sample_time: float
    grads: int
    n_eff: float

    @property
    def grad_per_s(self) -> float:
        return self.grads / max(self.sample_time, 1e-9)

    @property
    def neff_per_grad(self) -> float:
        return self.n_eff / max(self.grads, 1)

    @property
    def neff_per_s(self) -> float:
        return self.n_eff / self.wall


def logreg_data(seed: int = 0, n: int = 1000, d: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, generator=g)
    y = torch.bernoulli(torch.sigmoid(x @ w), generator=g)
    return x, y


# --------------------------------------------------------------------------- torch PPLs
def torch_models(pyro, dist) -> dict[str, tuple[Callable, tuple]]:
    """The two models written against a Pyro-style module (ppl or Pyro itself)."""

    def schools(sigma, y=None):
        mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
        tau = pyro.sample("tau", dist.HalfCauchy(5.0))
        with pyro.plate("J", J):
            theta_raw = pyro.sample("theta_raw", dist.Normal(0.0, 1.0))
            theta = mu + tau * theta_raw
            pyro.sample("obs", dist.Normal(theta, sigma), obs=y)

    def logreg(x, y):
        w = pyro.sample("w", dist.Normal(torch.zeros(x.shape[1]), 1.0).to_event(1))
        b = pyro.sample("b", dist.Normal(0.0, 1.0))
        with pyro.plate("N", x.shape[0]):
            pyro.sample("y", dist.Bernoulli(logits=x @ w + b), obs=y)

    x, y = logreg_data()
    return {
        "eight_schools": (schools, (torch.tensor(SCHOOL_SIGMA), torch.tensor(SCHOOL_Y))),
        "logreg": (logreg, (x, y)),
    }


def run_torch_ppl(
    name: str,
    workload: str,
    seed: int,
    warmup: int,
    samples: int,
    jit: bool = False,
    vectorized: int = 0,
) -> Result:
    if name == "ppl":
        import ppl as pyro
        import ppl.distributions as dist
        from ppl.infer.mcmc import MCMC, NUTS
        from ppl.ops.stats import effective_sample_size
    else:
        import pyro  # type: ignore[no-redef]
        import pyro.distributions as dist  # type: ignore[no-redef]
        from pyro.infer.mcmc import MCMC, NUTS  # type: ignore[no-redef]
        from pyro.ops.stats import effective_sample_size  # type: ignore[no-redef]
    model, args = torch_models(pyro, dist)[workload]
    calls = [0]

    def counted(*a):
        calls[0] += 1
        return model(*a)

    restore = None
    restore_batched = None
    if vectorized:
        from ppl.infer.mcmc.vectorized import BatchedPotential, VectorizedChains

        restore_batched = (BatchedPotential.__call__, BatchedPotential.one, VectorizedChains._leaf)

        def counted_batch(self, flat):
            calls[0] += flat.shape[0]
            return restore_batched[0](self, flat)

        def counted_one(self, flat):
            calls[0] += 1
            return restore_batched[1](self, flat)

        def counted_leaf(self, *a):
            out = restore_batched[2](self, *a)
            if self._leaf_graph:  # a NUTS leaf as one graph: one gradient per chain
                calls[0] += self.num_chains
            return out

        BatchedPotential.__call__ = counted_batch  # type: ignore[method-assign]
        BatchedPotential.one = counted_one  # type: ignore[method-assign]
        VectorizedChains._leaf = counted_leaf  # type: ignore[method-assign]
    elif jit:
        # the compiled graph does not run the model: count its evaluations instead
        from ppl.infer.mcmc.fast import CompiledPotential

        restore = (CompiledPotential.grad_and_value, CompiledPotential.flat_grad)

        def counted_grad(self, z):
            calls[0] += 1
            return restore[0](self, z)

        def counted_flat_grad(self, flat):
            calls[0] += 1
            return restore[1](self, flat)

        CompiledPotential.grad_and_value = counted_grad  # type: ignore[method-assign]
        CompiledPotential.flat_grad = counted_flat_grad  # type: ignore[method-assign]

    marks: dict[str, float] = {}
    grads_at: dict[str, int] = {}

    def hook(kernel, params, stage, i):
        if stage.startswith("Warmup") and i == warmup - 1 and "sampling" not in marks:
            marks["sampling"] = time.perf_counter()
            grads_at["sampling"] = calls[0]

    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    chains = {"num_chains": vectorized, "chain_method": "vectorized"} if vectorized else {}
    mcmc = MCMC(
        NUTS(counted, jit_compile=jit),
        num_samples=samples,
        warmup_steps=warmup,
        hook_fn=hook,
        disable_progbar=True,
        **chains,
    )
    start = time.perf_counter()
    try:
        mcmc.run(*args)
    finally:
        if restore is not None:
            CompiledPotential.grad_and_value, CompiledPotential.flat_grad = restore  # type: ignore[method-assign]
        if restore_batched is not None:
            (BatchedPotential.__call__, BatchedPotential.one, VectorizedChains._leaf) = (
                restore_batched  # type: ignore[method-assign]
            )
    end = time.perf_counter()
    draws = mcmc.get_samples(group_by_chain=True)
    n_eff = min(
        float(effective_sample_size(v.reshape(v.shape[0], v.shape[1], -1)).min())
        for v in draws.values()
    )
    sampling = marks.get("sampling", start)
    return Result(end - start, end - sampling, calls[0] - grads_at.get("sampling", 0), n_eff)


# --------------------------------------------------------------------------- NumPyro
def run_numpyro(workload: str, seed: int, warmup: int, samples: int, chains: int = 1) -> Result:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as ndist
    from numpyro.diagnostics import effective_sample_size
    from numpyro.infer import MCMC, NUTS

    def schools(sigma, y=None):
        mu = numpyro.sample("mu", ndist.Normal(0.0, 5.0))
        tau = numpyro.sample("tau", ndist.HalfCauchy(5.0))
        with numpyro.plate("J", J):
            theta_raw = numpyro.sample("theta_raw", ndist.Normal(0.0, 1.0))
            numpyro.sample("obs", ndist.Normal(mu + tau * theta_raw, sigma), obs=y)

    def logreg(x, y):
        w = numpyro.sample("w", ndist.Normal(jnp.zeros(x.shape[1]), 1.0).to_event(1))
        b = numpyro.sample("b", ndist.Normal(0.0, 1.0))
        with numpyro.plate("N", x.shape[0]):
            numpyro.sample("y", ndist.Bernoulli(logits=x @ w + b), obs=y)

    if workload == "eight_schools":
        model, args = schools, (jnp.array(SCHOOL_SIGMA), jnp.array(SCHOOL_Y))
    else:
        x, y = logreg_data()
        model, args = logreg, (jnp.array(x.numpy()), jnp.array(y.numpy()))
    mcmc = MCMC(
        NUTS(model),
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.warmup(jax.random.PRNGKey(seed), *args, extra_fields=("num_steps",))
    jax.block_until_ready(mcmc.last_state)
    sampling = time.perf_counter()
    mcmc.run(mcmc.last_state.rng_key, *args, extra_fields=("num_steps",))
    draws = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(draws)
    end = time.perf_counter()
    grads = int(mcmc.get_extra_fields()["num_steps"].sum())
    n_eff = min(
        float(jnp.min(effective_sample_size(jnp.reshape(v, v.shape[:2] + (-1,)))))
        for v in draws.values()
    )
    return Result(end - start, end - sampling, grads, n_eff)


# --------------------------------------------------------------------------- report
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200 + 200 draws, one seed")
    parser.add_argument("--workloads", nargs="+", default=["eight_schools", "logreg"])
    parser.add_argument(
        "--backends", nargs="+", default=None,
        help="only these rows (a -vec4 row brings its 1-chain row along)",
    )  # fmt: skip
    opts = parser.parse_args()
    if opts.quick:
        opts.warmup, opts.samples, opts.seeds = 200, 200, 1
    torch.set_num_threads(1)
    backends: list[tuple[str, Callable[[str, int], Result]]] = [
        ("ppl", lambda w, s: run_torch_ppl("ppl", w, s, opts.warmup, opts.samples)),
        ("ppl-jit", lambda w, s: run_torch_ppl("ppl", w, s, opts.warmup, opts.samples, True)),
        (
            "ppl-vec4",
            lambda w, s: run_torch_ppl("ppl", w, s, opts.warmup, opts.samples, True, 4),
        ),
    ]
    if importlib.util.find_spec("pyro") is not None:
        backends.append(
            ("Pyro", lambda w, s: run_torch_ppl("pyro", w, s, opts.warmup, opts.samples))
        )
    if importlib.util.find_spec("numpyro") is not None:
        backends.append(("NumPyro", lambda w, s: run_numpyro(w, s, opts.warmup, opts.samples)))
        backends.append(
            ("NumPyro-vec4", lambda w, s: run_numpyro(w, s, opts.warmup, opts.samples, 4))
        )
    if opts.backends is not None:
        keep = set(opts.backends)
        if "ppl-vec4" in keep:
            keep.add("ppl-jit")
        if "NumPyro-vec4" in keep:
            keep.add("NumPyro")
        backends = [(name, run) for name, run in backends if name in keep]
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(
        f"NUTS, 1 chain (vec4: 4), {opts.warmup} warm-up + {opts.samples} draws, "
        f"medians over {opts.seeds} seed(s), 1 torch thread; load average {' '.join(load)}"
    )
    if importlib.util.find_spec("pyro") is None:
        print("(Pyro / NumPyro not installed: pip install -e '.[bench]' to compare)")
    header = (
        f"{'workload':14s} {'backend':12s} {'wall s':>8s} {'grad/s':>9s} "
        f"{'neff/grad':>10s} {'neff/s':>8s}  ppl neff/s ratio"
    )
    print(header)
    for workload in opts.workloads:
        medians: dict[str, dict[str, float]] = {}
        for name, run in backends:  # each row as soon as it is measured (ppl comes first)
            results = [run(workload, seed) for seed in range(opts.seeds)]
            m = medians[name] = {
                key: statistics.median(getattr(r, key) for r in results)
                for key in ("wall", "grad_per_s", "neff_per_grad", "neff_per_s")
            }
            ours = medians["ppl"]["neff_per_s"] if "ppl" in medians else math.nan
            ratio = "" if name == "ppl" else f"{ours / m['neff_per_s']:.2f}x"
            if name == "ppl-jit":  # the fast path against eager ppl
                ratio = f"jit/eager {m['neff_per_s'] / ours:.2f}x"
            if name.endswith("-vec4"):  # wall per draw of one chain: 4 chains vs 1
                single = medians["ppl-jit" if name == "ppl-vec4" else "NumPyro"]["wall"]
                ratio = f"4-chain/1-chain wall {m['wall'] / single:.2f}x"
            print(
                f"{workload:14s} {name:12s} {m['wall']:8.2f} {m['grad_per_s']:9.0f} "
                f"{m['neff_per_grad']:10.4f} {m['neff_per_s']:8.1f}  {ratio}",
                flush=True,
            )


if __name__ == "__main__":
    main()
