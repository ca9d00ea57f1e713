"""``EKFDistribution``: the likelihood of a track of position measurements under an EKF.

Filtering a sequence of measurements with an :class:`~.extended_kalman_filter.EKFState`
factorizes their joint density into one Gaussian term per step, ``N(dz_t; 0, S_t)``
(the prediction-error decomposition), which is exact for linear-Gaussian models.

Example:
    >>> import torch
    >>> from ppl.contrib.tracking.dynamic_models import NcvContinuous
    >>> d = EKFDistribution(torch.zeros(2), torch.eye(2), NcvContinuous(2, 1.0),
    ...                     torch.eye(1), time_steps=3)
    >>> d.event_shape, d.log_prob(torch.zeros(3, 1)).shape
    (torch.Size([3, 1]), torch.Size([]))
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from ppl.distributions import MultivariateNormal
from ppl.distributions.torch_distribution import TorchDistribution

from .dynamic_models import DifferentiableDynamicModel
from .extended_kalman_filter import EKFState
from .measurements import PositionMeasurement

__all__ = ["EKFDistribution"]


class EKFDistribution(TorchDistribution):
    """A distribution over ``time_steps`` position measurements of one target.

    Only ``log_prob`` (and :meth:`filter_states`) are implemented.

    Args:
        x0: initial native state mean, shape ``(2 * k,)``.
        P0: initial covariance.
        dynamic_model: the target's dynamic model.
        measurement_cov: the covariance ``R`` of each ``k``-dimensional measurement.
        time_steps: number of measurements.
        dt: time between measurements.

    Raises:
        ValueError: if ``x0``'s last dimension is odd.
    """

    arg_constraints = {
        "measurement_cov": constraints.positive_definite,
        "P0": constraints.positive_definite,
        "x0": constraints.real_vector,
    }
    #: ``(time_steps, k)`` real measurements (declared so observed sites can be validated)
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(
        self,
        x0: torch.Tensor,
        P0: torch.Tensor,
        dynamic_model: DifferentiableDynamicModel,
        measurement_cov: torch.Tensor,
        time_steps: int = 1,
        dt: float = 1.0,
        validate_args: bool | None = None,
    ) -> None:
        if x0.shape[-1] % 2:
            raise ValueError(
                "EKFDistribution: position and velocity vectors must have the same size, so "
                f"x0.shape[-1] must be even, got {x0.shape[-1]}"
            )
        self.x0 = x0
        self.P0 = P0
        self.dynamic_model = dynamic_model
        self.measurement_cov = measurement_cov
        self.dt = dt
        event_shape = torch.Size((time_steps, x0.shape[-1] // 2))
        super().__init__(x0.shape[:-1], event_shape, validate_args=validate_args)

    def rsample(self, sample_shape: Any = ()) -> torch.Tensor:
        raise NotImplementedError("EKFDistribution: sampling is not implemented (log_prob only)")

    def _filter(self, value: torch.Tensor) -> Any:
        if value.shape[-1] != self.event_shape[-1]:
            raise ValueError(
                f"EKFDistribution: measurements of size {self.event_shape[-1]} expected, got "
                f"value of shape {tuple(value.shape)}"
            )
        state = EKFState(self.dynamic_model, self.x0, self.P0, time=0.0)
        for t, z in enumerate(value):
            if t:
                state = state.predict(self.dt)
            measurement = PositionMeasurement(z, self.measurement_cov, time=state.time)
            state, innovation = state.update(measurement)
            yield state, innovation

    def filter_states(self, value: torch.Tensor) -> list[EKFState]:
        """The filtered states after each of the measurements ``value`` (``(T, k)``)."""
        return [state for state, _ in self._filter(value)]

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``sum_t log N(dz_t; 0, S_t)`` for measurements ``value`` of shape ``(T, k)``.

        Raises:
            ValueError: if ``value``'s shape is not the event shape.
        """
        if value.shape != self.event_shape:
            raise ValueError(
                f"EKFDistribution.log_prob: expected value of shape {tuple(self.event_shape)}, "
                f"got {tuple(value.shape)}"
            )
        total = value.new_zeros(())
        for _, (dz, S) in self._filter(value):
            total = total + MultivariateNormal(torch.zeros_like(dz), S).log_prob(dz)
        return total
