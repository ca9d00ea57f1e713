"""Benchmark SVI steps/s: ppl vs a hand-written PyTorch loop (vs Pyro/NumPyro if installed).

Every implementation runs the same model, guide, optimizer (Adam), data and number of
particles; the hand-written loop computes the same single-sample ELBO estimate with
``torch.distributions`` objects and ``torch.optim.Adam`` (the floor). Each timing is
the median of ``--repeats`` (>= 3) repeats, interleaved across implementations so
that machine noise hits all of them alike. ``torch.set_num_threads(1)`` is used
unless ``--threads`` says otherwise: with 2 threads, any other busy process slows
small-tensor torch work badly.

ppl runs eagerly (``Trace_ELBO``, ``compile=False``), with ``JitTrace_ELBO``
(torch.jit.trace), ``CompiledTrace_ELBO`` (forward under torch.compile, autograd
backward) and ``SVI(..., compile=True)`` (loss and gradients in one compiled graph,
fused Adam) and ``compile={"steps_per_call": 16}`` (16 steps, the Adam update included,
per compiled call; one host read per call). The "vs Pyro" column divides each ppl row by
Pyro's eager ``Trace_ELBO`` with the same validation setting. The last section times
what a user gets by default: one ``svi.run(n)`` of a freshly built ``SVI`` with no
option (``compile="auto"``, which compiles only a run predicted to take >= 15 s
eagerly), wall time including any compile, beside the same run eagerly and in Pyro
(``--only default``).

"ppl default, long run" is the no-option default in runs long enough to compile (the
15 s threshold set to 0): 16 steps per compiled call once it switches. NumPyro rows
jit ``svi.update`` (same model, guide and optimizer) and read the loss every step.

Workloads: ``coin`` (seed 002's coin flip, 1 particle), ``coin32`` (32 vectorized
particles), ``logreg`` (Bayesian logistic regression, N=40000, D=100, minibatch 500 by
plate subsampling, mean-field Normal guide; ``--autonormal`` uses AutoNormal),
``automvn`` (seed 002's rotated 2-D Gaussian factor over two ImproperUniform sites,
AutoMultivariateNormal guide, Adam 5e-4) and ``heavy`` (the same regression at
N=200000, D=256, full batch). ``compiletime`` prints the first compiled call's seconds
(ppl ``compile=True`` and ``steps_per_call=16`` with a cold and a warm inductor cache,
NumPyro's first jitted step), each in a fresh process; ``cold`` the wall time of a new
user's ``svi.run(1000)`` on the coin flip in a fresh process with a cold cache, vs Pyro.

Usage:
    python scripts/bench_svi.py            # full run
    python scripts/bench_svi.py --quick    # a few seconds per workload (no heavy,
                                           # compiletime, cold unless named in --only)
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import time
from collections.abc import Callable

import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.compile import CompiledTrace_ELBO, JitTrace_ELBO
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.optim import Adam

LR = 0.0005
COIN_DATA = torch.cat([torch.ones(12), torch.zeros(8)])

Runner = Callable[[int], None]  # run n steps
_last_reason = ""  # the automatic compile mode's decision in the last coin run


# --------------------------------------------------------------------------- coin flip
def ppl_coin(
    num_particles: int,
    validation: bool,
    elbo_class: type = Trace_ELBO,
    compile: bool | str | dict = False,
) -> Runner:
    def model(data):
        f = ppl.sample("latent_fairness", dist.Uniform(0.0, 1.0))
        with ppl.plate("N", data.shape[0]):
            ppl.sample("obs", dist.Bernoulli(f), obs=data)

    def guide(data):
        a = ppl.param("alpha_q", torch.tensor(10.0), constraint=constraints.positive)
        b = ppl.param("beta_q", torch.tensor(10.0), constraint=constraints.positive)
        ppl.sample("latent_fairness", dist.Beta(a, b))

    ppl.clear_param_store()
    options = {"ignore_jit_warnings": True} if elbo_class is JitTrace_ELBO else {}
    elbo = elbo_class(num_particles=num_particles, vectorize_particles=num_particles > 1, **options)
    svi = SVI(model, guide, Adam({"lr": LR}), elbo, compile=compile)

    def run(n: int) -> None:
        global _last_reason
        with ppl.validation_enabled(validation):
            svi.run(n, COIN_DATA, progress_bar=False)
        _last_reason = getattr(svi.estimator, "reason", "")

    return run


def torch_coin(num_particles: int) -> Runner:
    ua = torch.tensor(10.0).log().requires_grad_()
    ub = torch.tensor(10.0).log().requires_grad_()
    opt = torch.optim.Adam([ua, ub], lr=LR)
    data = COIN_DATA
    shape = (num_particles, 1) if num_particles > 1 else ()
    prior = torch.distributions.Uniform(0.0, 1.0, validate_args=False)

    def run(n: int) -> None:
        for _ in range(n):
            q = torch.distributions.Beta(ua.exp(), ub.exp(), validate_args=False)
            f = q.rsample(shape)
            lik = torch.distributions.Bernoulli(f, validate_args=False)
            elbo = prior.log_prob(f).sum() + lik.log_prob(data).sum() - q.log_prob(f).sum()
            loss = -elbo / num_particles
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            float(loss.detach())

    return run


def pyro_coin(num_particles: int, validation: bool, jit: bool = False) -> Runner | None:
    try:
        import pyro
        import pyro.distributions as pdist
        from pyro.distributions import constraints as pcon
    except ImportError:
        return None

    def model(data):
        f = pyro.sample("latent_fairness", pdist.Uniform(0.0, 1.0))
        with pyro.plate("N", data.shape[0]):
            pyro.sample("obs", pdist.Bernoulli(f), obs=data)

    def guide(data):
        a = pyro.param("alpha_q", torch.tensor(10.0), constraint=pcon.positive)
        b = pyro.param("beta_q", torch.tensor(10.0), constraint=pcon.positive)
        pyro.sample("latent_fairness", pdist.Beta(a, b))

    pyro.clear_param_store()
    elbo_class = pyro.infer.JitTrace_ELBO if jit else pyro.infer.Trace_ELBO
    options = {"ignore_jit_warnings": True} if jit else {}
    elbo = elbo_class(
        num_particles=num_particles,
        vectorize_particles=num_particles > 1,
        max_plate_nesting=1,
        **options,
    )
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": LR}), elbo)

    def run(n: int) -> None:
        pyro.enable_validation(validation)
        for _ in range(n):
            svi.step(COIN_DATA)

    return run


# --------------------------------------------------------------------------- regression
def make_regression(n: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, generator=g) / math.sqrt(d)
    y = torch.bernoulli(torch.sigmoid(x @ w), generator=g)
    return x, y


def ppl_logreg(
    x,
    y,
    batch: int | None,
    validation: bool,
    autonormal: bool,
    elbo_class: type = Trace_ELBO,
    compile: bool | dict = False,
) -> Runner:
    n, d = x.shape

    def model(x, y):
        w = ppl.sample("w", dist.Normal(torch.zeros(d), 1.0).to_event(1))
        b = ppl.sample("b", dist.Normal(0.0, 1.0))
        with ppl.plate("data", n, subsample_size=batch) as idx:
            xb, yb = (x[idx], y[idx]) if batch else (x, y)  # no full-size gather copy
            ppl.sample("y", dist.Bernoulli(logits=xb @ w + b), obs=yb)

    def guide(x, y):
        w_loc = ppl.param("w_loc", torch.zeros(d))
        w_scale = ppl.param("w_scale", torch.full((d,), 0.1), constraint=constraints.positive)
        b_loc = ppl.param("b_loc", torch.tensor(0.0))
        b_scale = ppl.param("b_scale", torch.tensor(0.1), constraint=constraints.positive)
        ppl.sample("w", dist.Normal(w_loc, w_scale).to_event(1))
        ppl.sample("b", dist.Normal(b_loc, b_scale))

    if autonormal:
        from ppl.infer.autoguide import AutoNormal

        guide = AutoNormal(model)  # noqa: F811
    ppl.clear_param_store()
    svi = SVI(model, guide, Adam({"lr": 0.01}), elbo_class(), compile=compile)

    def run(k: int) -> None:
        with ppl.validation_enabled(validation):
            svi.run(k, x, y, progress_bar=False)

    return run


def torch_logreg(x, y, batch: int | None) -> Runner:
    n, d = x.shape
    w_loc = torch.zeros(d, requires_grad=True)
    w_uscale = torch.full((d,), 0.1).log().requires_grad_()
    b_loc = torch.tensor(0.0, requires_grad=True)
    b_uscale = torch.tensor(0.1).log().requires_grad_()
    opt = torch.optim.Adam([w_loc, w_uscale, b_loc, b_uscale], lr=0.01)
    scale = n / batch if batch else 1.0
    zeros = torch.zeros(d)
    td = torch.distributions

    def run(k: int) -> None:
        for _ in range(k):
            idx = torch.randperm(n)[:batch] if batch else None
            xb, yb = (x[idx], y[idx]) if batch else (x, y)
            qw = td.Independent(td.Normal(w_loc, w_uscale.exp(), validate_args=False), 1)
            qb = td.Normal(b_loc, b_uscale.exp(), validate_args=False)
            w, b = qw.rsample(), qb.rsample()
            pw = td.Independent(td.Normal(zeros, 1.0, validate_args=False), 1)
            pb = td.Normal(0.0, 1.0, validate_args=False)
            lik = td.Bernoulli(logits=xb @ w + b, validate_args=False)
            elbo = pw.log_prob(w) + pb.log_prob(b) + scale * lik.log_prob(yb).sum()
            elbo = elbo - qw.log_prob(w) - qb.log_prob(b)
            loss = -elbo
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            float(loss.detach())

    return run


def pyro_logreg(
    x, y, batch: int | None, validation: bool, autonormal: bool = False
) -> Runner | None:
    try:
        import pyro
        import pyro.distributions as pdist
        from pyro.distributions import constraints as pcon
    except ImportError:
        return None
    n, d = x.shape

    def model(x, y):
        w = pyro.sample("w", pdist.Normal(torch.zeros(d), 1.0).to_event(1))
        b = pyro.sample("b", pdist.Normal(0.0, 1.0))
        with pyro.plate("data", n, subsample_size=batch) as idx:
            xb, yb = (x[idx], y[idx]) if batch else (x, y)  # no full-size gather copy
            pyro.sample("y", pdist.Bernoulli(logits=xb @ w + b), obs=yb)

    def guide(x, y):
        w_loc = pyro.param("w_loc", torch.zeros(d))
        w_scale = pyro.param("w_scale", torch.full((d,), 0.1), constraint=pcon.positive)
        b_loc = pyro.param("b_loc", torch.tensor(0.0))
        b_scale = pyro.param("b_scale", torch.tensor(0.1), constraint=pcon.positive)
        pyro.sample("w", pdist.Normal(w_loc, w_scale).to_event(1))
        pyro.sample("b", pdist.Normal(b_loc, b_scale))

    if autonormal:
        guide = pyro.infer.autoguide.AutoNormal(model)  # noqa: F811
    pyro.clear_param_store()
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), pyro.infer.Trace_ELBO())

    def run(k: int) -> None:
        pyro.enable_validation(validation)
        for _ in range(k):
            svi.step(x, y)

    return run


def numpyro_coin(num_particles: int) -> Runner | None:
    """NumPyro's SVI on the same coin flip: ``jax.jit(svi.update)``, one host read per step."""
    try:
        import jax
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as nd
        from numpyro.distributions import constraints as ncon
        from numpyro.infer import SVI as NumPyroSVI
        from numpyro.infer import Trace_ELBO as NumPyroTraceELBO
    except ImportError:
        return None
    data = jnp.asarray(COIN_DATA.numpy())

    def model(data):
        f = numpyro.sample("latent_fairness", nd.Uniform(0.0, 1.0))
        with numpyro.plate("N", data.shape[0]):
            numpyro.sample("obs", nd.Bernoulli(f), obs=data)

    def guide(data):
        a = numpyro.param("alpha_q", 10.0, constraint=ncon.positive)
        b = numpyro.param("beta_q", 10.0, constraint=ncon.positive)
        numpyro.sample("latent_fairness", nd.Beta(a, b))

    elbo = NumPyroTraceELBO(num_particles=num_particles, vectorize_particles=num_particles > 1)
    svi = NumPyroSVI(model, guide, numpyro.optim.Adam(LR), elbo)
    state = [svi.init(jax.random.PRNGKey(0), data)]
    update = jax.jit(svi.update)

    def run(n: int) -> None:
        s = state[0]
        for _ in range(n):
            s, loss = update(s, data)
            float(loss)
        state[0] = s

    return run


