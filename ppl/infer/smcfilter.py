"""``SMCFilter``: sequential Monte Carlo filtering (sequential importance resampling).

Design notes
------------
The model and the guide are objects with ``init(state, ...)`` and ``step(state, ...)``
methods. Every particle's values live in one :class:`SMCState`, a dict of tensors
whose leading dim indexes the particles, so each call runs *once* for all
particles: inside a plate ``"particles"`` at dim ``-1 - max_plate_nesting``, left of
the model's own plates. Each ``init``/``step``:

1. runs the guide (which may only read the state) and records its draws;
2. replays the model against them (the model writes the new state);
3. adds ``log p - log q`` of every guide site and ``log p`` of every observed site to
   the particles' log-weights (shifted so the largest is 0);
4. resamples when the effective sample size drops below
   ``ess_threshold * num_particles``, by systematic resampling (lower variance
   than multinomial, and it keeps diversity), resetting the weights to uniform.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> class Walk:  # the model writes the state, the guide (is_model=False) only reads it
    ...     def __init__(self, is_model):
    ...         self.is_model = is_model
    ...     def init(self, state):
    ...         z = ppl.sample("z_init", dist.Normal(0.0, 1.0))
    ...         if self.is_model:
    ...             state["z"] = z
    ...         self.t = 0
    ...     def step(self, state, y=None):
    ...         self.t += 1
    ...         z = ppl.sample(f"z_{self.t}", dist.Normal(state["z"], 1.0))
    ...         if self.is_model:
    ...             state["z"] = z
    ...             ppl.sample(f"y_{self.t}", dist.Normal(z, 1.0), obs=y)
    >>> smc = SMCFilter(Walk(True), Walk(False), num_particles=100, max_plate_nesting=0)
    >>> smc.init(); smc.step(torch.tensor(1.0))
    >>> tuple(smc.get_empirical()["z"].sample().shape)
    ()
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

from .. import settings
from ..distributions.empirical import Empirical
from ..poutine.block_messenger import BlockMessenger
from ..poutine.plate_messenger import PlateMessenger
from ..poutine.replay_messenger import replay
from ..poutine.trace_messenger import trace
from ..poutine.trace_struct import Trace, is_subsample_site
from .util import particle_log_prob_sum

__all__ = ["SMCFailed", "SMCFilter", "SMCState"]


class SMCFailed(ValueError):
    """No particle has a nonzero weight after a site (every hypothesis is impossible)."""


class SMCFilter:
    """Filter a sequential model with particles (see the module notes).

    Args:
        model: an object with ``init(state, *args)`` and ``step(state, *args)``.
        guide: the proposal, with the same two methods (it must not write the state).
        num_particles: number of particles.
        max_plate_nesting: the number of nested plates in the model and guide.
        ess_threshold: resample when ``ESS < ess_threshold * num_particles``;
            in ``(0, 1]``.

    Raises:
        ValueError: if ``ess_threshold`` is outside ``(0, 1]`` or ``num_particles`` /
            ``max_plate_nesting`` is not a (positive / non-negative) int.
    """

    def __init__(
        self,
        model: Any,
        guide: Any,
        num_particles: int,
        max_plate_nesting: int,
        *,
        ess_threshold: float = 0.5,
    ) -> None:
        if not 0 < ess_threshold <= 1:
            raise ValueError(f"SMCFilter: ess_threshold must be in (0, 1], got {ess_threshold}")
        if (
            isinstance(max_plate_nesting, bool)
            or not isinstance(max_plate_nesting, int)
            or (max_plate_nesting < 0)
        ):
            raise ValueError(
                f"SMCFilter: max_plate_nesting must be an int >= 0, got {max_plate_nesting!r}"
            )
        self.model = model
        self.guide = guide
        self.num_particles = num_particles
        self.max_plate_nesting = max_plate_nesting
        self.ess_threshold = ess_threshold
        self.state = SMCState(num_particles)
        self._dim = -1 - max_plate_nesting

    def init(self, *args: Any, **kwargs: Any) -> None:
        """Draw the initial particles (``model.init`` / ``guide.init``) and weight them."""
        self._advance("init", args, kwargs)

    def step(self, *args: Any, **kwargs: Any) -> None:
        """One filtering step (``model.step`` / ``guide.step``): propose, weight, maybe resample."""
        self._advance("step", args, kwargs)

    def get_empirical(self) -> dict[Any, Empirical]:
        """``{state key: Empirical}``: the weighted particle distribution of each state tensor."""
        return {key: Empirical(value, self.state._log_weights) for key, value in self.state.items()}

    # ------------------------------------------------------------------ internals
    def _advance(self, method: str, args: tuple, kwargs: dict) -> None:
        guide_fn = getattr(self.guide, method)
        model_fn = getattr(self.model, method)
        with BlockMessenger(), PlateMessenger("particles", self.num_particles, dim=self._dim):
            with self.state._lock():
                guide_trace = trace(guide_fn).get_trace(self.state, *args, **kwargs)
            model_trace = trace(replay(model_fn, trace=guide_trace)).get_trace(
                self.state, *args, **kwargs
            )
        self._update_weights(model_trace, guide_trace)
        self._maybe_resample()

    @torch.no_grad()
    def _update_weights(self, model_trace: Trace, guide_trace: Trace) -> None:
        """Add ``log p - log q`` of the guide's sites and ``log p`` of the observations."""
        n, dim = self.num_particles, self._dim
        increments: list[tuple[str, torch.Tensor]] = []
        for name, site in guide_trace.nodes.items():
            if site.type == "sample" and not is_subsample_site(site):
                log_p = particle_log_prob_sum(model_trace, n, dim, [name])
                log_q = particle_log_prob_sum(guide_trace, n, dim, [name])
                increments.append((name, log_p - log_q))
        for name, site in model_trace.nodes.items():
            if site.type == "sample" and site.is_observed:
                increments.append((name, particle_log_prob_sum(model_trace, n, dim, [name])))
        log_w = self.state._log_weights
        for name, inc in increments:
            if log_w.device != inc.device:  # the weights follow the data's device
                log_w = log_w.to(inc.device)
            log_w = log_w + inc.to(log_w.dtype)
            _check_feasible(log_w, name)
        self.state._log_weights = log_w - log_w.max()

    def _maybe_resample(self) -> None:
        if not self.state:
            return
        log_w = self.state._log_weights
        log_w -= log_w.logsumexp(-1)
        probs = log_w.exp()
        ess = probs.dot(probs).reciprocal()
        if ess < self.ess_threshold * self.num_particles:
            self.state._resample(_systematic_sample(probs))


