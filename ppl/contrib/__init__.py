"""``ppl.contrib``: Pyro's contributed libraries (``pyro.contrib``) built on ppl.

Example:
    >>> from ppl.contrib.gp.kernels import RBF
"""
