"""``EKFState``: one step of an extended Kalman filter, as an immutable state.

A state holds a dynamic model, a Gaussian estimate (mean ``x``, covariance ``P``) of
the model's native state, and its time (continuous ``time`` and/or discrete
``frame_num``). :meth:`EKFState.predict` moves it forward in time, and
:meth:`EKFState.update` folds in a time-aligned measurement; both return new
states. For linear dynamics and measurements these are exactly the Kalman filter
equations:

* predict: ``x' = f(x)``, ``P' = F P F^T + Q``;
* update: innovation ``dz = z - h(x)``, ``S = H P H^T + R``, gain
  ``K = P H^T S^-1``, ``x' = x + K dz``, and the Joseph form
  ``P' = (I - K H) P (I - K H)^T + K R K^T`` (symmetric and positive definite
  under round-off).

Example:
    >>> import torch
    >>> from ppl.contrib.tracking.dynamic_models import NcpContinuous
    >>> from ppl.contrib.tracking.measurements import PositionMeasurement
    >>> state = EKFState(NcpContinuous(1, 0.0), torch.zeros(1), torch.eye(1), time=0.0)
    >>> new, _ = state.update(PositionMeasurement(torch.ones(1), torch.eye(1), time=0.0))
    >>> new.mean.tolist(), new.cov.tolist()  # equal weights: halfway, half the variance
    ([0.5], [[0.5]])
"""

from __future__ import annotations

from functools import cached_property

import torch

from ppl.distributions import MultivariateNormal
from ppl.distributions.util import eye_like

from .dynamic_models import DifferentiableDynamicModel
from .measurements import DifferentiableMeasurement, TimedGaussian

__all__ = ["EKFState"]


class EKFState(TimedGaussian):
    """An EKF estimate of a target's state at one time.

    The dynamic model is shared (not copied) between a state and the states made from
    it.

    Args:
        dynamic_model: a :class:`~.dynamic_models.DifferentiableDynamicModel`.
        mean: native state mean, shape ``(dimension,)``.
        cov: native state covariance, shape ``(dimension, dimension)``.
        time: continuous time of the estimate.
        frame_num: discrete time of the estimate (one of the two is required).

    Raises:
        ValueError: if neither ``time`` nor ``frame_num`` is given.
    """

    def __init__(
        self,
        dynamic_model: DifferentiableDynamicModel,
        mean: torch.Tensor,
        cov: torch.Tensor,
        time: float | None = None,
        frame_num: int | None = None,
    ) -> None:
        super().__init__(mean, cov, time, frame_num)
        self._dynamic_model = dynamic_model

    @property
    def dynamic_model(self) -> DifferentiableDynamicModel:
        """The dynamic model."""
        return self._dynamic_model

    @property
    def dimension(self) -> int:
        """Size of the native state."""
        return self._dynamic_model.dimension

    @property
    def dimension_pv(self) -> int:
        """Size of the PV state."""
        return self._dynamic_model.dimension_pv

    @cached_property
    def mean_pv(self) -> torch.Tensor:
        """PV state mean (computed once)."""
        return self._dynamic_model.mean2pv(self._mean)

    @cached_property
    def cov_pv(self) -> torch.Tensor:
        """PV state covariance (computed once)."""
        return self._dynamic_model.cov2pv(self._cov)

    def predict(
        self,
        dt: float | None = None,
        destination_time: float | None = None,
        destination_frame_num: int | None = None,
    ) -> EKFState:
        """The estimate ``dt`` later (or at ``destination_time``): a new state.

        Give exactly one of ``dt`` and ``destination_time`` (the latter avoids
        accumulating round-off in the time).

        Raises:
            ValueError: if both or neither of ``dt``/``destination_time`` are given, or
                the new state would have no time at all.
        """
        if (dt is None) == (destination_time is None):
            raise ValueError("EKFState.predict: give exactly one of dt and destination_time")
        if dt is None:
            if self._time is None:
                raise ValueError("EKFState.predict: destination_time needs a state with a time")
            dt = destination_time - self._time  # type: ignore[operator]
        elif self._time is not None:
            destination_time = self._time + dt
        if destination_time is None and destination_frame_num is None:
            raise ValueError(
                "EKFState.predict: destination_time or destination_frame_num must be specified"
            )
        model = self._dynamic_model
        F = model.jacobian(dt)
        mean = model(self._mean, dt)
        cov = F @ self._cov @ F.transpose(-1, -2) + model.process_noise_cov(dt)
        return EKFState(model, mean, cov, destination_time, destination_frame_num)

    def _check_aligned(self, measurement: DifferentiableMeasurement) -> None:
        if self._time is not None and self._time != measurement.time:
            raise ValueError(
                f"EKFState: state time {self._time} and measurement time "
                f"{measurement.time} must be aligned (predict to the measurement's time)"
            )
        if self._frame_num is not None and self._frame_num != measurement.frame_num:
            raise ValueError(
                f"EKFState: state frame {self._frame_num} and measurement frame "
                f"{measurement.frame_num} must be aligned"
            )

    def _innovation_terms(
        self, measurement: DifferentiableMeasurement
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x_pv = self._dynamic_model.mean2pv(self._mean)
        H = measurement.jacobian(x_pv)[:, : self.dimension]
        dz = measurement.geodesic_difference(measurement.mean, measurement(x_pv))
        S = H @ self._cov @ H.transpose(-1, -2) + measurement.cov
        return dz, S, H

    def innovation(
        self, measurement: DifferentiableMeasurement
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The innovation ``(dz, S)`` an update with ``measurement`` would make.

        Raises:
            ValueError: if the measurement's time differs from the state's.
        """
        if self._time != measurement.time:
            raise ValueError(
                f"EKFState.innovation: state time {self._time} and measurement time "
                f"{measurement.time} must be aligned"
            )
        dz, S, _ = self._innovation_terms(measurement)
        return dz, S

    def log_likelihood_of_update(self, measurement: DifferentiableMeasurement) -> torch.Tensor:
        """``log N(dz; 0, S)``: how well ``measurement`` fits this estimate (for gating)."""
        dz, S = self.innovation(measurement)
        return MultivariateNormal(S.new_zeros(S.size(-1)), S).log_prob(dz)

    def update(
        self, measurement: DifferentiableMeasurement
    ) -> tuple[EKFState, tuple[torch.Tensor, torch.Tensor]]:
        """Fold in a time-aligned measurement.

        Returns:
            ``(new_state, (dz, S))``: the updated state and the innovation.

        Raises:
            ValueError: if the measurement is not aligned with the state in time.
        """
        self._check_aligned(measurement)
        dz, S, H = self._innovation_terms(measurement)
        P = self._cov
        R = measurement.cov
        # K = P H^T S^-1, computed as (S^-1 H P)^T since S and P are symmetric
        K = torch.linalg.solve(S, H @ P).transpose(-1, -2)
        dx = K @ dz
        mean = self._dynamic_model.geodesic_difference(self._mean, -dx)
        I_KH = eye_like(P, self.dimension) - K @ H
        cov = I_KH @ P @ I_KH.transpose(-1, -2) + K @ R @ K.transpose(-1, -2)
        new = EKFState(self._dynamic_model, mean, cov, self._time, self._frame_num)
        return new, (dz, S)
