"""Hidden Markov models with a time axis in the event shape (Pyro's ``pyro.distributions.hmm``).

Design notes
------------
Every model here has ``event_shape == (duration, obs_dim)``: one draw is a whole
sequence. Parameters may be *homogeneous* (no time axis, or a time axis of size 1, so
the same factor serves every step) or *heterogeneous* (a time axis of size
``duration``). When every parameter is homogeneous the event shape is ``(1, obs_dim)``
and broadcasts against data of any length; sampling then needs an explicit
``duration``.

:class:`GaussianHMM` is linear-Gaussian (a Kalman filter model). Its likelihood is an
integral over all hidden states, done exactly with the information-form Gaussians of
:mod:`ppl.ops.gaussian`: each step contributes one factor over ``(z[t-1], z[t])``, the
transition times the observation likelihood of ``x[t]``; a parallel scan
(:func:`~ppl.ops.gaussian.sequential_gaussian_tensordot`) contracts the chain in
``log2(T)`` rounds, the initial factor is contracted into it and the last state is
integrated. The log normalizer is tracked throughout, so ``log_prob`` is exact and
differentiable in every parameter. Sampling runs the same scan forward and samples
backward (:func:`~ppl.ops.gaussian.sequential_gaussian_filter_sample`).

:class:`LinearHMM` has the same linear dynamics with arbitrary (reparameterizable)
noise; it samples but has no closed-form density. Conditioned on auxiliary variables
chosen by component reparameterizers, it becomes a :class:`GaussianHMM`
(:class:`ppl.infer.reparam.LinearHMMReparam`). :class:`IndependentHMM` views a batch
of univariate HMMs as one multivariate sequence.

Example:
    >>> import torch, ppl.distributions as dist
    >>> hmm = GaussianHMM(dist.Normal(torch.zeros(1), 1.0).to_event(1),
    ...                   torch.ones(1, 1), dist.Normal(torch.zeros(1), 1.0).to_event(1),
    ...                   torch.ones(1, 1), dist.Normal(torch.zeros(1), 1.0).to_event(1),
    ...                   duration=3)
    >>> hmm.event_shape, hmm.sample().shape
    (torch.Size([3, 1]), torch.Size([3, 1]))
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Distribution, constraints

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.torch_dists import Independent, MultivariateNormal
from ppl.distributions.util import EMPTY_SHAPE, broadcast_shape
from ppl.ops.gaussian import (
    AffineNormal,
    Gaussian,
    gaussian_tensordot,
    matrix_and_mvn_to_gaussian,
    mvn_to_gaussian,
    sequential_gaussian_filter_sample,
    sequential_gaussian_tensordot,
)
from ppl.ops.special import safe_log

__all__ = ["DiscreteHMM", "GaussianHMM", "HiddenMarkovModel", "IndependentHMM", "LinearHMM"]

_Factor = Gaussian | AffineNormal


def _is_gaussian_noise(d: Any) -> bool:
    """A ``MultivariateNormal`` or an ``Independent(Normal, 1)`` (what :mod:`ppl.ops.gaussian`
    converts to information form)."""
    if isinstance(d, torch.distributions.MultivariateNormal):
        return True
    return (
        isinstance(d, torch.distributions.Independent)
        and isinstance(d.base_dist, torch.distributions.Normal)
        and d.reinterpreted_batch_ndims == 1
    )


class HiddenMarkovModel(TorchDistribution):
    """Base class of the HMMs: the ``duration`` bookkeeping of the time axis.

    Args:
        duration: the size of the time axis ``event_shape[0]``, or None to take it from
            the parameters. Needed to sample a homogeneous model (whose parameters have
            no time axis).
        batch_shape: the batch shape.
        event_shape: ``(time, obs_dim)`` from the parameters (``time`` is 1 when they are
            homogeneous).

    Raises:
        ValueError: if ``duration`` contradicts a heterogeneous time axis.
    """

    def __init__(
        self,
        duration: int | None,
        batch_shape: torch.Size,
        event_shape: torch.Size,
        validate_args: bool | None = None,
    ) -> None:
        event_shape = torch.Size(event_shape)
        if duration is None:
            if event_shape[0] != 1:
                duration = event_shape[0]
        elif duration != event_shape[0]:
            if event_shape[0] != 1:
                raise ValueError(
                    f"{type(self).__name__}: duration={duration} contradicts the parameters' "
                    f"time axis of size {event_shape[0]} (event_shape {tuple(event_shape)})"
                )
            event_shape = torch.Size((duration,)) + event_shape[1:]
        self._duration = duration
        super().__init__(torch.Size(batch_shape), event_shape, validate_args=validate_args)

    @property
    def duration(self) -> int | None:
        """The size of the time axis, or None when it is unknown (homogeneous, unset)."""
        return self._duration

    def _validate_sample(self, value: torch.Tensor) -> None:
        if value.dim() < self.event_dim:
            raise ValueError(
                f"{type(self).__name__}: value of shape {tuple(value.shape)} has fewer than "
                f"the {self.event_dim} event dims (time, obs_dim)"
            )
        if self.duration is not None:
            super()._validate_sample(value)
            return
        # a homogeneous model scores sequences of any length: check against that length
        saved = self._event_shape
        self._event_shape = torch.Size((value.size(-self.event_dim),)) + saved[1:]
        try:
            super()._validate_sample(value)
        finally:
            self._event_shape = saved

    def _time_batch(self) -> torch.Size:
        if self.duration is None:
            raise ValueError(
                f"{type(self).__name__}: cannot sample a homogeneous model without a "
                "duration; pass duration=T"
            )
        return self.batch_shape + (self.duration,)


class GaussianHMM(HiddenMarkovModel):
    """A linear-Gaussian state space model over a whole sequence, with an exact ``log_prob``.

    The generative process, with ``@`` a row vector times a matrix::

        z = initial_dist.sample()
        for t in range(T):
            z = z @ transition_matrix[t] + transition_dist[t].sample()
            x[t] = z @ observation_matrix[t] + observation_dist[t].sample()

    ``log_prob(x)`` integrates every ``z`` out by a parallel scan of Gaussian messages
    (``O(log T)`` sequential depth); :meth:`filter` gives the posterior of the last state,
    :meth:`rsample` joint draws of ``x`` and :meth:`rsample_posterior` draws of ``z``
    given ``x``.

    Args:
        initial_dist: ``MultivariateNormal`` or ``Independent(Normal, 1)`` with event
            shape ``(hidden_dim,)``, batch shape broadcastable to ``batch_shape``.
        transition_matrix: ``(..., [T,] hidden_dim, hidden_dim)``, ordered ``(old, new)``.
        transition_dist: process noise, event shape ``(hidden_dim,)``, batch shape
            broadcastable to ``batch_shape + (T,)``.
        observation_matrix: ``(..., [T,] hidden_dim, obs_dim)``.
        observation_dist: observation noise, event shape ``(obs_dim,)``.
        validate_args: torch's validation switch.
        duration: the number of steps ``T`` (needed only to sample a homogeneous model).

    Raises:
        TypeError: if a distribution is not Gaussian or a matrix is not a tensor.
        ValueError: if the event shapes and matrix shapes disagree.

    Example:
        >>> import torch, ppl.distributions as dist
        >>> unit = dist.Normal(torch.zeros(1), 1.0).to_event(1)
        >>> hmm = GaussianHMM(unit, torch.ones(1, 1), unit, torch.ones(1, 1), unit)
        >>> # one step: x = z0 + w + v, a Normal with variance 3
        >>> x = torch.tensor([[0.5]])
        >>> bool(torch.isclose(hmm.log_prob(x), dist.Normal(0.0, 3 ** 0.5).log_prob(x).sum()))
        True
    """

    has_rsample = True
    arg_constraints: dict[str, constraints.Constraint] = {}
    support = constraints.independent(constraints.real, 2)

    def __init__(
        self,
        initial_dist: Distribution,
        transition_matrix: torch.Tensor,
        transition_dist: Distribution,
        observation_matrix: torch.Tensor,
        observation_dist: Distribution,
        validate_args: bool | None = None,
        duration: int | None = None,
    ) -> None:
        for arg_name, d in (
            ("initial_dist", initial_dist),
            ("transition_dist", transition_dist),
            ("observation_dist", observation_dist),
        ):
            if not _is_gaussian_noise(d):
                raise TypeError(
                    f"GaussianHMM: {arg_name} must be a MultivariateNormal or "
                    f"Independent(Normal, 1), got {type(d).__name__}"
                )
        hidden_dim, obs_dim = _check_linear_shapes(
            "GaussianHMM",
            initial_dist,
            transition_matrix,
            transition_dist,
            observation_matrix,
            observation_dist,
        )
        batch_shape, time_shape = _hmm_shapes(
            initial_dist, transition_matrix, transition_dist, observation_matrix, observation_dist
        )
        super().__init__(
            duration, batch_shape, time_shape + (obs_dim,), validate_args=validate_args
        )
        self.hidden_dim = hidden_dim
        self.obs_dim = obs_dim
        self._init: Gaussian = mvn_to_gaussian(initial_dist).expand(self.batch_shape)
        self._trans: _Factor = matrix_and_mvn_to_gaussian(transition_matrix, transition_dist)
        self._obs: _Factor = matrix_and_mvn_to_gaussian(observation_matrix, observation_dist)

    # ------------------------------------------------------------------ construction
    def _new(
        self,
        init: Gaussian,
        trans: _Factor,
        obs: _Factor,
        duration: int | None,
        batch_shape: torch.Size,
    ) -> GaussianHMM:
        new = self._get_checked_instance(GaussianHMM, None)
        new.hidden_dim = self.hidden_dim
        new.obs_dim = self.obs_dim
        new._init, new._trans, new._obs = init, trans, obs
        time = duration if duration is not None else 1
        HiddenMarkovModel.__init__(
            new, duration, batch_shape, torch.Size((time, self.obs_dim)), validate_args=False
        )
        new._validate_args = self.__dict__.get("_validate_args")
        return new

    def expand(self, batch_shape: Any, _instance: Any = None) -> GaussianHMM:
        """Broadcast to ``batch_shape``; only the initial factor is expanded (the scan
        broadcasts the others), so expanding is cheap."""
        batch_shape = torch.Size(broadcast_shape(self.batch_shape, torch.Size(batch_shape)))
        new = self._new(
            self._init.expand(batch_shape), self._trans, self._obs, self.duration, batch_shape
        )
        new._event_shape = self.event_shape
        return new

    # ------------------------------------------------------------------ inference
    def _conditioned_chain(self, value: torch.Tensor) -> Gaussian:
        """The Gaussian over ``(z_0, z_T)`` after observing ``value``, with the initial
        factor already multiplied in (``dims`` of ``z_0`` integrated)."""
        steps = self._trans + self._obs.condition(value).event_pad(left=self.hidden_dim)
        chain = sequential_gaussian_tensordot(steps.expand(steps.batch_shape))
        return gaussian_tensordot(self._init, chain, dims=self.hidden_dim)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log p(x[0:T])`` with every hidden state integrated out exactly."""
        if self._validate_args:
            self._validate_sample(value)
        return self._conditioned_chain(value).event_logsumexp()

    def filter(self, value: torch.Tensor) -> MultivariateNormal:
        """The posterior ``p(z[T-1] | x[0:T])`` of the final hidden state.

        Its result can serve as the ``initial_dist`` of a model that forecasts onward.

        Example:
            >>> import torch, ppl.distributions as dist
            >>> unit = dist.Normal(torch.zeros(1), 1.0).to_event(1)
            >>> hmm = GaussianHMM(unit, torch.ones(1, 1), unit, torch.ones(1, 1), unit)
            >>> post = hmm.filter(torch.tensor([[3.0]]))  # z ~ N(0, 2), x = z + v
            >>> round(float(post.loc), 4), round(float(post.variance), 4)
            (2.0, 0.6667)
        """
        if self._validate_args:
            self._validate_sample(value)
        last = self._conditioned_chain(value)
        precision = last.precision
        factor = torch.linalg.cholesky(precision)
        loc = torch.cholesky_solve(last.info_vec.unsqueeze(-1), factor).squeeze(-1)
        return MultivariateNormal(
            loc, precision_matrix=precision, validate_args=self._validate_args
        )

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        """Joint reparameterized draws ``sample_shape + batch_shape + (T, obs_dim)``."""
        time_batch = self._time_batch()
        # the hidden chain alone: each step's observation factor integrates to one
        steps = self._trans + self._obs.marginalize(right=self.obs_dim).event_pad(
            left=self.hidden_dim
        )
        steps = steps.expand(steps.batch_shape[:-1] + time_batch[-1:])
        z = sequential_gaussian_filter_sample(self._init, steps, torch.Size(sample_shape))
        draws = self._obs.left_condition(z[..., 1:, :]).rsample()
        return draws.expand(torch.Size(sample_shape) + time_batch[:-1] + self.event_shape)

    def rsample_posterior(
        self, value: torch.Tensor, sample_shape: Any = EMPTY_SHAPE
    ) -> torch.Tensor:
        """Draws of the hidden states ``z[0:T]`` given observations ``value``
        (``sample_shape + batch_shape + (T, hidden_dim)``)."""
        steps = self._trans + self._obs.condition(value).event_pad(left=self.hidden_dim)
        steps = steps.expand(steps.batch_shape)
        z = sequential_gaussian_filter_sample(self._init, steps, torch.Size(sample_shape))
        return z[..., 1:, :]

    def conjugate_update(self, other: Distribution) -> tuple[GaussianHMM, torch.Tensor]:
        """Fuse a Gaussian likelihood ``other`` over the whole sequence into the model.

        ``other`` is an ``Independent`` of ``Normal`` or ``MultivariateNormal`` with event
        shape ``(T, obs_dim)``, read as a function of the data. Returns ``(updated,
        log_normalizer)`` with ``self.log_prob(x) + other.log_prob(x) ==
        updated.log_prob(x) + log_normalizer``.

        Raises:
            TypeError: if ``other`` is not such a distribution.
            ValueError: if its event shape is not ``(T, obs_dim)``.
        """
        if not (
            isinstance(other, torch.distributions.Independent)
            and isinstance(
                other.base_dist,
                (torch.distributions.Normal, torch.distributions.MultivariateNormal),
            )
        ):
            raise TypeError(
                "GaussianHMM.conjugate_update: expected an Independent of Normal or "
                f"MultivariateNormal, got {type(other).__name__}"
            )
        duration = other.event_shape[0] if self.duration is None else self.duration
        if other.event_shape != (duration, self.obs_dim):
            raise ValueError(
                f"GaussianHMM.conjugate_update: other's event shape {tuple(other.event_shape)} "
                f"!= {(duration, self.obs_dim)}"
            )
        per_step = other.to_event(-1)  # type: ignore[attr-defined]
        obs = self._obs + mvn_to_gaussian(per_step).event_pad(left=self.hidden_dim)
        steps = self._trans + obs.marginalize(right=self.obs_dim).event_pad(left=self.hidden_dim)
        chain = sequential_gaussian_tensordot(steps.expand(steps.batch_shape))
        log_normalizer = gaussian_tensordot(self._init, chain, dims=self.hidden_dim)
        log_normalizer_t = log_normalizer.event_logsumexp()
        new = self._new(
            self._init - log_normalizer_t, self._trans, obs, duration, log_normalizer_t.shape
        )
        return new, log_normalizer_t

    def prefix_condition(self, data: torch.Tensor) -> GaussianHMM:
        """Condition on the first ``t`` observations ``data`` (``(..., t, obs_dim)``,
        ``t < duration``); the result is a GaussianHMM over the remaining steps.

        Raises:
            ValueError: if ``data`` is not shorter than the duration or has another
                ``obs_dim``.
        """
        if data.dim() < 2 or data.size(-1) != self.obs_dim:
            raise ValueError(
                f"GaussianHMM.prefix_condition: data must be (..., t, {self.obs_dim}), "
                f"got {tuple(data.shape)}"
            )
        if self.duration is None or data.size(-2) >= self.duration:
            raise ValueError(
                f"GaussianHMM.prefix_condition: data has {data.size(-2)} steps, needs fewer "
                f"than the duration {self.duration}"
            )
        t = data.size(-2)

        def split(f: _Factor) -> tuple[_Factor, _Factor]:
            if not f.batch_shape or f.batch_shape[-1] == 1:  # homogeneous
                return f, f
            return f[..., :t], f[..., t:]

        trans_head, trans_tail = split(self._trans)
        obs_head, obs_tail = split(self._obs)
        head = self._new(self._init, trans_head, obs_head, t, self.batch_shape)
        init = mvn_to_gaussian(head.filter(data))
        batch_shape = torch.Size(broadcast_shape(init.batch_shape, self.batch_shape))
        tail = self._new(
            init.expand(batch_shape), trans_tail, obs_tail, self.duration - t, batch_shape
        )
        tail._validate_args = self._validate_args
        return tail


