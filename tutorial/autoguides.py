"""Autoguides: a guide for any model with continuous latents, in one line.

Run: ``python tutorial/autoguides.py`` (about half a minute on a laptop CPU;
``--quick`` for a smoke run).

1. ``AutoNormal`` on a regression model: eager ``setup``, the parameter names
   (Pyro's: ``AutoNormal.locs.<site>``/``AutoNormal.scales.<site>``), and posterior
   summaries with ``median`` and ``quantiles``.
2. Seed 002's ``model_forauto`` (improper flat priors and a ``factor`` of a 2-D
   Gaussian with sigma1 = 1, sigma2 = 3 at 45 degrees): ``AutoMultivariateNormal``
   recovers the covariance ``[[5, 4], [4, 5]]``; we read ``scale_tril`` from the guide
   (or from the ParamStore / the SVI result) and turn it into the covariance.
3. The Laplace approximation of the same model, from the Hessian at the MAP.
4. Minibatches: local latents in a subsampled plate, with ``AutoNormal``.
5. A discrete latent: the autoguide refuses it and says how to hide it; an
   ``AutoGuideList`` combines an autoguide with a hand-written guide for it.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints
from ppl.infer.autoguide import (
    AutoGuideList,
    AutoLaplaceApproximation,
    AutoMultivariateNormal,
    AutoNormal,
)
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.optim import ClippedAdam


def decaying_adam(lr: float, steps: int, lr_end: float) -> ClippedAdam:
    """Adam whose step size decays geometrically from ``lr`` to ``lr_end`` over ``steps``."""
    return ClippedAdam({"lr": lr, "lrd": (lr_end / lr) ** (1.0 / steps)})


# --------------------------------------------------------------------------- 1. AutoNormal
def regression(x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    """y = a + b x + noise, with a positive noise scale."""
    a = ppl.sample("a", dist.Normal(0.0, 10.0))
    b = ppl.sample("b", dist.Normal(0.0, 10.0))
    sigma = ppl.sample("sigma", dist.HalfNormal(5.0))
    with ppl.plate("data", len(x)):
        ppl.sample("y", dist.Normal(a + b * x, sigma), obs=y)


def section_autonormal(steps: int) -> dict[str, Any]:
    print("## 1. AutoNormal on a linear regression")
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    x = torch.linspace(-2.0, 2.0, 50)
    y = 1.0 + 2.0 * x + 0.5 * torch.randn(50)

    guide = AutoNormal(regression)
    guide.setup(x, y)  # optional: creates every parameter now (else on the first call)
    for name, leaf in guide.named_parameters():
        print(f"  {name:22s} shape {tuple(leaf.shape)}")

    svi = SVI(regression, guide, decaying_adam(0.05, steps, 1e-3), Trace_ELBO())
    result = svi.run(steps, x, y, progress_bar=False)
    print(f"  loss: first {float(result.losses[0]):.1f}, last {float(result.losses[-1]):.1f}")

    median = guide.median(x, y)
    quantiles = guide.quantiles([0.05, 0.5, 0.95], x, y)  # {site: (3, *shape)}
    print("  posterior medians and 90% intervals:")
    for site, qs in quantiles.items():
        print(f"    {site:6s} {float(qs[1]):6.3f}  [{float(qs[0]):6.3f}, {float(qs[2]):6.3f}]")
    print(f"  guide.locs.b = {float(guide.locs.b.detach()):.3f} (attribute access to params)")
    draws = guide(x, y)  # one posterior draw of every latent, constrained
    print(f"  one draw: { {k: round(float(v.detach()), 3) for k, v in draws.items()} }")
    return {"median": median, "quantiles": quantiles}


# --------------------------------------------------------------------------- 2. seed 002
SIG1, SIG2, THETA = 1.0, 3.0, math.radians(45.0)


def model_forauto() -> None:
    """Seed 002's model: flat priors on x, y and a factor of a rotated 2-D Gaussian."""
    x = ppl.sample("x", dist.ImproperUniform(constraints.real, (), ()))
    y = ppl.sample("y", dist.ImproperUniform(constraints.real, (), ()))
    c, s = math.cos(THETA), math.sin(THETA)
    log_fac = -0.5 * (((c * x - s * y) / SIG1) ** 2 + ((s * x + c * y) / SIG2) ** 2)
    ppl.factor("logfac", log_fac)


def summarize_covariance(covar: torch.Tensor) -> tuple[float, float, float]:
    """The two standard deviations along the principal axes and the major axis' angle."""
    variances, vectors = torch.linalg.eigh(covar)
    sig1, sig2 = variances.clamp(min=0).sqrt().tolist()
    major = vectors[:, 1]
    return sig1, sig2, math.degrees(math.atan(float(major[1] / major[0])))


