"""An amortized guide: a ``torch.nn`` encoder registered with ``pyro.module``.

Pyro style: ``pyro.module("encoder", net)`` inside the guide puts the network's
parameters in the param store under ``"encoder$$$<name>"``; SVI trains them.
Exact answer: z ~ N(0, 1), x | z ~ N(z, 1) gives z | x ~ N(x / 2, 1 / 2), so the best
encoder has slope 1/2, intercept 0 and scale sqrt(1/2).
"""

import torch
from torch import nn

import ppl as pyro
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 1)

    def forward(self, x):
        return self.fc(x.unsqueeze(-1)).squeeze(-1)


def model(x):
    with pyro.plate("data", len(x)):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=x)


def make_guide(encoder):
    def guide(x):
        pyro.module("encoder", encoder)
        scale = pyro.param("scale", torch.tensor(1.0), constraint=constraints.positive)
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(encoder(x), scale))

    return guide


def main(num_steps=1500, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    torch.manual_seed(seed)
    x = torch.linspace(-3.0, 3.0, 64)
    encoder = Encoder()
    svi = SVI(model, make_guide(encoder), pyro.optim.Adam({"lr": 0.02}), loss=Trace_ELBO())
    for _ in range(num_steps):
        svi.step(x)
    return {
        "slope": encoder.fc.weight.item(),
        "intercept": encoder.fc.bias.item(),
        "scale": pyro.param("scale").item(),
        "param_names": sorted(pyro.get_param_store().keys()),
        "store_is_module_param": pyro.get_param_store()["encoder$$$fc.weight"] is encoder.fc.weight,
    }
