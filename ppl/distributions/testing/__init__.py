"""Distributions and checks for testing ppl itself (Pyro's ``pyro.distributions.testing``).

* :mod:`.fakes` -- torch distributions with reparameterization switched off.
* :mod:`.naive_dirichlet`, :mod:`.rejection_exponential`, :mod:`.rejection_gamma` --
  alternative samplers with stochastic or rejection-based gradients.
* :mod:`.gof` -- goodness-of-fit p-values that check ``sample`` against ``log_prob``.
"""
