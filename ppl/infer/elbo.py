"""``ELBO``: the base of every ELBO: particles, plate nesting, traces, validation.

Design notes
------------
An ELBO estimator is a *function of traces*. This module owns everything around
that function, so each subclass writes only :meth:`ELBO._particle_loss`, the
estimate from one (model trace, guide trace) pair:

* **Traces.** The guide runs under ``trace``; the model runs under
  ``trace(replay(model, guide_trace))`` so it sees the guide's draws (and a
  subsampled plate's indices, recorded by the guide as a sample site, so both see
  the same minibatch).
* **Particles.** ``num_particles=K`` averages ``K`` estimates. Sequentially, the
  model and guide run ``K`` times. With ``vectorize_particles=True`` they run once
  inside an extra plate named ``"num_particles_vectorized"`` of size ``K`` at dim
  ``-(max_plate_nesting + 1)``, left of every plate the model uses; the one
  estimate is then divided by ``K``. ``max_plate_nesting=inf`` (unknown) is replaced
  by the nesting read off one prototype run, once, and cached on the instance.
  The default stays Pyro's ``vectorize_particles=False``: vectorizing is only
  correct for models whose code broadcasts over an unknown extra leading dim (no
  ``x.shape[0]`` on a latent, no Python control flow on sampled values), and that
  cannot be checked from the outside, so it is the user's choice.
* **One source of truth.** ``differentiable_loss`` is the estimator; ``loss`` is
  its value under ``torch.no_grad``; ``loss_and_grads`` is ``differentiable_loss``
  followed by ``backward``. ``SVI`` calls :meth:`ELBO.step_loss` (through
  :mod:`ppl.infer.step`), the same function returning the loss as a 0-dim tensor (no
  host synchronisation) plus the names of the params the run touched and the traces
  (to name non-finite sites). Compiled variants of any subclass come from
  :mod:`ppl.infer.compile` without more code.
* **Validation** (``ppl.enable_validation``, on by default): model and guide sites
  must match (a warning names latent sites present in only one of them) and, with a
  known ``max_plate_nesting``, every ``log_prob`` must fit its plates.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .. import settings
from ..distributions.unit import Unit
from ..poutine.plate_messenger import PlateMessenger
from ..poutine.replay_messenger import ReplayMessenger
from ..poutine.trace_messenger import TraceMessenger
from ..poutine.trace_struct import Trace, is_subsample_site
from .step import StepLoss
from .util import check_site_shape, collect_param_names, guess_max_plate_nesting, is_sample_site

__all__ = ["ELBO", "StepLoss"]

PARTICLE_PLATE = "num_particles_vectorized"


def _run_traced(fn: Callable[..., Any], args: tuple, kwargs: dict, *handlers: Any) -> Trace:
    """Run ``fn`` inside ``trace`` (outermost) and ``handlers``; return the trace."""
    tm = TraceMessenger()
    with tm:
        if handlers:
            _run_inside(fn, args, kwargs, handlers)
        else:
            fn(*args, **kwargs)
    return tm.trace


def _run_inside(fn: Callable[..., Any], args: tuple, kwargs: dict, handlers: tuple) -> None:
    head, *rest = handlers
    with head:
        if rest:
            _run_inside(fn, args, kwargs, tuple(rest))
        else:
            fn(*args, **kwargs)


class ELBO:
    """Base class of the ELBO estimators (``Trace_ELBO``, ``TraceMeanField_ELBO``).

    Args:
        num_particles: number of samples ``K`` the estimate averages over (>= 1).
        max_plate_nesting: number of plate dims the model and guide use; ``inf``
            (default) means "find out from a prototype run when it is needed".
        max_iarange_nesting: Pyro's deprecated alias of ``max_plate_nesting``.
        vectorize_particles: run the ``K`` particles in one pass over an extra plate.
        strict_enumeration_warning, ignore_jit_warnings, jit_options,
        tail_adaptive_beta: accepted for Pyro compatibility (enumeration and
            tail-adaptive estimators are not implemented; they have no effect here,
            ``ignore_jit_warnings``/``jit_options`` are read by ``JitTrace_ELBO``).
        retain_graph: passed to ``backward`` in ``loss_and_grads``.

    Raises:
        TypeError: if ``num_particles`` is not an int or ``vectorize_particles`` not a bool.
        ValueError: if ``num_particles < 1`` or ``max_plate_nesting`` is negative.
    """

    def __init__(
        self,
        num_particles: int = 1,
        max_plate_nesting: float = math.inf,
        max_iarange_nesting: float | None = None,
        vectorize_particles: bool = False,
        strict_enumeration_warning: bool = True,
        ignore_jit_warnings: bool = False,
        jit_options: dict[str, Any] | None = None,
        retain_graph: bool | None = None,
        tail_adaptive_beta: float = -1.0,
    ) -> None:
        if max_iarange_nesting is not None:
            warnings.warn(
                "max_iarange_nesting is deprecated; use max_plate_nesting instead",
                DeprecationWarning,
                stacklevel=2,
            )
            max_plate_nesting = max_iarange_nesting
        if isinstance(num_particles, bool) or not isinstance(num_particles, int):
            raise TypeError(
                f"num_particles must be an int, got {type(num_particles).__name__} "
                f"({num_particles!r}); e.g. Trace_ELBO(num_particles=8)"
            )
        if num_particles < 1:
            raise ValueError(f"num_particles must be >= 1, got {num_particles}")
        if not isinstance(vectorize_particles, bool):
            raise TypeError(
                f"vectorize_particles must be a bool, got {type(vectorize_particles).__name__}"
            )
        if not isinstance(max_plate_nesting, (int, float)) or isinstance(max_plate_nesting, bool):
            raise TypeError(
                f"max_plate_nesting must be an int (or math.inf), got "
                f"{type(max_plate_nesting).__name__}"
            )
        if max_plate_nesting < 0 or (
            max_plate_nesting != math.inf and max_plate_nesting != int(max_plate_nesting)
        ):
            raise ValueError(
                f"max_plate_nesting must be a non-negative int or math.inf, got {max_plate_nesting}"
            )
        self.num_particles = num_particles
        self.max_plate_nesting = max_plate_nesting
        self.vectorize_particles = vectorize_particles
        self.strict_enumeration_warning = strict_enumeration_warning
        self.ignore_jit_warnings = ignore_jit_warnings
        self.jit_options = jit_options
        self.retain_graph = retain_graph
        self.tail_adaptive_beta = tail_adaptive_beta
        self._particle_plate_cache: tuple[tuple[int, int], PlateMessenger] | None = None

    def __call__(self, model: Callable[..., Any], guide: Callable[..., Any]) -> Any:
        """Bind ``model`` and ``guide``: an :class:`~ppl.infer.elbo_module.ELBOModule`
        whose ``forward(*args, **kwargs)`` is the differentiable loss and whose
        ``parameters()`` are the model's and guide's (for ``torch.optim``)."""
        from ppl.infer.elbo_module import ELBOModule

        return ELBOModule(model, guide, self)

    # ------------------------------------------------------------------ the estimator
    def _particle_loss(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(loss, surrogate)`` of one particle run (summed over vectorized particles).

        ``loss`` is the differentiable negative ELBO estimate; ``surrogate``, when not
        None, is a tensor whose gradient replaces ``loss``'s (score-function terms)
        while ``loss`` keeps giving the value. Subclasses implement this.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _particle_loss")

    def _loss_from_traces(self, traces: list[tuple[Trace, Trace]]) -> torch.Tensor:
        """Average the particle estimates into one differentiable loss tensor."""
        loss: Any = 0.0
        surrogate: Any = None
        for model_trace, guide_trace in traces:
            particle_loss, particle_surrogate = self._particle_loss(model_trace, guide_trace)
            loss = loss + particle_loss
            if particle_surrogate is not None:
                surrogate = (
                    particle_surrogate if surrogate is None else surrogate + particle_surrogate
                )
        if surrogate is not None:
            # value of `loss`, gradient of `surrogate` (no host round trip)
            loss = loss.detach() + (surrogate - surrogate.detach())
        if self.num_particles != 1:
            loss = loss / self.num_particles
        if not isinstance(loss, torch.Tensor):
            loss = torch.tensor(float(loss))
        return loss

    def _evaluate(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, list[tuple[Trace, Trace]], dict[str, None]]:
        """The differentiable loss, the particle traces and the touched param names."""
        traces = list(self._get_traces(model, guide, args, kwargs))
        names = collect_param_names(t for pair in traces for t in pair)
        return self._loss_from_traces(traces), traces, names

    def differentiable_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """The negative ELBO estimate as a differentiable 0-dim tensor.

        Its value is the Monte Carlo estimate of ``-ELBO``; its gradient with respect
        to every param the model and guide use is an unbiased estimate of the
        gradient of ``-ELBO`` (pathwise for reparameterized sites, score-function
        for the others).

        Args:
            model, guide: the model and guide callables.
            *args, **kwargs: passed to both.

        Returns:
            A 0-dim tensor on the device of the model's log-densities.

        Example:
            >>> import ppl, ppl.distributions as dist
            >>> from ppl.infer.trace_elbo import Trace_ELBO
            >>> model = lambda: ppl.sample("z", dist.Normal(0.0, 1.0))
            >>> guide = lambda: ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))
            >>> Trace_ELBO().differentiable_loss(model, guide).requires_grad
            True
        """
        return self._evaluate(model, guide, args, kwargs)[0]

    def loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> float:
        """The negative ELBO estimate as a float (``differentiable_loss`` without gradients)."""
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def step_loss(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        backward: bool = True,
    ) -> StepLoss:
        """``differentiable_loss`` (+ ``backward``) for ``SVI``: no host synchronisation.

        Args:
            model, guide: the model and guide callables.
            args, kwargs: their arguments.
            backward: accumulate gradients into the touched params' ``.grad``.

        Returns:
            A :class:`StepLoss` (detached loss tensor, param names, traces).
        """
        if backward:
            loss, traces, names = self._evaluate(model, guide, args, kwargs)
            if loss.requires_grad:
                loss.backward(retain_graph=self.retain_graph)
        else:
            with torch.no_grad():
                loss, traces, names = self._evaluate(model, guide, args, kwargs)
        return StepLoss(loss.detach(), names, traces)

    def loss_and_grads(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> float:
        """``differentiable_loss`` followed by ``backward``; returns the loss as a float.

        Gradients accumulate into the ``.grad`` of the unconstrained params in the
        ParamStore; an optimizer step (e.g. ``SVI.step``) consumes and clears them.
        """
        return float(self.step_loss(model, guide, args, kwargs).loss)

    # ------------------------------------------------------------------ traces
    def _get_trace(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[Trace, Trace]:
        """One (model trace, guide trace) pair; inside a particle plate if vectorized."""
        if self.vectorize_particles:
            particles = self._particle_plate(self._plate_nesting(model, guide, args, kwargs))
            guide_trace = _run_traced(guide, args, kwargs, particles)
            model_trace = _run_traced(
                model, args, kwargs, ReplayMessenger(trace=guide_trace), particles
            )
        else:
            guide_trace = _run_traced(guide, args, kwargs)
            model_trace = _run_traced(model, args, kwargs, ReplayMessenger(trace=guide_trace))
        if settings._VALIDATION_ENABLED:
            self._validate(model_trace, guide_trace)
        return model_trace, guide_trace

    def _particle_plate(self, nesting: int) -> PlateMessenger:
        """The outermost plate the vectorized particles run in (built once, re-entered
        for the guide and then the model of every step)."""
        key = (self.num_particles, nesting)
        if torch.compiler.is_compiling():
            # torch.compile can only enter context managers created inside the graph
            return PlateMessenger(PARTICLE_PLATE, self.num_particles, dim=-nesting - 1)
        cached = self._particle_plate_cache
        if cached is None or cached[0] != key:
            plate = PlateMessenger(PARTICLE_PLATE, self.num_particles, dim=-nesting - 1)
            cached = self._particle_plate_cache = (key, plate)
        return cached[1]

    def _get_traces(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> Iterator[tuple[Trace, Trace]]:
        """The traces of every particle (one pair when vectorized)."""
        if self.vectorize_particles:
            yield self._get_trace(model, guide, args, kwargs)
        else:
            for _ in range(self.num_particles):
                yield self._get_trace(model, guide, args, kwargs)

    def _plate_nesting(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> int:
        """``max_plate_nesting``, found from one prototype run when it is ``inf``."""
        nesting = self.max_plate_nesting
        if nesting == math.inf:
            # with gradients on, as in Pyro: a guide may itself call torch.autograd.grad
            guide_trace = _run_traced(guide, args, kwargs)
            model_trace = _run_traced(model, args, kwargs, ReplayMessenger(trace=guide_trace))
            nesting = guess_max_plate_nesting([model_trace, guide_trace])
            self.max_plate_nesting = nesting
        return int(nesting)

    # ------------------------------------------------------------------ validation
    def _validate(self, model_trace: Trace, guide_trace: Trace) -> None:
        check_model_guide_match(model_trace, guide_trace)
        nesting = self.max_plate_nesting
        if nesting != math.inf:
            extra = 1 if self.vectorize_particles else 0
            for tr in (model_trace, guide_trace):
                tr.compute_log_prob()
                for site in tr.nodes.values():
                    if is_sample_site(site):
                        check_site_shape(site, int(nesting) + extra)


def check_model_guide_match(model_trace: Trace, guide_trace: Trace) -> None:
    """Warn about latent sites in only one of model and guide; check shared shapes.

    Raises:
        ValueError: naming the site, when a site latent in the guide is observed in the
            model, or model and guide values of one site have different shapes.
    """
    check_plates_and_factors(model_trace, guide_trace)
    model_latent = {
        n for n, s in model_trace.nodes.items() if is_sample_site(s) and not s.is_observed
    }
    guide_latent = {
        n
        for n, s in guide_trace.nodes.items()
        if is_sample_site(s) and not s.is_observed and not s.infer.get("is_auxiliary", False)
    }
    for name in guide_latent:
        model_site = model_trace.nodes.get(name)
        if model_site is None or not is_sample_site(model_site):
            continue
        if model_site.is_observed:
            raise ValueError(
                f"at site {name!r}: latent in the guide but observed in the model. Remove "
                "the site from the guide (or mark it infer={'is_auxiliary': True})."
            )
        guide_event = getattr(guide_trace.nodes[name].fn, "event_shape", None)
        model_event = getattr(model_site.fn, "event_shape", None)
        if guide_event is not None and model_event is not None:
            if len(guide_event) != len(model_event):
                raise ValueError(
                    f"Model and guide event_dims disagree at site {name!r}: model "
                    f"{len(model_event)} vs guide {len(guide_event)}. Give both the same "
                    "event dims (e.g. .to_event(...) on one side)."
                )
        guide_shape = _dist_shape(guide_trace.nodes[name].fn)
        model_shape = _dist_shape(model_site.fn)
        if guide_shape is not None and model_shape is not None and guide_shape != model_shape:
            raise ValueError(
                f"Model and guide shapes disagree at site {name!r}: model {model_shape}, guide "
                f"{guide_shape} (batch + event shape). Make the guide's distribution give the "
                "model's shape (e.g. .to_event(...) or the same plates)."
            )
    only_guide = guide_latent - model_latent
    if only_guide:
        warnings.warn(
            f"found non-auxiliary latent sites in the guide but not the model: "
            f"{sorted(only_guide)}; mark them infer={{'is_auxiliary': True}} if intended",
            stacklevel=4,
        )
    only_model = (
        model_latent
        - guide_latent
        - {n for n, s in guide_trace.nodes.items() if s.type == "sample"}
    )
    if only_model:
        warnings.warn(
            f"found latent sites in the model but not the guide: {sorted(only_model)}; they "
            "are drawn from the prior, so the ELBO has no guide term for them",
            stacklevel=4,
        )


def check_plates_and_factors(model_trace: Trace, guide_trace: Trace) -> None:
    """Checks shared by every ELBO's model/guide match (as in Pyro).

    Warns (``UserWarning``) when the guide opens a plate the model lacks (the plate's
    subsample site is then in the guide's trace only), and refuses a guide-side
    ``factor`` that does not say whether it is reparameterized: its gradient estimator
    depends on that.

    Raises:
        ValueError: naming the guide's factor site, when ``has_rsample`` is not given.

    Example:
        >>> import ppl, torch
        >>> from ppl.poutine import trace
        >>> model = trace(lambda: None).get_trace()
        >>> guide = trace(lambda: ppl.factor("f", torch.tensor(0.0))).get_trace()
        >>> check_plates_and_factors(model, guide)
        Traceback (most recent call last):
        ...
        ValueError: At guide site ppl.factor('f', ...), missing specification of has_rsample; ...
    """
    model_plates = {
        n for n, s in model_trace.nodes.items() if s.type == "sample" and is_subsample_site(s)
    }
    guide_plates = {
        n for n, s in guide_trace.nodes.items() if s.type == "sample" and is_subsample_site(s)
    }
    if not guide_plates <= model_plates:
        warnings.warn(
            f"Found plate statements in guide but not model: {sorted(guide_plates - model_plates)}",
            stacklevel=4,
        )
    for name, site in guide_trace.nodes.items():
        if site.type != "sample" or not site.infer.get("is_auxiliary"):
            continue
        if isinstance(site.fn, Unit) and not getattr(site.fn, "_has_rsample_given", True):
            raise ValueError(
                f"At guide site ppl.factor({name!r}, ...), missing specification of "
                "has_rsample; pass has_rsample=True if the factor comes from "
                "reparameterized sampling, else has_rsample=False"
            )


def _dist_shape(fn: Any) -> tuple[int, ...] | None:
    """``batch_shape + event_shape`` without leading size-1 dims (None if unknown)."""
    batch = getattr(fn, "batch_shape", None)
    event = getattr(fn, "event_shape", None)
    if batch is None or event is None:
        return None
    shape = tuple(batch) + tuple(event)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape
