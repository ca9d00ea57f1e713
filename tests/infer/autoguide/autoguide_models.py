"""Small models shared by the autoguide tests (imported by the test files)."""

from __future__ import annotations

import math

import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints

SIG1, SIG2, THETA = 1.0, 3.0, math.radians(45.0)


def model_forauto() -> None:
    """Seed 002: improper flat priors and a factor of a 2-D Gaussian (sd 1 and 3 at 45 deg)."""
    x = ppl.sample("x", dist.ImproperUniform(constraints.real, (), ()))
    y = ppl.sample("y", dist.ImproperUniform(constraints.real, (), ()))
    c, s = math.cos(THETA), math.sin(THETA)
    log_fac = -0.5 * (((c * x - s * y) / SIG1) ** 2 + ((s * x + c * y) / SIG2) ** 2)
    ppl.factor("logfac", log_fac)


def mixed_model(data: torch.Tensor) -> None:
    """A real scalar, a positive scalar, a unit-interval vector in a plate, observations."""
    mu = ppl.sample("mu", dist.Normal(torch.zeros((), dtype=data.dtype), 2.0))
    s = ppl.sample("s", dist.LogNormal(torch.zeros((), dtype=data.dtype), 0.5))
    with ppl.plate("grp", 3):
        p = ppl.sample("p", dist.Beta(torch.full((), 2.0, dtype=data.dtype), 2.0))
        ppl.sample("obs", dist.Normal(mu + s * p, 1.0), obs=data)


EIGHT_Y = torch.tensor([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
EIGHT_SIGMA = torch.tensor([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(sigma: torch.Tensor, y: torch.Tensor | None = None) -> None:
    """The centred eight-schools model."""
    mu = ppl.sample("mu", dist.Normal(0.0, 5.0))
    tau = ppl.sample("tau", dist.HalfCauchy(5.0))
    with ppl.plate("J", len(sigma)):
        theta = ppl.sample("theta", dist.Normal(mu, tau))
        ppl.sample("obs", dist.Normal(theta, sigma), obs=y)
