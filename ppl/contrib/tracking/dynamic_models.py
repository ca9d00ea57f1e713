"""Target dynamic models for tracking: how a state moves and how uncertain it gets.

A model maps a *native* state ``x`` over a time step ``dt`` (``forward``), gives the
Jacobian ``F`` of that map and the process noise covariance ``Q`` accumulated over
``dt``. Models also convert native states to *PV* form (positions then velocities),
the common currency of measurements and of mixtures of models.

* NCP (nearly constant position): native state = positions (``d``), ``F = I``.
* NCV (nearly constant velocity): native state = positions and velocities
  (``d = 2k``), ``F = [[I, dt I], [0, I]]``.

Each comes with continuous or discrete white noise (Bar-Shalom et al., *Estimation
with Applications to Tracking and Navigation*, 2001, pp. 269-273); the noise
scalings follow Pyro's ``pyro.contrib.tracking`` exactly. The noise variance is a
learnable ``nn.Parameter`` (``sv2`` or ``sa2``); the parameter-free part of ``F`` and
``Q`` is cached per ``dt``, and ``Q`` is rebuilt from the parameter at every call so
gradients flow.

Example:
    >>> import torch
    >>> ncv = NcvContinuous(dimension=2, sa2=1.0)
    >>> ncv(torch.tensor([0.0, 2.0]), dt=0.5).tolist()  # position += dt * velocity
    [1.0, 2.0]
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any

import torch
from torch import nn

from ppl.distributions import MultivariateNormal

__all__ = [
    "DifferentiableDynamicModel",
    "DynamicModel",
    "Ncp",
    "NcpContinuous",
    "NcpDiscrete",
    "Ncv",
    "NcvContinuous",
    "NcvDiscrete",
]


class DynamicModel(nn.Module, metaclass=ABCMeta):
    """The interface of a dynamic model.

    Args:
        dimension: size of the native state.
        dimension_pv: size of the PV state.
        num_process_noise_parameters: size of the process noise parameter space (for
            unscented filters; None for EKFs).
    """

    def __init__(
        self, dimension: int, dimension_pv: int, num_process_noise_parameters: int | None = None
    ) -> None:
        super().__init__()
        self._dimension = dimension
        self._dimension_pv = dimension_pv
        self._num_process_noise_parameters = num_process_noise_parameters

    @property
    def dimension(self) -> int:
        """Size of the native state."""
        return self._dimension

    @property
    def dimension_pv(self) -> int:
        """Size of the PV state."""
        return self._dimension_pv

    @property
    def num_process_noise_parameters(self) -> int | None:
        """Size of the process noise parameter space."""
        return self._num_process_noise_parameters

    @abstractmethod
    def forward(self, x: torch.Tensor, dt: float, do_normalization: bool = True) -> torch.Tensor:
        """Integrate native state ``x`` over ``dt``."""
        raise NotImplementedError

    def geodesic_difference(self, x1: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """``x1 - x0`` on the state manifold (euclidean by default)."""
        return x1 - x0

    @abstractmethod
    def mean2pv(self, x: torch.Tensor) -> torch.Tensor:
        """The PV state of native state mean ``x``."""
        raise NotImplementedError

    @abstractmethod
    def cov2pv(self, P: torch.Tensor) -> torch.Tensor:
        """The PV covariance of native covariance ``P``."""
        raise NotImplementedError

    @abstractmethod
    def process_noise_cov(self, dt: float = 0.0) -> torch.Tensor:
        """The process noise covariance ``Q`` accumulated over ``dt``."""
        raise NotImplementedError

    def process_noise_dist(self, dt: float = 0.0) -> MultivariateNormal:
        """The distribution of the state displacement due to noise over ``dt``."""
        Q = self.process_noise_cov(dt)
        return MultivariateNormal(Q.new_zeros(Q.shape[-1]), Q)


class DifferentiableDynamicModel(DynamicModel):
    """A dynamic model with a state transition Jacobian ``F`` (for EKFs)."""

    @abstractmethod
    def jacobian(self, dt: float) -> torch.Tensor:
        """``F = d forward / d x`` over ``dt``."""
        raise NotImplementedError


def _variance_parameter(who: str, value: Any) -> nn.Parameter:
    value = (
        torch.as_tensor(value, dtype=torch.get_default_dtype())
        if not isinstance(value, torch.Tensor)
        else value
    )
    if value.dim() != 0:
        raise ValueError(
            f"{who}: the noise variance must be a scalar, got shape {tuple(value.shape)}"
        )
    return nn.Parameter(value)


class _UnitCache:
    """Parameter-free matrices per ``dt``, built once by ``make(dt)`` on ``like``'s dtype
    and device (so ``model.double()`` or ``model.to(device)`` is respected)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[float, torch.dtype, torch.device], torch.Tensor] = {}

    def get(self, dt: float, like: torch.Tensor, make: Any) -> torch.Tensor:
        key = (dt, like.dtype, like.device)
        unit = self._cache.get(key)
        if unit is None:
            unit = self._cache[key] = make(dt).to(like)
        return unit