# --------------------------------------------------------------------------- seed-002 AutoMVN
MVN_LR = 5e-4
MVN_SIG1, MVN_SIG2, MVN_THETA = 1.0, 3.0, math.pi / 4


def mvn_log_fac(x, y, exp=torch.exp, log=torch.log):
    """Seed 002's ``log(factor)``: a 2-D Gaussian rotated 45 degrees (sig1=1, sig2=3)."""
    c, s = math.cos(MVN_THETA), math.sin(MVN_THETA)
    log_fac = -0.5 * (((c * x - s * y) / MVN_SIG1) ** 2 + ((s * x + c * y) / MVN_SIG2) ** 2)
    return log(exp(log_fac))  # as the seed writes it: torch.log(factor(x, y))


def ppl_automvn(validation: bool, compile: bool | str | dict = False) -> Runner:
    from ppl.infer.autoguide import AutoMultivariateNormal

    def model():
        x = ppl.sample("x", dist.ImproperUniform(constraints.real, (), ()))
        y = ppl.sample("y", dist.ImproperUniform(constraints.real, (), ()))
        ppl.factor("logfac", mvn_log_fac(x, y))

    ppl.clear_param_store()
    svi = SVI(
        model, AutoMultivariateNormal(model), Adam({"lr": MVN_LR}), Trace_ELBO(), compile=compile
    )

    def run(n: int) -> None:
        with ppl.validation_enabled(validation):
            svi.run(n, progress_bar=False)

    return run