def _check_linear_shapes(
    who: str,
    initial_dist: Distribution,
    transition_matrix: torch.Tensor,
    transition_dist: Distribution,
    observation_matrix: torch.Tensor,
    observation_dist: Distribution,
) -> tuple[int, int]:
    for arg_name, m in (
        ("transition_matrix", transition_matrix),
        ("observation_matrix", observation_matrix),
    ):
        if not isinstance(m, torch.Tensor) or m.dim() < 2:
            raise TypeError(f"{who}: {arg_name} must be a tensor with >= 2 dims, got {m!r}")
    hidden_dim, obs_dim = observation_matrix.shape[-2:]
    expected = {
        "initial_dist.event_shape": ((hidden_dim,), tuple(initial_dist.event_shape)),
        "transition_matrix.shape[-2:]": (
            (hidden_dim, hidden_dim),
            tuple(transition_matrix.shape[-2:]),
        ),
        "transition_dist.event_shape": ((hidden_dim,), tuple(transition_dist.event_shape)),
        "observation_dist.event_shape": ((obs_dim,), tuple(observation_dist.event_shape)),
    }
    for what, (want, got) in expected.items():
        if want != got:
            raise ValueError(
                f"{who}: expected {what} == {want} (hidden_dim={hidden_dim}, "
                f"obs_dim={obs_dim} from observation_matrix), got {got}"
            )
    return hidden_dim, obs_dim


