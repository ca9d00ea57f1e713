"""Nesterov dual averaging (Hoffman & Gelman 2014) for step-size adaptation."""

from __future__ import annotations

import math


class DualAveraging:
    """Drives a statistic towards ``target_accept`` by adapting ``x = log(step_size)``.

    Args:
        prox_center: the point ``x`` is shrunk towards (``log(10 * step_size0)``).
        t0, kappa, gamma: Stan's defaults 10, 0.75, 0.05.

    Example:
        >>> da = DualAveraging()
        >>> da.step(0.2)
        >>> x, x_avg = da.get_state()
        >>> x < 0  # accept prob too low: smaller step
        True
    """

    def __init__(
        self, prox_center: float = 0.0, t0: float = 10.0, kappa: float = 0.75, gamma: float = 0.05
    ) -> None:
        self.prox_center = prox_center
        self.t0 = t0
        self.kappa = kappa
        self.gamma = gamma
        self.reset()

    def reset(self) -> None:
        self._x_avg = 0.0
        self._g_avg = 0.0
        self._t = 0
        self._x = 0.0

    def step(self, g: float) -> None:
        """Feed one gradient ``g = target_accept - accept_prob``."""
        self._t += 1
        t = self._t
        self._g_avg = (1 - 1 / (t + self.t0)) * self._g_avg + g / (t + self.t0)
        self._x = self.prox_center - math.sqrt(t) / self.gamma * self._g_avg
        weight = t ** (-self.kappa)
        self._x_avg = (1 - weight) * self._x_avg + weight * self._x

    def get_state(self) -> tuple[float, float]:
        """Return ``(x, x_avg)``: the current iterate and its weighted average."""
        return self._x, self._x_avg