class Ncp(DifferentiableDynamicModel):
    """Nearly-constant position: the native state is the position (``dimension``).

    Args:
        dimension: number of position coordinates.
        sv2: variance of the velocity (roughly half the largest expected speed, squared).
    """

    def __init__(self, dimension: int, sv2: Any) -> None:
        super().__init__(dimension, 2 * dimension, num_process_noise_parameters=1)
        self.sv2 = _variance_parameter(type(self).__name__, sv2)
        self._units = _UnitCache()

    def forward(self, x: torch.Tensor, dt: float, do_normalization: bool = True) -> torch.Tensor:
        return x

    def mean2pv(self, x: torch.Tensor) -> torch.Tensor:
        """``[x, 0]``: positions, zero velocities."""
        return torch.cat([x, torch.zeros_like(x)], dim=-1)

    def cov2pv(self, P: torch.Tensor) -> torch.Tensor:
        """``[[P, 0], [0, 0]]``."""
        d = self._dimension
        out = P.new_zeros(2 * d, 2 * d)
        return out.index_put((torch.arange(d).unsqueeze(-1), torch.arange(d)), P)

    def jacobian(self, dt: float) -> torch.Tensor:
        """``F = I``."""
        return self._units.get(0.0, self.sv2, lambda _: torch.eye(self._dimension))

    def process_noise_cov(self, dt: float = 0.0) -> torch.Tensor:
        """``Q = sv2 * dt**2 * I`` (the same for both noise flavours, as in Pyro)."""
        eye = self.jacobian(dt)
        return self.sv2 * (dt * dt) * eye


class NcpContinuous(Ncp):
    """NCP with continuous white noise velocity (Bar-Shalom et al., p. 269)."""


class NcpDiscrete(Ncp):
    """NCP with discrete white noise velocity (Bar-Shalom et al., p. 273)."""


class Ncv(DifferentiableDynamicModel):
    """Nearly-constant velocity: native state ``[positions, velocities]`` (``dimension``).

    Args:
        dimension: size of the state, twice the number of position coordinates.
        sa2: variance of the acceleration.

    Raises:
        ValueError: if ``dimension`` is odd.
    """

    def __init__(self, dimension: int, sa2: Any) -> None:
        if dimension % 2:
            raise ValueError(
                f"{type(self).__name__}: dimension must be even (positions and velocities), "
                f"got {dimension}"
            )
        super().__init__(dimension, dimension, num_process_noise_parameters=1)
        self.sa2 = _variance_parameter(type(self).__name__, sa2)
        self._F_cache = _UnitCache()
        self._Q_units = _UnitCache()

    def _blocks(self, a: float, b: float, c: float, d: float) -> torch.Tensor:
        """``[[a I, b I], [c I, d I]]`` with ``k x k`` identity blocks."""
        k = self._dimension // 2
        eye = torch.eye(k)
        return torch.cat(
            [torch.cat([a * eye, b * eye], dim=1), torch.cat([c * eye, d * eye], dim=1)], dim=0
        )

    def forward(self, x: torch.Tensor, dt: float, do_normalization: bool = True) -> torch.Tensor:
        return self.jacobian(dt) @ x

    def mean2pv(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def cov2pv(self, P: torch.Tensor) -> torch.Tensor:
        return P

    def jacobian(self, dt: float) -> torch.Tensor:
        """``F = [[I, dt I], [0, I]]``."""
        return self._F_cache.get(dt, self.sa2, lambda dt: self._blocks(1.0, dt, 0.0, 1.0))

    @abstractmethod
    def _q_unit(self, dt: float) -> torch.Tensor:
        raise NotImplementedError

    def process_noise_cov(self, dt: float = 0.0) -> torch.Tensor:
        return self.sa2 * self._Q_units.get(dt, self.sa2, self._q_unit)


class NcvContinuous(Ncv):
    """NCV with continuous white noise acceleration (Bar-Shalom et al., p. 269).

    ``Q = sa2 * dt * [[dt**3/3 I, dt**2/2 I], [dt**2/2 I, dt I]]`` (Pyro's scaling).
    """

    def _q_unit(self, dt: float) -> torch.Tensor:
        return dt * self._blocks(dt**3 / 3.0, dt**2 / 2.0, dt**2 / 2.0, dt)


class NcvDiscrete(Ncv):
    """NCV with discrete white noise acceleration (Bar-Shalom et al., p. 273).

    ``Q = sa2 * [[dt**4/4 I, dt**3/2 I], [dt**3/2 I, dt**2 I]]``, of rank ``dimension/2``
    (positive semi-definite only).
    """

    def _q_unit(self, dt: float) -> torch.Tensor:
        return self._blocks(dt**4 / 4.0, dt**3 / 2.0, dt**3 / 2.0, dt**2)
