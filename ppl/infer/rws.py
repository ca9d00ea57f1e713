"""``ReweightedWakeSleep``: learn the model by IWAE, the guide by wake and sleep phases.

Design notes
------------
Reweighted wake-sleep (Bornschein & Bengio, 2015; Le et al., 2019) gives model and
guide separate objectives, so the guide never needs reparameterized (or even
differentiable) samples:

* **wake-theta** (model params): ``-log mean_k w_k`` with ``w_k = p(x, z_k) / q(z_k)``
  and ``z_k ~ q``, the IWAE bound; guide draws are detached, so no gradient reaches
  the guide through them, and ``q`` in the weight is detached too;
* **wake-phi** (guide params): ``-sum_k wbar_k log q(z_k)`` with the normalized,
  detached weights ``wbar_k``: a self-normalized estimate of ``KL(p(z|x) || q)``'s
  gradient;
* **sleep-phi**: ``-log q(z | x)`` at draws ``(x, z)`` from the model itself (run
  ``uncondition``-ed); the guide must accept the simulated data through its
  ``observations`` keyword (a dict site name -> value).

``insomnia`` mixes the guide objectives: ``insomnia * wake + (1 - insomnia) * sleep``.
The gradient of ``wake_theta + phi`` trains both at once (their params are disjoint).
Like Pyro, :meth:`loss` and :meth:`loss_and_grads` return the two losses as a pair;
``SVI`` records their sum. The estimator overrides :meth:`~ppl.infer.elbo.ELBO._evaluate`
(it needs fresh model runs for the sleep phase, not only the wake traces).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> ppl.clear_param_store()
    >>> def model():
    ...     z = ppl.sample("z", dist.Normal(0.0, 1.0))
    ...     ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))
    >>> def guide(observations=None):
    ...     ppl.sample("z", dist.Normal(0.0, 0.5 ** 0.5))  # the exact posterior
    >>> theta_loss, phi_loss = ReweightedWakeSleep(num_particles=4).loss(model, guide)
    >>> round(theta_loss, 4)  # -log p(x) = -log N(0 | 0, 2)
    1.2655
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..poutine.handlers import replay, trace, uncondition
from ..poutine.messenger import Messenger
from ..poutine.plate_messenger import PlateMessenger
from ..poutine.runtime import Message
from ..poutine.trace_struct import Trace
from .elbo import ELBO
from .particles import particle_log_prob_sum, stack_particles
from .util import collect_param_names, guess_max_plate_nesting

__all__ = ["ReweightedWakeSleep"]

SLEEP_PLATE = "num_sleep_particles_vectorized"


class DetachSamples(Messenger):
    """Detach every latent draw from the autograd graph (its value keeps no history).

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> m = torch.tensor(0.0, requires_grad=True)
        >>> with DetachSamples():
        ...     z = ppl.sample("z", dist.Normal(m, 1.0))
        >>> z.requires_grad
        False
    """

    def postprocess_message(self, msg: Message) -> None:
        if msg.type == "sample" and not msg.is_observed and isinstance(msg.value, torch.Tensor):
            msg.value = msg.value.detach()


def _detached(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        with DetachSamples():
            return fn(*args, **kwargs)

    return run


class ReweightedWakeSleep(ELBO):
    """Reweighted wake-sleep (Pyro's ``ReweightedWakeSleep``); see the module notes.

    Args:
        num_particles: ``K`` guide draws for the wake phases (> 1).
        insomnia: in ``[0, 1]``, the weight of wake-phi against sleep-phi (1: wake only).
        model_has_params: False skips the wake-theta term when ``insomnia == 0``
            (pure sleep, i.e. CSIS).
        num_sleep_particles: model draws for sleep-phi (default ``num_particles``).
        vectorize_particles: run the particles in one vectorized pass (default True).
        max_plate_nesting, strict_enumeration_warning: as in :class:`~ppl.infer.elbo.ELBO`.

    Raises:
        ValueError: if ``num_particles < 2`` or ``insomnia`` is outside ``[0, 1]``.

    Example:
        >>> ReweightedWakeSleep(num_particles=3, insomnia=0.5).num_sleep_particles
        3
    """

    def __init__(
        self,
        num_particles: int = 2,
        insomnia: float = 1.0,
        model_has_params: bool = True,
        num_sleep_particles: int | None = None,
        vectorize_particles: bool = True,
        max_plate_nesting: float = float("inf"),
        strict_enumeration_warning: bool = True,
    ) -> None:
        if isinstance(num_particles, int) and num_particles < 2:
            raise ValueError(
                f"ReweightedWakeSleep needs num_particles > 1, got {num_particles}"
            )
        if not 0.0 <= insomnia <= 1.0:
            raise ValueError(f"ReweightedWakeSleep: insomnia must be in [0, 1], got {insomnia}")
        super().__init__(
            num_particles=num_particles,
            max_plate_nesting=max_plate_nesting,
            vectorize_particles=vectorize_particles,
            strict_enumeration_warning=strict_enumeration_warning,
        )
        self.insomnia = insomnia
        self.model_has_params = model_has_params
        self.num_sleep_particles = (
            num_particles if num_sleep_particles is None else num_sleep_particles
        )

    # ------------------------------------------------------------------ the phases
    def _wake(
        self, traces: list[tuple[Trace, Trace]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log p(x, z_k), log q(z_k))`` per particle, shape ``(K,)`` each."""
        if self.vectorize_particles:
            model_trace, guide_trace = traces[0]
            nesting = int(self.max_plate_nesting)
            log_p = particle_log_prob_sum(model_trace, self.num_particles, nesting)
            log_q = particle_log_prob_sum(guide_trace, self.num_particles, nesting)
            return _as_particles(log_p, log_q, self.num_particles)
        log_p = stack_particles(m.log_prob_sum() for m, _ in traces)
        log_q = stack_particles(g.log_prob_sum() for _, g in traces)
        return log_p, log_q

    def _sleep(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[Any, list[Trace]]:
        """``-mean log q(z | x)`` over draws ``(x, z)`` of the model, and the traces used."""
        sleepy = uncondition(_detached(model))
        runs, plate = self.num_sleep_particles, None
        if self.vectorize_particles and self.num_sleep_particles > 1:
            if self.max_plate_nesting == math.inf:
                # from the model alone: the guide needs ``observations`` to run
                with torch.no_grad():
                    prototype = trace(sleepy).get_trace(*args, **kwargs)
                self.max_plate_nesting = guess_max_plate_nesting([prototype])
            nesting = int(self.max_plate_nesting)
            plate = PlateMessenger(SLEEP_PLATE, self.num_sleep_particles, dim=-nesting - 1)
            runs = 1
        log_q: Any = 0.0
        used: list[Trace] = []
        for _ in range(runs):
            model_trace = _run(trace(sleepy), args, kwargs, plate)
            observations = {}
            for name, site in model_trace.nodes.items():
                if site.type == "sample" and site.infer.get("was_observed", False):
                    site.is_observed = True
                    observations[name] = site.value
            guide_kwargs = dict(kwargs, observations=observations)
            guide_trace = _run(trace(replay(guide, trace=model_trace)), args, guide_kwargs, plate)
            log_q = log_q + guide_trace.log_prob_sum()
            used += [model_trace, guide_trace]
        return -log_q / self.num_sleep_particles, used

    def _losses(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, Any, list[tuple[Trace, Trace]], list[Trace]]:
        """``(wake_theta_loss, phi_loss, wake traces, sleep traces)``."""
        traces: list[tuple[Trace, Trace]] = []
        wake_theta: Any = torch.tensor(100.0)  # Pyro's placeholder when not computed
        wake_phi: Any = 0.0
        if self.model_has_params or self.insomnia > 0.0:
            traces = list(self._get_traces(model, _detached(guide), args, kwargs))
            log_p, log_q = self._wake(traces)
            log_w = log_p - log_q.detach()
            log_sum = torch.logsumexp(log_w, dim=0)
            wake_theta = -(log_sum - math.log(self.num_particles))
            if self.insomnia > 0.0:
                weights = (log_w - log_sum).exp().detach()
                wake_phi = -(weights * log_q).sum()
        sleep_traces: list[Trace] = []
        sleep_phi: Any = 0.0
        if self.insomnia < 1.0:
            sleep_phi, sleep_traces = self._sleep(model, guide, args, kwargs)
        if self.insomnia == 0.0:
            phi = sleep_phi
        elif self.insomnia == 1.0:
            phi = wake_phi
        else:
            phi = self.insomnia * wake_phi + (1.0 - self.insomnia) * sleep_phi
        if not isinstance(phi, torch.Tensor):
            phi = torch.as_tensor(float(phi))
        return wake_theta, phi, traces, sleep_traces

    # ------------------------------------------------------------------ the interface
    def _evaluate(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, list[tuple[Trace, Trace]], dict[str, None]]:
        wake_theta, phi, traces, sleep_traces = self._losses(model, guide, args, kwargs)
        names = collect_param_names([t for pair in traces for t in pair] + sleep_traces)
        return wake_theta + phi, traces, names

    def loss(  # type: ignore[override]
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> tuple[float, float]:
        """``(wake_theta_loss, phi_loss)`` as floats, without gradients."""
        with torch.no_grad():
            wake_theta, phi, _, _ = self._losses(model, guide, args, kwargs)
        return float(wake_theta), float(phi)

    def loss_and_grads(  # type: ignore[override]
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> tuple[float, float]:
        """``(wake_theta_loss, phi_loss)``; the gradient of their sum is accumulated."""
        wake_theta, phi, _, _ = self._losses(model, guide, args, kwargs)
        total = wake_theta + phi
        if total.requires_grad:
            total.backward(retain_graph=self.retain_graph)
        return float(wake_theta.detach()), float(phi.detach())


def _as_particles(log_p: Any, log_q: Any, num: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both per-particle sums as ``(K,)`` tensors (a trace without sample sites gives 0)."""
    proto = next((t for t in (log_p, log_q) if isinstance(t, torch.Tensor)), torch.zeros(num))
    return tuple(  # type: ignore[return-value]
        t if isinstance(t, torch.Tensor) else proto.new_full((num,), float(t))
        for t in (log_p, log_q)
    )


def _run(fn: Any, args: tuple, kwargs: dict, plate: PlateMessenger | None) -> Trace:
    """``fn.get_trace(*args, **kwargs)``, inside ``plate`` when one is given."""
    if plate is None:
        return fn.get_trace(*args, **kwargs)
    with plate:
        return fn.get_trace(*args, **kwargs)
