"""``ppl.contrib.timeseries``: Gaussian time series models (Pyro's ``pyro.contrib.timeseries``).

Every model is a linear-Gaussian state space model over evenly spaced targets of shape
``(T, obs_dim)``: ``log_prob`` integrates the hidden states exactly with a
:class:`~ppl.distributions.GaussianHMM` (parallel scan, depth ``O(log T)``) and
``forecast`` gives the exact Kalman prediction from the filtered last state.

* :class:`IndependentMaternGP`, :class:`LinearlyCoupledMaternGP`, :class:`DependentMaternGP`:
  Matern GPs in time (:class:`ppl.ops.ssm_gp.MaternKernel`);
* :class:`GenericLGSSM`: learned transition and observation matrices;
* :class:`GenericLGSSMWithGPNoiseModel`: the same plus a Matern GP per output.

Example:
    >>> import torch, ppl
    >>> ppl.clear_param_store()  # models share the ParamStore by attribute name
    >>> from ppl.contrib.timeseries import IndependentMaternGP
    >>> gp = IndependentMaternGP(nu=1.5, obs_dim=2)
    >>> y = torch.randn(10, 2)
    >>> gp.log_prob(y).shape, gp.forecast(y, torch.tensor([1.0, 2.0])).loc.shape
    (torch.Size([2]), torch.Size([2, 2]))
"""

from .base import TimeSeriesModel
from .gp import DependentMaternGP, IndependentMaternGP, LinearlyCoupledMaternGP
from .lgssm import GenericLGSSM
from .lgssmgp import GenericLGSSMWithGPNoiseModel

__all__ = [
    "DependentMaternGP",
    "GenericLGSSM",
    "GenericLGSSMWithGPNoiseModel",
    "IndependentMaternGP",
    "LinearlyCoupledMaternGP",
    "TimeSeriesModel",
]