def _check_feasible(log_w: torch.Tensor, name: str) -> None:
    if not bool(log_w.max() > -math.inf):
        raise SMCFailed(
            f"SMCFilter: every particle has zero weight after site {name!r}; the proposal "
            "puts no mass where the model (or the observation) has any"
        )


def _systematic_sample(probs: torch.Tensor) -> torch.Tensor:
    """Systematic resampling: ``size`` indices per batch row, drawn with one uniform.

    Index ``i`` is picked as many times as the points ``(u + j) / size`` fall in its
    slice of the cumulative probabilities, so its count is within one of
    ``size * probs[i]``.

    Example:
        >>> _systematic_sample(torch.tensor([0.0, 1.0, 0.0])).tolist()
        [1, 1, 1]
    """
    batch_shape, size = probs.shape[:-1], probs.size(-1)
    u = torch.rand(batch_shape + (1,), dtype=probs.dtype, device=probs.device)
    # how many of the points u, u + 1, ... lie below each cumulative boundary
    counts_below = (probs.cumsum(-1) * size + u).floor().clamp(0, size).long()
    hits = torch.zeros(batch_shape + (size + 1,), dtype=torch.long, device=probs.device)
    hits.scatter_add_(-1, counts_below, torch.ones_like(counts_below))
    return hits[..., :-1].cumsum(-1)


class SMCState(dict):
    """The particles' state: a dict of tensors whose leading dim has size ``num_particles``.

    The model writes it; a guide run (inside ``_lock``) may only read it. With
    validation on, values must be tensors with the particles' leading dim.

    Raises:
        ValueError: if ``num_particles`` is not a positive int.
    """

    def __init__(self, num_particles: int) -> None:
        if (
            isinstance(num_particles, bool)
            or not isinstance(num_particles, int)
            or (num_particles < 1)
        ):
            raise ValueError(f"SMCState: num_particles must be an int >= 1, got {num_particles!r}")
        super().__init__()
        self._num_particles = num_particles
        self._log_weights = torch.zeros(num_particles)
        self._locked = False

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self._locked = True
        try:
            yield
        finally:
            self._locked = False

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._locked:
            raise RuntimeError(f"SMCState: the guide cannot write the state (key {key!r})")
        if settings.is_validation_enabled():
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"SMCState: only tensors can be stored, got {type(value).__name__} at {key!r}"
                )
            if value.dim() == 0 or value.size(0) != self._num_particles:
                raise ValueError(
                    f"SMCState: the value at {key!r} must have leading dim "
                    f"{self._num_particles} (one row per particle), got shape {tuple(value.shape)}"
                )
        super().__setitem__(key, value)

    def _resample(self, index: torch.Tensor) -> None:
        for key, value in list(self.items()):
            self[key] = value[index].contiguous()
        self._log_weights.fill_(0.0)