def _hmm_shapes(
    initial_dist: Distribution,
    transition_matrix: torch.Tensor,
    transition_dist: Distribution,
    observation_matrix: torch.Tensor,
    observation_dist: Distribution,
) -> tuple[torch.Size, torch.Size]:
    """``(batch_shape, time_shape)`` from the broadcast of every parameter's batch."""
    shape = broadcast_shape(
        initial_dist.batch_shape + (1,),
        transition_matrix.shape[:-2],
        transition_dist.batch_shape,
        observation_matrix.shape[:-2],
        observation_dist.batch_shape,
    )
    shape = torch.Size(shape)
    return shape[:-1], shape[-1:]


def _linear_rollout(
    init: torch.Tensor, matrices: torch.Tensor, shifts: torch.Tensor
) -> torch.Tensor:
    """States of ``z[t] = z[t-1] @ matrices[t] + shifts[t]`` from ``z[-1] = init``:
    ``(..., T, dim)``."""
    states = []
    z = init
    for t in range(matrices.size(-3)):
        z = (z.unsqueeze(-2) @ matrices[..., t, :, :]).squeeze(-2) + shifts[..., t, :]
        states.append(z)
    return torch.stack(states, dim=-2)


class LinearHMM(HiddenMarkovModel):
    """Linear dynamics and observations with arbitrary reparameterizable noise.

    The process is that of :class:`GaussianHMM`, but ``initial_dist``,
    ``transition_dist`` and ``observation_dist`` may be any distributions with
    ``rsample`` and event dim 1 (e.g. ``Stable`` or ``StudentT`` made ``to_event(1)``);
    ``observation_dist`` may also be a ``TransformedDistribution`` (e.g. ``LogNormal``),
    whose transforms are applied to ``z @ observation_matrix + noise``. It samples, but
    has no ``log_prob``: infer with :class:`~ppl.infer.reparam.LinearHMMReparam` (which
    turns it into a :class:`GaussianHMM` given auxiliary variables) or likelihood-free
    methods. At least one parameter must carry the time axis unless ``duration`` is set.

    Args: as :class:`GaussianHMM`.

    Example:
        >>> import torch, ppl.distributions as dist
        >>> noise = dist.StudentT(3.0, torch.zeros(2), 1.0).to_event(1)
        >>> hmm = LinearHMM(noise, torch.eye(2), noise, torch.eye(2), noise, duration=4)
        >>> hmm.rsample((5,)).shape
        torch.Size([5, 4, 2])
    """

    arg_constraints: dict[str, constraints.Constraint] = {}
    has_rsample = True

    def __init__(
        self,
        initial_dist: Distribution,
        transition_matrix: torch.Tensor,
        transition_dist: Distribution,
        observation_matrix: torch.Tensor,
        observation_dist: Distribution,
        validate_args: bool | None = None,
        duration: int | None = None,
    ) -> None:
        for arg_name, d in (
            ("initial_dist", initial_dist),
            ("transition_dist", transition_dist),
            ("observation_dist", observation_dist),
        ):
            if not d.has_rsample or len(d.event_shape) != 1:
                raise ValueError(
                    f"LinearHMM: {arg_name} must have rsample and event dim 1, got "
                    f"{type(d).__name__} with event shape {tuple(d.event_shape)}"
                )
        hidden_dim, obs_dim = _check_linear_shapes(
            "LinearHMM",
            initial_dist,
            transition_matrix,
            transition_dist,
            observation_matrix,
            observation_dist,
        )
        batch_shape, time_shape = _hmm_shapes(
            initial_dist, transition_matrix, transition_dist, observation_matrix, observation_dist
        )
        super().__init__(
            duration, batch_shape, time_shape + (obs_dim,), validate_args=validate_args
        )
        bt = batch_shape + time_shape
        if initial_dist.batch_shape != batch_shape:
            initial_dist = initial_dist.expand(batch_shape)
        transition_matrix = transition_matrix.expand(bt + (hidden_dim, hidden_dim))
        if transition_dist.batch_shape != bt:
            transition_dist = transition_dist.expand(bt)
        observation_matrix = observation_matrix.expand(bt + (hidden_dim, obs_dim))
        if observation_dist.batch_shape != bt:
            observation_dist = observation_dist.expand(bt)
        # peel Independent/TransformedDistribution layers off the observation noise
        transforms: list[Any] = []
        while True:
            if isinstance(observation_dist, torch.distributions.Independent):
                observation_dist = observation_dist.base_dist
            elif isinstance(observation_dist, torch.distributions.TransformedDistribution):
                transforms = list(observation_dist.transforms) + transforms
                observation_dist = observation_dist.base_dist
            else:
                break
        if not observation_dist.event_shape:
            observation_dist = Independent(observation_dist, 1)
        self.hidden_dim = hidden_dim
        self.obs_dim = obs_dim
        self.initial_dist = initial_dist
        self.transition_matrix = transition_matrix
        self.transition_dist = transition_dist
        self.observation_matrix = observation_matrix
        self.observation_dist = observation_dist
        self.transforms = transforms

    @constraints.dependent_property(event_dim=2)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(self.observation_dist.support, 1)

    def expand(self, batch_shape: Any, _instance: Any = None) -> LinearHMM:
        new = self._get_checked_instance(LinearHMM, _instance)
        batch_shape = torch.Size(batch_shape)
        bt = batch_shape + self.transition_dist.batch_shape[-1:]
        new.hidden_dim = self.hidden_dim
        new.obs_dim = self.obs_dim
        new.initial_dist = self.initial_dist.expand(batch_shape)
        new.transition_matrix = self.transition_matrix.expand(bt + (self.hidden_dim,) * 2)
        new.transition_dist = self.transition_dist.expand(bt)
        new.observation_matrix = self.observation_matrix.expand(
            bt + (self.hidden_dim, self.obs_dim)
        )
        new.observation_dist = self.observation_dist.expand(bt)
        new.transforms = self.transforms
        HiddenMarkovModel.__init__(
            new, self.duration, batch_shape, self.event_shape, validate_args=False
        )
        new._validate_args = self.__dict__.get("_validate_args")
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Not available in closed form.

        Raises:
            NotImplementedError: always; use ``LinearHMMReparam`` or a likelihood-free
                method.
        """
        raise NotImplementedError(
            "LinearHMM.log_prob() has no closed form; reparameterize the site with "
            "ppl.infer.reparam.LinearHMMReparam (it becomes a GaussianHMM) or use a "
            "likelihood-free method such as EnergyDistance"
        )

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        """Draws ``sample_shape + batch_shape + (T, obs_dim)`` by simulating the process."""
        time_batch = self._time_batch()
        sample_shape = torch.Size(sample_shape)
        init = self.initial_dist.rsample(sample_shape)
        process = self.transition_dist.expand(time_batch).rsample(sample_shape)
        noise = self.observation_dist.expand(time_batch).rsample(sample_shape)
        matrices = self.transition_matrix.expand(time_batch + (self.hidden_dim,) * 2)
        z = _linear_rollout(init, matrices, process)
        x = (z.unsqueeze(-2) @ self.observation_matrix).squeeze(-2) + noise
        for t in self.transforms:
            x = t(x)
        return x


class IndependentHMM(TorchDistribution):
    """A batch of univariate HMMs read as one multivariate sequence.

    ``base_dist`` has ``batch_shape == shape + (obs_dim,)`` and ``event_shape ==
    (T, 1)``; the result has ``batch_shape == shape`` and ``event_shape == (T,
    obs_dim)`` (the last batch dim becomes the observation dim).

    Args:
        base_dist: an HMM with event shape ``(T, 1)`` and at least one batch dim.

    Raises:
        ValueError: if ``base_dist`` has no batch dim or another event shape.

    Example:
        >>> import torch, ppl.distributions as dist
        >>> init = dist.Normal(torch.zeros(3, 1), 1.0).to_event(1)  # batch (3,)
        >>> noise = dist.Normal(torch.zeros(3, 1, 1), 1.0).to_event(1)  # batch (3, time=1)
        >>> m = torch.ones(3, 1, 1, 1)
        >>> base = GaussianHMM(init, m, noise, m, noise, duration=5)
        >>> IndependentHMM(base).event_shape, IndependentHMM(base).sample().shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, base_dist: Distribution) -> None:
        if (
            not base_dist.batch_shape
            or len(base_dist.event_shape) != 2
            or base_dist.event_shape[-1] != 1
        ):
            raise ValueError(
                "IndependentHMM: base_dist needs a batch dim and event shape (T, 1), got "
                f"batch shape {tuple(base_dist.batch_shape)} and event shape "
                f"{tuple(base_dist.event_shape)}"
            )
        batch_shape = base_dist.batch_shape[:-1]
        event_shape = base_dist.event_shape[:-1] + base_dist.batch_shape[-1:]
        super().__init__(batch_shape, event_shape)
        self.base_dist = base_dist

    @constraints.dependent_property(event_dim=2)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        support = self.base_dist.support
        assert support is not None  # an HMM always declares its support
        return support

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return bool(self.base_dist.has_rsample)

    @property
    def duration(self) -> int | None:
        return getattr(self.base_dist, "duration", None)

    def expand(self, batch_shape: Any, _instance: Any = None) -> IndependentHMM:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(IndependentHMM, _instance)
        new.base_dist = self.base_dist.expand(batch_shape + self.base_dist.batch_shape[-1:])
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self.__dict__.get("_validate_args")
        return new

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        return self.base_dist.rsample(sample_shape).squeeze(-1).transpose(-1, -2)

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        with torch.no_grad():
            return self.base_dist.sample(sample_shape).squeeze(-1).transpose(-1, -2)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self.base_dist.log_prob(value.transpose(-1, -2).unsqueeze(-1)).sum(-1)