def section_seed002(steps: int) -> dict[str, Any]:
    print("\n## 2. Seed 002: AutoMultivariateNormal recovers a correlated Gaussian")
    ppl.clear_param_store()
    ppl.set_rng_seed(2)
    autoguide = AutoMultivariateNormal(model_forauto)
    # 32 particles per step, vectorized: far fewer steps than the seed's 50000
    svi = SVI(
        model_forauto,
        autoguide,
        decaying_adam(0.1, steps, 1e-3),
        Trace_ELBO(num_particles=32, vectorize_particles=True),
    )
    result = svi.run(steps, progress_bar=False)

    # Three ways to the same lower Cholesky factor L (covariance = L @ L.T):
    L = autoguide.scale_tril.detach()  # attribute of the guide
    L_store = ppl.get_param_store()["AutoMultivariateNormal.scale_tril"].detach()
    L_result = result.params["AutoMultivariateNormal.scale_tril"]  # as seed 002 reads it
    assert torch.equal(L, L_store) and torch.allclose(L, L_result)
    covar = L @ L.T
    print("Recovered covariance matrix:")
    print(covar.round(decimals=3))
    sig1, sig2, theta = summarize_covariance(covar)
    print(f"Recovered sigmas: σ1 = {sig1:.2f}, σ2 = {sig2:.2f} (true 1, 3)")
    print(f"Recovered angle of the major axis: θ = {theta:.2f}° (true 45°)")
    # The guide's own posterior distribution gives the same matrix:
    posterior_cov = autoguide.get_posterior().covariance_matrix.detach()
    gap = float((posterior_cov - covar).abs().max())
    print(f"max |get_posterior().covariance_matrix - L L^T| = {gap:.1e}")
    return {"covar": covar, "sig1": sig1, "sig2": sig2, "theta": theta}


# --------------------------------------------------------------------------- 3. Laplace
def section_laplace() -> dict[str, Any]:
    print("\n## 3. The Laplace approximation of the same model")
    ppl.clear_param_store()
    laplace = AutoLaplaceApproximation(model_forauto)
    # For a Gaussian target the Hessian is the same everywhere, so no MAP fit is needed
    # here; in general run SVI with the guide first (it is a point mass = MAP).
    gaussian = laplace.laplace_approximation()
    L = gaussian.scale_tril.detach()
    covar = L @ L.T
    print("covariance from the Hessian:")
    print(covar.round(decimals=4))
    return {"covar": covar}


# --------------------------------------------------------------------------- 4. minibatches
def hierarchical(data: torch.Tensor, batch: int) -> None:
    """Each data point has its own latent mean z_i; the plate is minibatched."""
    mu = ppl.sample("mu", dist.Normal(0.0, 5.0))
    with ppl.plate("data", len(data), subsample_size=batch) as idx:
        z = ppl.sample("z", dist.Normal(mu, 1.0))
        ppl.sample("obs", dist.Normal(z, 0.5), obs=data[idx])


def section_minibatch(steps: int) -> dict[str, Any]:
    print("\n## 4. Local latents in a subsampled plate")
    ppl.clear_param_store()
    ppl.set_rng_seed(4)
    data = 3.0 + torch.randn(100)
    guide = AutoNormal(hierarchical).setup(data, 10)
    print(f"  AutoNormal.locs.z has the full size {tuple(guide.locs.z.shape)}; each run")
    tr = poutine.trace(guide).get_trace(data, 10)
    print(f"  slices it to the minibatch: z has shape {tuple(tr.nodes['z']['value'].shape)},")
    print(f"  log-density scale {tr.nodes['z']['scale']:.0f} = 100 / 10")
    svi = SVI(hierarchical, guide, decaying_adam(0.05, steps, 5e-3), Trace_ELBO())
    svi.run(steps, data, 10, progress_bar=False)
    mu = float(guide.median(data, 10)["mu"])
    print(f"  posterior median of mu: {mu:.2f} (data mean {float(data.mean()):.2f})")
    return {"mu": mu}


# --------------------------------------------------------------------------- 5. discrete
def mixture(data: torch.Tensor) -> None:
    """A switch c picks which of two means the data share."""
    c = ppl.sample("c", dist.Bernoulli(0.5))
    loc = ppl.sample("loc", dist.Normal(0.0, 5.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(loc + 2.0 * c, 1.0), obs=data)


def c_guide(data: torch.Tensor) -> dict[str, torch.Tensor]:
    probs = ppl.param("c_probs", torch.tensor(0.5), constraint=constraints.unit_interval)
    return {"c": ppl.sample("c", dist.Bernoulli(probs))}


def section_discrete() -> dict[str, Any]:
    print("\n## 5. A discrete latent")
    ppl.clear_param_store()
    data = torch.randn(10)
    try:
        AutoNormal(mixture).setup(data)
    except ValueError as e:
        print("  AutoNormal(mixture) says:\n   ", str(e).replace(". ", ".\n    ", 1))
    guide = AutoGuideList(mixture)
    guide.append(AutoNormal(poutine.block(mixture, hide=["c"])))
    guide.append(c_guide)
    names = [n for n, _ in guide.setup(data).named_parameters()]
    print(f"  AutoGuideList parameters: {names} (+ 'c_probs' from the custom guide)")
    print(f"  one draw: {sorted(guide(data))}")
    return {"names": names}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every section; return their numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    args = parser.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    return {
        "autonormal": section_autonormal(int(1500 * scale)),
        "seed002": section_seed002(int(600 * scale)),
        "laplace": section_laplace(),
        "minibatch": section_minibatch(int(1500 * scale)),
        "discrete": section_discrete(),
    }


if __name__ == "__main__":
    main()
