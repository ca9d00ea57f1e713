"""``Resampler``: reuse one expensive batch of simulations while tuning a prior.

Design notes
------------
In a prior predictive check one tweaks a prior and looks at what a (costly)
simulator makes of it. :class:`Resampler` draws many particles once from a diffuse
``guide`` (optionally pushed through the ``simulator``) and keeps them with their
guide log-density; ``sample(model, n)`` then scores the same particles under the
tweaked ``model`` and importance-resamples ``n`` of them with weights
``p_model / q_guide``, without rerunning the guide or the simulator. Everything runs
vectorized, inside a plate ``"particles"`` left of the model's plates.

``stable=True`` resamples with fixed Gumbel noise (drawn once, reused by every
call), so a slightly different prior picks mostly the same particles: what one
wants when watching plots change while turning a knob. ``stable=False`` draws an
ordinary multinomial resample, for Monte Carlo estimates.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> guide = lambda: ppl.sample("z", dist.Normal(0.0, 3.0))
    >>> ppl.set_rng_seed(0)
    >>> resampler = Resampler(guide, num_guide_samples=20000)
    >>> model = lambda: ppl.sample("z", dist.Normal(1.0, 0.5))
    >>> z = resampler.sample(model, 2000, stable=False)["z"]
    >>> abs(float(z.mean()) - 1.0) < 0.1
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..poutine.block_messenger import BlockMessenger
from ..poutine.condition_messenger import condition
from ..poutine.mask_messenger import MaskMessenger
from ..poutine.plate_messenger import PlateMessenger
from ..poutine.replay_messenger import replay
from ..poutine.trace_messenger import trace
from ..poutine.trace_struct import is_subsample_site
from .util import guess_max_plate_nesting, particle_log_prob_sum

__all__ = ["Resampler"]


class Resampler:
    """Importance-resample one cached batch of guide (and simulator) draws.

    Args:
        guide: a model without arguments, more diffuse than the models passed to
            :meth:`sample`; must vectorize over a plate.
        simulator: an optional bigger model with the guide's latents and more sites;
            run once, replayed against the guide's draws.
        num_guide_samples: particles drawn once (many more than any later ``num_samples``).
        max_plate_nesting: the models' plate nesting (guessed from one run if None).

    Raises:
        ValueError: if ``num_guide_samples`` is not a positive int.
    """

    def __init__(
        self,
        guide: Callable[[], object],
        simulator: Callable[[], object] | None = None,
        *,
        num_guide_samples: int,
        max_plate_nesting: int | None = None,
    ) -> None:
        if (
            isinstance(num_guide_samples, bool)
            or not isinstance(num_guide_samples, int)
            or num_guide_samples < 1
        ):
            raise ValueError(
                f"Resampler: num_guide_samples must be an int >= 1, got {num_guide_samples!r}"
            )
        if max_plate_nesting is None:
            with torch.no_grad(), BlockMessenger(), MaskMessenger(False):
                proto = trace(guide if simulator is None else simulator).get_trace()
            max_plate_nesting = guess_max_plate_nesting([proto])
        self._dim = -1 - max_plate_nesting
        self._num = num_guide_samples
        self._gumbels: torch.Tensor | None = None
        with PlateMessenger("particles", num_guide_samples, dim=self._dim):
            tr = trace(guide).get_trace()
            self._old_logp = particle_log_prob_sum(tr, num_guide_samples, self._dim).detach()
            if simulator is not None:
                tr = trace(replay(simulator, trace=tr)).get_trace()
        self._samples = {
            name: site.value
            for name, site in tr.nodes.items()
            if site.type == "sample" and not is_subsample_site(site)
        }

    @torch.no_grad()
    def sample(
        self, model: Callable[[], object], num_samples: int, stable: bool = True
    ) -> dict[str, torch.Tensor]:
        """``num_samples`` cached particles resampled by ``p_model / q_guide``.

        Args:
            model: a model over the guide's latents (vectorizable over a plate).
            num_samples: how many to draw (with replacement).
            stable: reuse fixed Gumbel noise across calls (see the module notes).

        Returns:
            ``{site: tensor}`` with leading dim ``num_samples``.
        """
        with PlateMessenger("particles", self._num, dim=self._dim):
            tr = trace(condition(model, data=self._samples)).get_trace()
        logits = particle_log_prob_sum(tr, self._num, self._dim) - self._old_logp
        index = self._pick(logits, num_samples, stable)
        return {name: value[index] for name, value in self._samples.items()}

    def _pick(self, logits: torch.Tensor, num_samples: int, stable: bool) -> torch.Tensor:
        if not stable:
            probs = (logits - logits.max()).exp()
            return torch.multinomial(probs, num_samples, replacement=True)
        # Gumbel-max: argmax(logits + g) is a draw from Categorical(logits); keeping g
        # fixed makes the draw a piecewise-constant function of the logits.
        if self._gumbels is None or self._gumbels.size(0) < num_samples:
            tiny = torch.finfo(logits.dtype).tiny
            u = torch.rand(num_samples, logits.numel(), dtype=logits.dtype, device=logits.device)
            self._gumbels = -(-u.clamp(min=tiny).log()).clamp(min=tiny).log()
        return (self._gumbels[:num_samples] + logits).argmax(-1)