def torch_automvn() -> Runner:
    loc = torch.zeros(2, requires_grad=True)
    scale_u = torch.full((2,), 0.1).expm1().log().requires_grad_()  # softplus^-1(0.1)
    lower = torch.zeros(2, 2, requires_grad=True)  # strictly lower part of a unit tril
    opt = torch.optim.Adam([loc, scale_u, lower], lr=MVN_LR)
    eye = torch.eye(2)
    td = torch.distributions

    def run(n: int) -> None:
        for _ in range(n):
            tril = (lower.tril(-1) + eye) * torch.nn.functional.softplus(scale_u)[:, None]
            q = td.MultivariateNormal(loc, scale_tril=tril, validate_args=False)
            z = q.rsample()
            loss = q.log_prob(z) - mvn_log_fac(z[0], z[1])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            float(loss.detach())

    return run


def pyro_automvn(validation: bool) -> Runner | None:
    try:
        import pyro
        import pyro.distributions as pdist
        from pyro.distributions import constraints as pcon
    except ImportError:
        return None

    def model():
        x = pyro.sample("x", pdist.ImproperUniform(pcon.real, (), ()))
        y = pyro.sample("y", pdist.ImproperUniform(pcon.real, (), ()))
        pyro.factor("logfac", mvn_log_fac(x, y))

    pyro.clear_param_store()
    # Pyro's default init_to_median samples the site, which ImproperUniform cannot do
    init = pyro.infer.autoguide.init_to_value(
        values={"x": torch.tensor(0.0), "y": torch.tensor(0.0)}
    )
    guide = pyro.infer.autoguide.AutoMultivariateNormal(model, init_loc_fn=init)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": MVN_LR}), pyro.infer.Trace_ELBO())

    def run(n: int) -> None:
        pyro.enable_validation(validation)
        for _ in range(n):
            svi.step()

    return run