def _logmatmulexp(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``log(exp(a) @ exp(b))`` over the last two dims, as one matmul.

    Each row of ``a`` and column of ``b`` is shifted by its (detached, finite) maximum
    before ``exp``, so nothing overflows; entries of ``-inf`` (impossible transitions)
    become exact zeros of the product, and ``safe_log`` keeps the gradient at such a zero
    finite (zero), where ``log``'s backward would divide 0 by 0.
    """
    lowest = torch.finfo(a.dtype).min
    a_shift = a.detach().amax(-1, keepdim=True).clamp(min=lowest)
    b_shift = b.detach().amax(-2, keepdim=True).clamp(min=lowest)
    product = torch.matmul((a - a_shift).exp(), (b - b_shift).exp())
    return safe_log(product) + a_shift + b_shift


def _sequential_logmatmulexp(logits: torch.Tensor) -> torch.Tensor:
    """The log-space product of a sequence of square matrices, ``(..., T, S, S) ->
    (..., S, S)``: ``log(exp(m_0) @ exp(m_1) @ ... @ exp(m_{T-1}))``.

    Pairs of neighbours are multiplied at once, halving the sequence each round, so the
    depth is ``log2(T)`` batched products instead of ``T`` sequential ones.

    Example:
        >>> m = torch.randn(5, 3, 3)
        >>> loop = m[0]
        >>> for t in range(1, 5):
        ...     loop = _logmatmulexp(loop, m[t])
        >>> torch.allclose(_sequential_logmatmulexp(m), loop, atol=1e-5)
        True
    """
    batch_shape = logits.shape[:-3]
    state_dim = logits.size(-1)
    while logits.size(-3) > 1:
        time = logits.size(-3)
        even = time // 2 * 2
        paired = _logmatmulexp(logits[..., 0:even:2, :, :], logits[..., 1:even:2, :, :])
        if time > even:  # an odd one out waits for the next round
            paired = torch.cat([paired, logits[..., even:, :, :]], dim=-3)
        logits = paired
    return logits.reshape(batch_shape + (state_dim, state_dim))


class DiscreteHMM(HiddenMarkovModel):
    """A hidden Markov model with discrete latent states and any observation model.

    The hidden state starts from ``initial_logits`` at time ``-1``, moves by
    ``transition_logits`` to times ``0 .. T-1``, and at each time the observation is
    drawn from ``observation_dist`` of the current state. ``log_prob`` sums the states
    out exactly (the forward algorithm, as a log-space product of matrices in
    ``log2(T)`` rounds); ``filter`` gives the posterior of the last state.

    Args:
        initial_logits: ``(..., S)`` logits of the state at time ``-1``.
        transition_logits: ``(..., T, S, S)`` (or ``(S, S)``, homogeneous) logits of the
            next state (last dim) given the current one.
        observation_dist: a distribution with batch shape ``(..., T, S)`` (or ``(S,)``)
            giving each state's observation law.
        duration: the number of time steps, needed to sample a homogeneous model.

    Example:
        >>> import ppl.distributions as dist
        >>> hmm = DiscreteHMM(torch.zeros(2), torch.zeros(2, 2),
        ...                   dist.Normal(torch.tensor([-1.0, 1.0]), 1.0), duration=4)
        >>> hmm.event_shape, hmm.sample().shape
        (torch.Size([4]), torch.Size([4]))
    """

    arg_constraints = {"initial_logits": constraints.real, "transition_logits": constraints.real}

    def __init__(
        self,
        initial_logits: torch.Tensor,
        transition_logits: torch.Tensor,
        observation_dist: Distribution,
        validate_args: bool | None = None,
        duration: int | None = None,
    ) -> None:
        if initial_logits.dim() < 1:
            raise ValueError(
                f"DiscreteHMM: initial_logits must have a state dim, got shape "
                f"{tuple(initial_logits.shape)}"
            )
        if transition_logits.dim() < 2 or transition_logits.size(-1) != transition_logits.size(-2):
            raise ValueError(
                "DiscreteHMM: transition_logits must end in a square (S, S), got shape "
                f"{tuple(transition_logits.shape)}"
            )
        if len(observation_dist.batch_shape) < 1:
            raise ValueError(
                "DiscreteHMM: observation_dist needs a state dim in its batch shape, got "
                f"batch_shape {tuple(observation_dist.batch_shape)}"
            )
        state_dim = initial_logits.size(-1)
        if transition_logits.size(-1) != state_dim or observation_dist.batch_shape[-1] not in (
            1,
            state_dim,
        ):
            raise ValueError(
                f"DiscreteHMM: state dims disagree: initial_logits {state_dim}, "
                f"transition_logits {tuple(transition_logits.shape[-2:])}, observation_dist "
                f"batch_shape {tuple(observation_dist.batch_shape)}"
            )
        shape = broadcast_shape(
            initial_logits.shape[:-1] + (1,),
            transition_logits.shape[:-2],
            observation_dist.batch_shape[:-1],
        )
        batch_shape, time_shape = shape[:-1], shape[-1:]
        event_shape = time_shape + observation_dist.event_shape
        self.initial_logits = initial_logits - initial_logits.logsumexp(-1, keepdim=True)
        self.transition_logits = transition_logits - transition_logits.logsumexp(-1, keepdim=True)
        self.observation_dist = observation_dist
        super().__init__(duration, torch.Size(batch_shape), torch.Size(event_shape), validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=None)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(self.observation_dist.support, 1)

    def expand(self, batch_shape: Any, _instance: Any = None) -> DiscreteHMM:
        batch_shape = torch.Size(batch_shape)
        time = self.transition_logits.shape[-3:-2] if self.transition_logits.dim() > 2 else ()
        obs_time = self.observation_dist.batch_shape[-2:-1]
        state_dim = self.initial_logits.size(-1)
        return DiscreteHMM(
            self.initial_logits.expand(batch_shape + (state_dim,)),
            self.transition_logits.expand(batch_shape + tuple(time) + (state_dim, state_dim)),
            self.observation_dist.expand(
                batch_shape + tuple(obs_time) + self.observation_dist.batch_shape[-1:]
            ),
            duration=self.duration,
        )

    def _joint_logits(self, value: torch.Tensor) -> torch.Tensor:
        """``(..., T, S, S)``: transition to each state plus its observation's log-density."""
        obs_dims = len(self.observation_dist.event_shape)
        obs_logp = self.observation_dist.log_prob(value.unsqueeze(-1 - obs_dims))
        return self.transition_logits + obs_logp.unsqueeze(-2)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        chain = _sequential_logmatmulexp(self._joint_logits(value))
        return torch.logsumexp(self.initial_logits.unsqueeze(-1) + chain, dim=(-2, -1))

    def filter(self, value: torch.Tensor) -> torch.distributions.Categorical:
        """The posterior of the state at the last time step given ``value``."""
        chain = _sequential_logmatmulexp(self._joint_logits(value))
        final = torch.logsumexp(self.initial_logits.unsqueeze(-1) + chain, dim=-2)
        return torch.distributions.Categorical(logits=final)

    def sample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        """Forward sampling: a state path from the chain, an observation at each step."""
        shape = torch.Size(sample_shape) + self._time_batch()
        time = shape[-1]
        batch = shape[:-1]
        transition = self.transition_logits.expand(
            batch + (time,) + self.transition_logits.shape[-2:]
        )
        state = torch.distributions.Categorical(
            logits=self.initial_logits.expand(batch + self.initial_logits.shape[-1:])
        ).sample()
        states = []
        for t in range(time):
            rows = transition[..., t, :, :]
            picked = rows.gather(-2, state[..., None, None].expand(batch + (1, rows.size(-1))))
            state = torch.distributions.Categorical(logits=picked.squeeze(-2)).sample()
            states.append(state)
        path = torch.stack(states, dim=-1)  # (*batch, T)
        obs = self.observation_dist.expand(
            batch + (time,) + self.observation_dist.batch_shape[-1:]
        ).sample()  # (*batch, T, S, *event)
        event = self.observation_dist.event_shape
        index = path.reshape(path.shape + (1,) * (1 + len(event))).expand(path.shape + (1,) + event)
        return obs.gather(len(path.shape), index).squeeze(len(path.shape))
