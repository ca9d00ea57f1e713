"""Gaussian measurements of a target state: mean ``z``, noise covariance ``R``, map ``h``.

A measurement is taken at a continuous ``time`` or a discrete ``frame_num``; an
:class:`~.extended_kalman_filter.EKFState` at the same time uses it to update.
States are passed in *PV* form (positions then velocities).

Example:
    >>> import torch
    >>> m = PositionMeasurement(torch.tensor([1.0, 2.0]), torch.eye(2), time=0.0)
    >>> m(torch.tensor([1.5, 2.5, 0.1, 0.2])).tolist()
    [1.5, 2.5]
    >>> m.jacobian().tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch

from ppl.distributions.util import eye_like

__all__ = ["DifferentiableMeasurement", "Measurement", "PositionMeasurement"]


class TimedGaussian:
    """A Gaussian ``(mean, cov)`` stamped with a time and/or frame number: what a
    measurement and a filter's state estimate both are.

    Raises:
        ValueError: if neither ``time`` nor ``frame_num`` is given.

    Example:
        >>> import torch
        >>> TimedGaussian(torch.zeros(2), torch.eye(2), frame_num=3).frame_num
        3
    """

    def __init__(
        self,
        mean: torch.Tensor,
        cov: torch.Tensor,
        time: float | None = None,
        frame_num: int | None = None,
    ) -> None:
        if time is None and frame_num is None:
            raise ValueError(f"{type(self).__name__}: must provide time or frame_num")
        self._mean = mean
        self._cov = cov
        self._time = time
        self._frame_num = frame_num

    @property
    def mean(self) -> torch.Tensor:
        """The mean (a measurement's measured value ``z``)."""
        return self._mean

    @property
    def cov(self) -> torch.Tensor:
        """The covariance (a measurement's noise covariance ``R``)."""
        return self._cov

    @property
    def time(self) -> float | None:
        """Continuous time."""
        return self._time

    @property
    def frame_num(self) -> int | None:
        """Discrete time."""
        return self._frame_num


class Measurement(TimedGaussian, metaclass=ABCMeta):
    """A Gaussian measurement (abstract: subclasses define the map ``h``).

    Args:
        mean: the measured value ``z``, shape ``(m,)``.
        cov: the noise covariance ``R``, shape ``(m, m)``.
        time: continuous time of the measurement.
        frame_num: discrete time of the measurement (one of the two is required).

    Raises:
        ValueError: if neither ``time`` nor ``frame_num`` is given, or ``cov`` is not
            ``(m, m)``.
    """

    def __init__(
        self,
        mean: torch.Tensor,
        cov: torch.Tensor,
        time: float | None = None,
        frame_num: int | None = None,
    ) -> None:
        if time is None and frame_num is None:  # checked first: no shape error for it
            raise ValueError(f"{type(self).__name__}: must provide time or frame_num")
        m = len(mean)
        if cov.shape != (m, m):
            raise ValueError(
                f"{type(self).__name__}: cov must have shape ({m}, {m}) to match mean, "
                f"got {tuple(cov.shape)}"
            )
        self._dimension = m
        super().__init__(mean, cov, time, frame_num)

    @property
    def dimension(self) -> int:
        """Dimension ``m`` of the measurement space."""
        return self._dimension

    @abstractmethod
    def __call__(self, x: torch.Tensor, do_normalization: bool = True) -> torch.Tensor:
        """The measurement ``h(x)`` predicted from PV state ``x``."""
        raise NotImplementedError

    def geodesic_difference(self, z1: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
        """``z1 - z0`` on the measurement manifold (euclidean by default)."""
        return z1 - z0


class DifferentiableMeasurement(Measurement):
    """A measurement whose map has a Jacobian ``H`` (for extended Kalman filters)."""

    @abstractmethod
    def jacobian(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """``H = dh/dx`` at PV state ``x`` (``None`` when ``H`` does not depend on ``x``)."""
        raise NotImplementedError


class PositionMeasurement(DifferentiableMeasurement):
    """A full-rank Gaussian measurement of the position part of a PV state.

    ``h(x) = x[:m]`` and ``H = [I_m, 0]`` (``m x 2m``), on ``mean``'s dtype and device.
    """

    def __init__(
        self,
        mean: torch.Tensor,
        cov: torch.Tensor,
        time: float | None = None,
        frame_num: int | None = None,
    ) -> None:
        super().__init__(mean, cov, time=time, frame_num=frame_num)
        m = self.dimension
        self._jacobian = torch.cat([eye_like(mean, m), mean.new_zeros(m, m)], dim=1)

    def __call__(self, x: torch.Tensor, do_normalization: bool = True) -> torch.Tensor:
        return x[: self._dimension]

    def jacobian(self, x: torch.Tensor | None = None) -> torch.Tensor:
        return self._jacobian