def _numpyro_runner(svi, *data) -> Runner:
    import jax

    state = [svi.init(jax.random.PRNGKey(0), *data)]
    update = jax.jit(svi.update)

    def run(n: int) -> None:
        s = state[0]
        for _ in range(n):
            s, loss = update(s, *data)
            float(loss)  # one host read per step, as ppl's run
        state[0] = s

    return run


def numpyro_automvn() -> Runner | None:
    try:
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as nd
        from numpyro.distributions import constraints as ncon
        from numpyro.infer import SVI as NumPyroSVI
        from numpyro.infer import Trace_ELBO as NumPyroTraceELBO
        from numpyro.infer.autoguide import AutoMultivariateNormal as NumPyroMVN
    except ImportError:
        return None

    def model():
        x = numpyro.sample("x", nd.ImproperUniform(ncon.real, (), ()))
        y = numpyro.sample("y", nd.ImproperUniform(ncon.real, (), ()))
        numpyro.factor("logfac", mvn_log_fac(x, y, jnp.exp, jnp.log))

    svi = NumPyroSVI(model, NumPyroMVN(model), numpyro.optim.Adam(MVN_LR), NumPyroTraceELBO())
    return _numpyro_runner(svi)


def numpyro_logreg(x, y, batch: int | None) -> Runner | None:
    """NumPyro's SVI on the same regression (plate subsampling inside the jitted step)."""
    try:
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as nd
        from numpyro.distributions import constraints as ncon
        from numpyro.infer import SVI as NumPyroSVI
        from numpyro.infer import Trace_ELBO as NumPyroTraceELBO
    except ImportError:
        return None
    n, d = x.shape

    def model(x, y):
        w = numpyro.sample("w", nd.Normal(jnp.zeros(d), 1.0).to_event(1))
        b = numpyro.sample("b", nd.Normal(0.0, 1.0))
        with numpyro.plate("data", n, subsample_size=batch) as idx:
            xb, yb = (x[idx], y[idx]) if batch else (x, y)
            numpyro.sample("y", nd.Bernoulli(logits=xb @ w + b), obs=yb)

    def guide(x, y):
        w_loc = numpyro.param("w_loc", jnp.zeros(d))
        w_scale = numpyro.param("w_scale", jnp.full((d,), 0.1), constraint=ncon.positive)
        b_loc = numpyro.param("b_loc", 0.0)
        b_scale = numpyro.param("b_scale", 0.1, constraint=ncon.positive)
        numpyro.sample("w", nd.Normal(w_loc, w_scale).to_event(1))
        numpyro.sample("b", nd.Normal(b_loc, b_scale))

    svi = NumPyroSVI(model, guide, numpyro.optim.Adam(0.01), NumPyroTraceELBO())
    return _numpyro_runner(svi, jnp.asarray(x.numpy()), jnp.asarray(y.numpy()))


