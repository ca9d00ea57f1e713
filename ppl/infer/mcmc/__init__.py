"""Markov chain Monte Carlo: ``MCMC`` driving ``HMC``, ``NUTS`` or ``RandomWalkKernel``.

Example:
    >>> from ppl.infer.mcmc import MCMC, NUTS
    >>> NUTS(potential_fn=lambda z: (z["x"] ** 2).sum()).step_size
    1.0
"""

from ppl.infer.mcmc.adaptation import ArrowheadMassMatrix, BlockMassMatrix
from ppl.infer.mcmc.api import MCMC, StreamingMCMC
from ppl.infer.mcmc.hmc import HMC
from ppl.infer.mcmc.nuts import NUTS
from ppl.infer.mcmc.rwkernel import RandomWalkKernel

__all__ = [
    "ArrowheadMassMatrix",
    "BlockMassMatrix",
    "HMC",
    "MCMC",
    "NUTS",
    "RandomWalkKernel",
    "StreamingMCMC",
]
