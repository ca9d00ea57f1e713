# ruff: noqa: UP031  (the seed's printf-style tables are kept verbatim)
"""SVI Part 1 (seed 002), end to end in ppl: a narrated, runnable script.

The seed is a NumPyro tutorial; this script follows it section by section with the
same models, guides, optimizer settings and step counts, and prints the same tables.
Run it with ``python tutorial/seed002_svi_part1.py`` (about two minutes on one CPU
core) or faster with ``--steps 2000 --lr 0.005``; ``--out DIR`` chooses where the loss
plot PNG goes (default: a new temporary directory).

Differences from the seed that a NumPyro user will notice:

* randomness is torch's global generator (``ppl.set_rng_seed``), not a ``PRNGKey``
  passed to ``run``; the numbers agree statistically, not digit for digit;
* ``Trace_ELBO(num_particles=K)`` runs its particles sequentially unless
  ``vectorize_particles=True`` (Pyro's default); NumPyro always vectorizes, so this
  script asks for it explicitly;
* ``result.losses`` is a torch tensor (torch has no negative slice steps, hence
  ``losses.flip(0)[::100]`` for the seed's ``losses[::-100]``);
* ``Uniform(-20, 20).log_prob`` is ``-inf`` outside the support in torch (NumPyro
  returns ``-log 40`` there), so the multimodal fit passes ``on_nan="skip"`` to
  drop the rare step whose guide sample lands outside the box.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.predictive import Predictive
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.optim import Adam

LINE = "-" * 76

# --------------------------------------------------------------------------- data
# A coin tossed 20 times lands heads A = 12 times and tails B = 8 times.
A_TRUE, B_TRUE = 12, 8
DATA = torch.cat([torch.ones(A_TRUE), torch.zeros(B_TRUE)])
MEAN_TRUE = A_TRUE / (A_TRUE + B_TRUE)
# the seed calls this "var" but takes the square root: it is the standard deviation
VAR_TRUE = (A_TRUE * B_TRUE / (A_TRUE + B_TRUE) ** 2 / (A_TRUE + B_TRUE + 1)) ** 0.5


def model_headstails(data: torch.Tensor | None) -> None:
    """The fairness f has a uniform prior; each toss is Bernoulli(f)."""
    f = ppl.sample("latent_fairness", dist.Uniform(0.0, 1.0))
    with ppl.plate("N", data.shape[0] if data is not None else 10):
        ppl.sample("obs", dist.Bernoulli(f), obs=data)


def guide_beta(data: torch.Tensor | None) -> None:
    """Surrogate family Beta(A, B) with A, B > 0 learnable."""
    alpha_q = ppl.param("alpha_q", torch.tensor(20.0 / 2.0), constraint=constraints.positive)
    beta_q = ppl.param("beta_q", torch.tensor(20.0 / 2.0), constraint=constraints.positive)
    ppl.sample("latent_fairness", dist.Beta(alpha_q, beta_q))


def guide_normal(data: torch.Tensor | None) -> None:
    """Surrogate family Normal(mean, sd) (the seed names the sd "var")."""
    mean = ppl.param("mean", torch.tensor(0.5), constraint=constraints.unit_interval)
    var = ppl.param("var", torch.tensor(0.1), constraint=constraints.positive)
    ppl.sample("latent_fairness", dist.Normal(mean, var))


# --------------------------------------------------------------------------- multimodal
SIG1, SIG2, B_SEP = 0.5, 2.0, 5.0


def log_distribution(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Two Gaussian modes along u1 = (x+y)/sqrt2, a Cauchy-like profile along u2."""
    sqrt2 = 2**0.5
    f1 = torch.exp(-1 / 2 * (((x + y) / sqrt2 - B_SEP) / SIG1) ** 2)
    f2 = torch.exp(-1 / 2 * (((x + y) / sqrt2 + B_SEP) / SIG1) ** 2)
    log_fac = torch.log(f1 + f2)
    log_fac = log_fac + torch.log(1 / (1 + ((x - y) / SIG2 / sqrt2) ** 2 / 2))
    return log_fac


def model_multimodal() -> None:
    x = ppl.sample("x", dist.Uniform(-20.0, 20.0))
    y = ppl.sample("y", dist.Uniform(-20.0, 20.0))
    ppl.factor("logfac", log_distribution(x, y))


def guide_multimodal() -> None:
    """Two rotated Gaussian modes: a MixtureGeneral along u1, a Normal along u2, then
    Delta sites map (u1, u2) back to the model's x and y (u1, u2 are auxiliary)."""
    sig1_q = ppl.param("sig1_q", torch.tensor(1.0), constraint=constraints.positive)
    sig2_q = ppl.param("sig2_q", torch.tensor(1.0), constraint=constraints.positive)
    b = ppl.param("b", torch.tensor(1.0), constraint=constraints.positive)
    theta = ppl.param(
        "theta", torch.tensor(0.0), constraint=constraints.interval(-math.pi / 2, math.pi / 2)
    )
    weighting = torch.tensor([0.5, 0.5])
    gauss_mix = dist.MixtureGeneral(
        dist.Categorical(weighting),
        [dist.Normal(loc=b, scale=sig1_q), dist.Normal(loc=-b, scale=sig1_q)],
    )
    u1 = ppl.sample("u1", gauss_mix, infer={"is_auxiliary": True})
    u2 = ppl.sample("u2", dist.Normal(0.0, sig2_q), infer={"is_auxiliary": True})
    c, s = torch.cos(theta), torch.sin(theta)
    ppl.sample("x", dist.Delta(c * u1 - s * u2))
    ppl.sample("y", dist.Delta(c * u2 + s * u1))