def long_default(make: Callable[..., Runner], *args) -> Runner:
    """The no-option default (``compile="auto"``) in a run long enough to compile: the
    ``auto_compile_seconds`` threshold is 0, so the decision is taken at step 6."""
    run = make(*args, compile="auto")

    def long_run(n: int) -> None:
        with ppl.settings.context(auto_compile_seconds=0.0, auto_compile_cost_steps=0):
            run(n)

    return long_run


# --------------------------------------------------------------------------- harness
def time_runner(run: Runner, steps: int) -> float:
    gc.collect()
    start = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - start)


def bench(name: str, runners: dict[str, Runner | None], steps: int, repeats: int) -> dict:
    runners = {k: v for k, v in runners.items() if v is not None}
    for run in runners.values():  # warm up (param creation, first-call caches)
        run(max(steps // 10, 5))
    rates: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeats):
        for key, run in runners.items():
            rates[key].append(time_runner(run, steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    floor = med.get("torch loop")
    print(f"\n{name}  ({steps} steps x {repeats} repeats, median)")
    print(f"  {'implementation':<34}{'steps/s':>12}{'vs torch loop':>16}{'vs Pyro':>10}")
    for key, rate in med.items():
        ratio = f"{rate / floor:.2f}x" if floor else "-"
        # ppl rows against Pyro's eager Trace_ELBO with the same validation setting
        pyro = med.get("pyro (validation on)" if " on)" in key else "pyro (validation off)")
        vs_pyro = f"{rate / pyro:.2f}x" if pyro and key.startswith("ppl") else ""
        print(f"  {key:<34}{rate:>12.1f}{ratio:>16}{vs_pyro:>10}")
    return med


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_check(short: int, long: int) -> tuple[float, float]:
    run = ppl_coin(1, validation=False)
    run(short)
    gc.collect()
    after_short = rss_mb()
    run(long - short)
    gc.collect()
    return after_short, rss_mb()


def default_mode(lengths: tuple[int, ...]) -> None:
    """Wall time of one ``svi.run(n)`` from a fresh SVI: the default (auto) vs eager vs
    Pyro; the first default run of the process pays inductor's start-up (cold)."""
    print("\ndefault mode: wall time of one svi.run(n) of a new SVI, coin flip, validation on")
    print(
        f"  {'n':>7}{'ppl default':>14}{'ppl eager':>12}{'pyro':>10}{'steps/s default':>18}"
        f"{'default/pyro':>14}  decision"
    )
    for n in lengths:
        times = {}
        decision = ""
        for key, compile in (("default", "auto"), ("eager", False)):
            start = time.perf_counter()
            run = ppl_coin(1, True, compile=compile)
            run(n)
            times[key] = time.perf_counter() - start
            if key == "default":
                decision = _last_reason
        pyro_run = None
        start = time.perf_counter()
        pyro_run = pyro_coin(1, True)
        if pyro_run is not None:
            pyro_run(n)
            times["pyro"] = time.perf_counter() - start
        pyro = times.get("pyro")
        ratio = f"{pyro / times['default']:.2f}x" if pyro else "-"
        print(
            f"  {n:>7}{times['default']:>13.2f}s{times['eager']:>11.2f}s"
            f"{(f'{pyro:.2f}s' if pyro else '-'):>10}{n / times['default']:>18.0f}"
            f"{ratio:>14}  {decision}"
        )


def summary(results: dict[str, dict]) -> None:
    """Issue 13's targets: compiled ppl vs NumPyro's jitted step, the default vs Pyro."""
    rows = [(k, r) for k, r in results.items() if k in ("coin", "coin32", "logreg", "automvn")]
    if not rows:
        return
    print("\ntargets (steps/s ratios from the tables above)")
    print(f"  {'workload':<10}{'best compiled':>36}{'/ numpyro':>11}{'default long / pyro':>21}")
    for label, med in rows:
        compiled = {k: v for k, v in med.items() if "compile=True" in k or "steps_per_call" in k}
        best = max(compiled, key=compiled.__getitem__) if compiled else None
        numpyro = med.get("numpyro (jit)")
        default, pyro = med.get("ppl default, long run (val. on)"), med.get("pyro (validation on)")
        vs_numpyro = f"{compiled[best] / numpyro:.2f}x" if best and numpyro else "-"
        vs_pyro = f"{default / pyro:.2f}x" if default and pyro else "-"
        print(f"  {label:<10}{best or '-':>36}{vs_numpyro:>11}{vs_pyro:>21}")


def _child_runner(workload: str, mode: str) -> Runner | None:
    """The runner a ``--child`` process times (validation on)."""
    compile = {"true": True, "k16": {"steps_per_call": 16}}.get(mode)
    if workload in ("coin", "coin32"):
        k = 1 if workload == "coin" else 32
        return numpyro_coin(k) if mode == "numpyro" else ppl_coin(k, True, compile=compile)
    if workload == "automvn":
        return numpyro_automvn() if mode == "numpyro" else ppl_automvn(True, compile=compile)
    x, y = make_regression(40000, 100)
    if mode == "numpyro":
        return numpyro_logreg(x, y, 500)
    return ppl_logreg(x, y, 500, True, False, compile=compile)


def child(spec: str, threads: int) -> None:
    """``--child WORKLOAD:MODE``: print the seconds of the first compiled call (after one
    eager step for ppl; NumPyro's first jitted ``svi.update``, compile included)."""
    import json

    torch.set_num_threads(threads)
    workload, mode = spec.split(":")
    run = _child_runner(workload, mode)
    if run is None:
        print(json.dumps({"seconds": None}))
        return
    if mode != "numpyro":
        run(1)  # the eager first step (creates the params and the optimizer state)
    start = time.perf_counter()
    run({"true": 1, "k16": 16, "numpyro": 1}[mode])
    print(json.dumps({"seconds": time.perf_counter() - start}))


def _subprocess(argv: list[str], cache: str) -> tuple[str, float]:
    """Run ``argv`` with inductor's cache at ``cache``: (its last stdout line, wall s)."""
    import subprocess
    import sys

    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{argv} failed ({out.returncode}): {out.stderr[-2000:]}")
    return lines[-1], wall


def compile_table(workloads: tuple[str, ...]) -> None:
    """First-call time: ppl compile=True and steps_per_call=16 (inductor, cold cache = a
    fresh TORCHINDUCTOR_CACHE_DIR, warm = the same dir again) vs NumPyro's first jitted
    step (JAX keeps no compile cache across processes by default: both are fresh)."""
    import json
    import tempfile

    print("\ncompile time: seconds of the first compiled call, fresh process each")
    print(f"  {'workload':<10}{'mode':<22}{'cold cache':>12}{'warm cache':>12}")
    for workload in workloads:
        for mode, label in (
            ("true", "ppl compile=True"),
            ("k16", "ppl steps_per_call=16"),
            ("numpyro", "numpyro jit"),
        ):
            with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
                times = []
                for _ in ("cold", "warm"):
                    line, _ = _subprocess(
                        [os.path.abspath(__file__), "--child", f"{workload}:{mode}"], cache
                    )
                    times.append(json.loads(line)["seconds"])
            if times[0] is None:
                continue
            print(f"  {workload:<10}{label:<22}{times[0]:>11.2f}s{times[1]:>11.2f}s")


_COLD_PPL = """
import time; t = time.perf_counter()
import torch, ppl, ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer import SVI, Trace_ELBO
from ppl.optim import Adam
torch.set_num_threads(1)
def model(data):
    f = ppl.sample("latent_fairness", dist.Uniform(0.0, 1.0))
    with ppl.plate("N", data.shape[0]):
        ppl.sample("obs", dist.Bernoulli(f), obs=data)
def guide(data):
    a = ppl.param("alpha_q", torch.tensor(10.0), constraint=constraints.positive)
    b = ppl.param("beta_q", torch.tensor(10.0), constraint=constraints.positive)
    ppl.sample("latent_fairness", dist.Beta(a, b))
data = torch.cat([torch.ones(12), torch.zeros(8)])
svi = SVI(model, guide, Adam({"lr": 0.0005}), Trace_ELBO())
s = time.perf_counter(); svi.run(NUM, data, progress_bar=False)
print(time.perf_counter() - s, time.perf_counter() - t)
"""
_COLD_PYRO = (
    _COLD_PPL.replace(
        "import torch, ppl, ppl.distributions as dist",
        "import torch, pyro as ppl, pyro.distributions as dist",
    )
    .replace("from ppl.distributions", "from pyro.distributions")
    .replace("from ppl.infer", "from pyro.infer")
    .replace("from ppl.optim", "from pyro.optim")
    .replace("svi.run(NUM, data, progress_bar=False)", "[svi.step(data) for _ in range(NUM)]")
)


def cold_run(num_steps: int) -> None:
    """What a new user sees: a fresh process (cold inductor cache) imports, builds an SVI
    with no option and runs ``num_steps`` coin steps; Pyro's script steps as many times."""
    import importlib.util
    import tempfile

    print(f"\ncold start: a new process runs svi.run({num_steps}) on the coin flip (no option)")
    print(f"  {'library':<10}{'run':>10}{'whole process':>16}")
    for name, code in (("ppl", _COLD_PPL), ("pyro", _COLD_PYRO)):
        if name == "pyro" and importlib.util.find_spec("pyro") is None:
            continue
        with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
            line, wall = _subprocess(["-c", code.replace("NUM", str(num_steps))], cache)
        run_s, _ = (float(v) for v in line.split())
        print(f"  {name:<10}{run_s:>9.2f}s{wall:>15.2f}s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SVI steps/s benchmark")
    parser.add_argument("--quick", action="store_true", help="few steps, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--autonormal", action="store_true", help="AutoNormal guide for logreg")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated workloads (default: coin,coin32,logreg,automvn,heavy,memory,"
        "default,compiletime,cold; --quick leaves out heavy, compiletime and cold)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one timing in a fresh process
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.threads)
        return
    if args.repeats < 3:
        parser.error("--repeats must be >= 3 (the median of at least 3 runs)")
    torch.set_num_threads(args.threads)
    if args.threads == 1:  # XLA's CPU client too (read when jax is first imported)
        os.environ.setdefault(
            "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    torch.manual_seed(0)
    q = args.quick
    everything = "coin,coin32,logreg,automvn,heavy,memory,default,compiletime,cold"
    quick = "coin,coin32,logreg,automvn,memory,default"
    only = set((args.only or (quick if q else everything)).split(","))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    results: dict[str, dict] = {}
    for k, label in ((1, "coin"), (32, "coin32")):
        if label not in only:
            continue
        results[label] = bench(
            f"{label}: seed-002 coin flip, {k} particle(s)",
            {
                "torch loop": torch_coin(k),
                "ppl (validation off)": ppl_coin(k, False),
                "ppl (validation on)": ppl_coin(k, True),
                "ppl JitTrace_ELBO (val. off)": ppl_coin(k, False, JitTrace_ELBO),
                "ppl Compiled (val. off)": ppl_coin(k, False, CompiledTrace_ELBO),
                "ppl Compiled (val. on)": ppl_coin(k, True, CompiledTrace_ELBO),
                "ppl SVI(compile=True) (val. off)": ppl_coin(k, False, compile=True),
                "ppl SVI(compile=True) (val. on)": ppl_coin(k, True, compile=True),
                "ppl SVI(steps_per_call=16) (val. on)": ppl_coin(
                    k, True, compile={"steps_per_call": 16}
                ),
                "ppl SVI(steps_per_call=64) (val. on)": ppl_coin(
                    k, True, compile={"steps_per_call": 64}
                ),
                "ppl default, long run (val. on)": long_default(ppl_coin, k, True),
                "pyro (validation off)": pyro_coin(k, False),
                "pyro (validation on)": pyro_coin(k, True),
                "pyro JitTrace_ELBO (val. off)": pyro_coin(k, False, jit=True),
                "numpyro (jit)": numpyro_coin(k),
            },
            300 if q else 3000,
            args.repeats,
        )
    if "coin" in results and "coin32" in results:
        print()
        for row in ("ppl (validation off)", "ppl SVI(compile=True) (val. off)"):
            one, many = results["coin"][row], results["coin32"][row]
            print(f"32 vectorized particles cost {one / many:.2f}x one particle per step ({row})")
    for label, n, d, batch, steps in (
        ("logreg", 40000, 100, 500, 200 if q else 2000),
        ("heavy", 200000, 256, None, 5 if q else 40),
    ):
        if label not in only:
            continue
        x, y = make_regression(n, d)
        results[label] = bench(
            f"{label}: logistic regression N={n} D={d} "
            f"{'minibatch ' + str(batch) if batch else 'full batch'}",
            {
                "torch loop": torch_logreg(x, y, batch),
                "ppl (validation off)": ppl_logreg(x, y, batch, False, args.autonormal),
                "ppl (validation on)": ppl_logreg(x, y, batch, True, args.autonormal),
                "ppl Compiled (val. off)": ppl_logreg(
                    x, y, batch, False, args.autonormal, CompiledTrace_ELBO
                ),
                "ppl Compiled (val. on)": ppl_logreg(
                    x, y, batch, True, args.autonormal, CompiledTrace_ELBO
                ),
                "ppl SVI(compile=True) (val. off)": ppl_logreg(
                    x, y, batch, False, args.autonormal, compile=True
                ),
                "ppl SVI(compile=True) (val. on)": ppl_logreg(
                    x, y, batch, True, args.autonormal, compile=True
                ),
                "ppl SVI(steps_per_call=16) (val. on)": ppl_logreg(
                    x, y, batch, True, args.autonormal, compile={"steps_per_call": 16}
                ),
                "ppl default, long run (val. on)": long_default(
                    ppl_logreg, x, y, batch, True, args.autonormal
                ),
                "pyro (validation off)": pyro_logreg(x, y, batch, False, args.autonormal),
                "pyro (validation on)": pyro_logreg(x, y, batch, True, args.autonormal),
                "numpyro (jit)": None if args.autonormal else numpyro_logreg(x, y, batch),
            },
            steps,
            args.repeats,
        )
    if "automvn" in only:
        results["automvn"] = bench(
            "automvn: seed-002 rotated 2-D Gaussian factor, AutoMultivariateNormal, Adam 5e-4",
            {
                "torch loop": torch_automvn(),
                "ppl (validation off)": ppl_automvn(False),
                "ppl (validation on)": ppl_automvn(True),
                "ppl SVI(compile=True) (val. off)": ppl_automvn(False, compile=True),
                "ppl SVI(compile=True) (val. on)": ppl_automvn(True, compile=True),
                "ppl SVI(steps_per_call=16) (val. on)": ppl_automvn(
                    True, compile={"steps_per_call": 16}
                ),
                "ppl SVI(steps_per_call=64) (val. on)": ppl_automvn(
                    True, compile={"steps_per_call": 64}
                ),
                "ppl default, long run (val. on)": long_default(ppl_automvn, True),
                "pyro (validation off)": pyro_automvn(False),
                "pyro (validation on)": pyro_automvn(True),
                "numpyro (jit)": numpyro_automvn(),
            },
            300 if q else 3000,
            args.repeats,
        )
    summary(results)
    if "compiletime" in only:
        compile_table(("coin",) if q else ("coin", "coin32", "logreg", "automvn"))
    if "cold" in only:
        cold_run(1000)
    if "default" in only:
        default_mode((1000, 3000) if q else (1000, 30000))
    if "memory" in only:
        short, long = (1000, 10000) if q else (1000, 100000)
        a, b = memory_check(short, long)
        print(
            f"\nresident memory: {a:.1f} MB after {short} coin steps, {b:.1f} MB after {long} "
            f"({100 * (b - a) / a:+.1f}%)"
        )
    try:
        import numpyro  # noqa: F401
    except ImportError:
        print("\n(numpyro not installed: no NumPyro row for the coin flip)")


if __name__ == "__main__":
    main()