# --------------------------------------------------------------------------- autoguide part
SIG1_AUTO, SIG2_AUTO, THETA_AUTO = 1.0, 3.0, 45 * math.pi / 180


def factor_auto(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    c, s = math.cos(THETA_AUTO), math.sin(THETA_AUTO)
    log_fac = -1.0 / 2.0 * (((c * x - s * y) / SIG1_AUTO) ** 2 + ((s * x + c * y) / SIG2_AUTO) ** 2)
    return torch.exp(log_fac)


def model_forauto() -> None:
    x = ppl.sample("x", dist.ImproperUniform(constraints.real, (), ()))
    y = ppl.sample("y", dist.ImproperUniform(constraints.real, (), ()))
    ppl.factor("logfac", torch.log(factor_auto(x, y)))


# --------------------------------------------------------------------------- the script
def _steps(default: int, args: argparse.Namespace) -> int:
    return args.steps if args.steps is not None else default


def fit_beta(args: argparse.Namespace, num_particles: int = 1) -> Any:
    ppl.clear_param_store()
    ppl.set_rng_seed(1)
    elbo = Trace_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1)
    svi = SVI(model_headstails, guide_beta, Adam({"lr": args.lr}), loss=elbo)
    return svi.run(_steps(10000, args), DATA, progress_bar=args.bar)


def section_beta(args: argparse.Namespace) -> dict[str, Any]:
    print("\n## Fitting a Beta distribution with SVI")
    result = fit_beta(args)
    a, b = float(result.params["alpha_q"]), float(result.params["beta_q"])
    inferred_mean = a / (a + b)
    inferred_var = (a * b / (a + b) ** 2 / (a + b + 1)) ** 0.5
    print(LINE)
    print("\t Truth \t SVI")
    print("A \t %0.1f \t %0.1f" % (A_TRUE, a))
    print("B \t %0.1f \t %0.1f" % (B_TRUE, b))
    print("Mean \t %0.2f \t %0.2f" % (MEAN_TRUE, inferred_mean))
    print("Var \t %0.2f \t %0.2f" % (VAR_TRUE, inferred_var))
    print(LINE)
    return {"result": result, "A": a, "B": b, "mean": inferred_mean, "var": inferred_var}


def section_normal(args: argparse.Namespace) -> dict[str, Any]:
    print("\n## Fitting an approximate (Normal) model with SVI")
    ppl.clear_param_store()
    ppl.set_rng_seed(2)
    svi = SVI(model_headstails, guide_normal, Adam({"lr": args.lr}), loss=Trace_ELBO())
    result = svi.run(_steps(50000, args), DATA, progress_bar=args.bar)
    mean, var = float(result.params["mean"]), float(result.params["var"])
    print(LINE)
    print("\t Truth \t SVI")
    print("Mean \t %0.2f \t %0.2f" % (MEAN_TRUE, mean))
    print("B \t %0.2f \t %0.2f" % (VAR_TRUE, var))
    print(LINE)
    return {"result": result, "mean": mean, "var": var}


def section_predictive(args: argparse.Namespace, beta_params: dict) -> dict[str, Any]:
    print("\n## Predictive: posterior samples and mock observations")
    n = args.samples
    # 1. the guide alone: MCMC-like samples in parameter space
    posterior_samples = Predictive(guide_beta, params=beta_params, num_samples=n, parallel=True)(
        data=None
    )
    f = posterior_samples["latent_fairness"]
    print(
        "guide samples: latent_fairness %s, mean %.3f, sd %.3f"
        % (tuple(f.shape), f.mean(), f.std())
    )
    # 2. model + guide: mock observations
    n_mock = max(n // 10, 1)
    from_guide = Predictive(
        model_headstails, guide=guide_beta, params=beta_params, num_samples=n_mock, parallel=True
    )(data=None)
    print(
        "mock data from model+guide: obs %s, fraction of heads %.3f"
        % (tuple(from_guide["obs"].shape), from_guide["obs"].mean())
    )
    # 3. model + posterior samples from (1)
    from_samples = Predictive(
        model_headstails, posterior_samples, params=beta_params, parallel=True
    )(data=None)
    print(
        "mock data from model+samples: obs %s, fraction of heads %.3f"
        % (tuple(from_samples["obs"].shape), from_samples["obs"].mean())
    )
    return {"guide": posterior_samples, "from_guide": from_guide, "from_samples": from_samples}


def section_convergence(args: argparse.Namespace, losses_1: torch.Tensor, out: Path) -> dict:
    print("\n## Ensuring convergence: num_particles = 1 vs 32")
    result_32 = fit_beta(args, num_particles=32)
    med_1 = float(losses_1.flip(0)[::100].median())
    med_32 = float(result_32.losses.flip(0)[::100].median())
    tail = max(len(losses_1) // 20, 1)
    sd_1 = float(losses_1[-tail:].std())
    sd_32 = float(result_32.losses[-tail:].std())
    print("median loss (every 100th step): 1 particle %.4f, 32 particles %.4f" % (med_1, med_32))
    print(
        "loss sd over the last %d steps: 1 particle %.4f, 32 particles %.4f" % (tail, sd_1, sd_32)
    )
    png = _plot_losses(losses_1, result_32.losses, out / "seed002_losses.png")
    return {"result": result_32, "sd_1": sd_1, "sd_32": sd_32, "png": png}


def _plot_losses(losses_1: torch.Tensor, losses_32: torch.Tensor, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the loss plot (pip install matplotlib)")
        return None
    fig = plt.figure(figsize=(8, 3))
    plt.plot(losses_1.numpy(), lw=0.5, label="num_particles = 1")
    plt.plot(losses_32.numpy(), lw=0.5, label="num_particles = 32")
    plt.axhline(float(losses_32.flip(0)[::100].median()), c="k", ls="--", zorder=-1)
    plt.legend()
    plt.xlabel("Optimization Step")
    plt.ylabel("Loss (ELBO)")
    plt.grid()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print("loss plot saved to %s" % path)
    return path


def section_multimodal(args: argparse.Namespace) -> dict[str, Any]:
    print("\n## A multimodal guide from MixtureGeneral + Delta")
    ppl.clear_param_store()
    ppl.set_rng_seed(1)
    elbo = Trace_ELBO(num_particles=16, vectorize_particles=True)
    svi = SVI(model_multimodal, guide_multimodal, Adam({"lr": args.lr}), loss=elbo)
    result = svi.run(_steps(10000, args), progress_bar=args.bar, on_nan="skip")
    skipped = int(torch.isnan(result.losses).sum())
    print("Optimal Guide Params")
    print(LINE)
    for key in sorted(result.params):
        val = float(result.params[key])
        if key != "theta":
            print("%s:\t%0.3f" % (key, val))
        else:
            print("%s:\t%0.1f deg" % (key, val * 180 / math.pi))
    print(LINE)
    print("steps skipped (guide sample outside the Uniform box): %d" % skipped)
    samples = Predictive(
        guide_multimodal, params=result.params, num_samples=args.samples, parallel=True
    )()
    return {"result": result, "samples": samples, "skipped": skipped}


def section_autoguide(args: argparse.Namespace) -> dict[str, Any] | None:
    print("\n## Autoguides: AutoMultivariateNormal")
    try:
        from ppl.infer.autoguide import AutoMultivariateNormal
    except ImportError as e:
        print("ppl.infer.autoguide.AutoMultivariateNormal is not available (%s): skipped" % e)
        return None
    ppl.clear_param_store()
    ppl.set_rng_seed(2)
    autoguide = AutoMultivariateNormal(model_forauto)
    svi = SVI(model_forauto, autoguide, Adam({"lr": args.lr}), loss=Trace_ELBO())
    result = svi.run(_steps(50000, args), progress_bar=args.bar)
    key = next((k for k in result.params if k.endswith("scale_tril")), None)
    if key is None:
        print("no scale_tril parameter in %s: skipped" % sorted(result.params))
        return {"result": result}
    L = result.params[key]
    covar = L @ L.T
    print("Recovered covariance matrix:")
    print(covar.round(decimals=3))
    sigs, us = torch.linalg.eigh(covar)
    sig1_rec, sig2_rec = sigs.clamp(min=0).sqrt().tolist()
    print("Recovered Variances:")
    print("σ1 = %0.2f, σ2 = %0.2f" % (sig1_rec, sig2_rec))
    u1 = us[0]  # as in the seed: the first row of the eigenvector matrix
    theta = math.degrees(math.atan(float(u1[1] / u1[0])))
    print("Recovered Contour Angle:")
    print("θ = %0.2f°" % theta)
    return {"result": result, "covar": covar, "sig1": sig1_rec, "sig2": sig2_rec, "theta": theta}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every section; return their numbers (used by the tests)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="steps per fit (default: seed's)")
    parser.add_argument("--lr", type=float, default=0.0005, help="Adam step size (seed: 0.0005)")
    parser.add_argument("--samples", type=int, default=10000, help="Predictive samples")
    parser.add_argument("--out", type=Path, default=None, help="folder for the loss plot PNG")
    parser.add_argument("--no-bar", dest="bar", action="store_false", help="hide progress bars")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="ppl_seed002_"))
    ppl.enable_validation(True)
    results: dict[str, Any] = {}
    results["beta"] = section_beta(args)
    results["normal"] = section_normal(args)
    beta_params = results["beta"]["result"].params
    results["predictive"] = section_predictive(args, beta_params)
    results["convergence"] = section_convergence(args, results["beta"]["result"].losses, out)
    results["multimodal"] = section_multimodal(args)
    results["autoguide"] = section_autoguide(args)
    return results


if __name__ == "__main__":
    main()
