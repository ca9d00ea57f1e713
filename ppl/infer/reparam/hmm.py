"""``LinearHMMReparam``: a LinearHMM made a GaussianHMM given auxiliary variables.

A :class:`~ppl.distributions.LinearHMM` with non-Gaussian noise (``StudentT``,
``Stable``, ``LogNormal`` observations, ...) has no closed-form density. Most such
noises are *conditionally Gaussian*: a ``StudentT`` is a Normal given a Gamma scale
(:class:`~ppl.infer.reparam.StudentTReparam`), a ``Stable`` is a Normal given two
auxiliary uniforms/exponentials (:class:`~ppl.infer.reparam.SymmetricStableReparam`,
:class:`~ppl.infer.reparam.StableReparam`). This reparameterizer hands the initial,
transition and observation noise of the HMM to such component reparameterizers (sites
``<name>_init``, ``<name>_trans``, ``<name>_obs``), and rebuilds the site as a
:class:`~ppl.distributions.GaussianHMM` from the Gaussian distributions they return.
The hidden states stay integrated out exactly. Observation transforms (the ``exp``
of a ``LogNormal``) move outside: the site becomes a ``TransformedDistribution`` of
the ``GaussianHMM``.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer.reparam import StudentTReparam
    >>> t = dist.StudentT(3.0, torch.zeros(4, 1), 1.0).to_event(1)
    >>> unit = dist.Normal(torch.zeros(1), 1.0).to_event(1)
    >>> hmm = dist.LinearHMM(unit, torch.ones(1, 1), unit, torch.ones(4, 1, 1), t)
    >>> rep = LinearHMMReparam(obs=StudentTReparam())
    >>> model = ppl.poutine.reparam(lambda: ppl.sample("x", hmm), {"x": rep})
    >>> tr = ppl.poutine.trace(model).get_trace()
    >>> type(tr.nodes["x"]["fn"]).__name__, tr.stochastic_nodes
    ('GaussianHMM', ['x_obs_gamma', 'x'])
"""

from __future__ import annotations

from typing import Any

import torch

from ...distributions import GaussianHMM, IndependentHMM, LinearHMM, TransformedDistribution
from .reparam import Reparam, ReparamMessage, ReparamResult, expect_family

__all__ = ["LinearHMMReparam"]


class LinearHMMReparam(Reparam):
    """Reparameterize a ``LinearHMM`` (or ``IndependentHMM`` of one) site into a
    ``GaussianHMM`` conditioned on auxiliary variables.

    Args:
        init: reparameterizer for the initial distribution (site ``<name>_init``), or
            None when it is already Gaussian.
        trans: reparameterizer for the transition noise (``<name>_trans``).
        obs: reparameterizer for the observation noise (``<name>_obs``); it sees the
            site's value (observed data or an initial value).

    Raises:
        TypeError: if a component is not a ``Reparam``, or at a site that is not a
            ``LinearHMM``/``IndependentHMM``.
        ValueError: at a site whose HMM has no ``duration``, or (from ``GaussianHMM``)
            when a component leaves a non-Gaussian distribution.
    """

    def __init__(
        self, init: Reparam | None = None, trans: Reparam | None = None, obs: Reparam | None = None
    ) -> None:
        for arg_name, rep in (("init", init), ("trans", trans), ("obs", obs)):
            if rep is not None and not isinstance(rep, Reparam):
                raise TypeError(
                    f"LinearHMMReparam: {arg_name} must be a Reparam or None, got "
                    f"{type(rep).__name__}"
                )
        self.init = init
        self.trans = trans
        self.obs = obs

    def _component(
        self,
        rep: Reparam | None,
        name: str,
        fn: Any,
        event_dim: int,
        value: Any,
        is_observed: bool,
    ) -> tuple[Any, Any, bool]:
        """Run one component reparameterizer on ``fn`` seen with ``event_dim`` event
        dims; return its distribution with event dim 1 (per step)."""
        if rep is None:
            return fn, value, is_observed
        wrapped = self._wrap(fn, event_dim)
        out = rep.apply({"name": name, "fn": wrapped, "value": value, "is_observed": is_observed})
        new_fn = out["fn"]
        new_fn = new_fn.to_event(1 - len(new_fn.event_shape))  # type: ignore[attr-defined]
        return new_fn, out["value"], bool(out["is_observed"])

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        value = msg["value"]
        is_observed = bool(msg["is_observed"])
        fn: Any
        fn, event_dim = self._unwrap(msg["fn"])  # type: ignore[arg-type]
        expect_family(self, name, fn, (LinearHMM, IndependentHMM))
        if fn.duration is None:
            raise ValueError(
                f"at site {name!r}: LinearHMMReparam needs the LinearHMM's duration; "
                "pass duration=T or give a parameter a time axis"
            )
        if isinstance(fn, IndependentHMM):
            # reparameterize the univariate base HMMs, with data in their layout
            base_value = None if value is None else value.transpose(-1, -2).unsqueeze(-1)
            out = self.apply(
                {
                    "name": name,
                    "fn": fn.base_dist.to_event(1),  # type: ignore[attr-defined]
                    "value": base_value,
                    "is_observed": is_observed,
                }
            )
            indep = IndependentHMM(out["fn"].to_event(-1))  # type: ignore[attr-defined]
            if out["value"] is not base_value:
                value = out["value"].squeeze(-1).transpose(-1, -2)  # type: ignore[union-attr]
            return {"fn": indep, "value": value, "is_observed": is_observed}

        duration = fn.duration
        init_dist, _, _ = self._component(
            self.init, f"{name}_init", fn.initial_dist, event_dim - 1, None, False
        )
        trans_dist = fn.transition_dist
        if self.trans is not None:
            trans_dist = _expand_time(trans_dist, duration)
        trans_dist, _, _ = self._component(
            self.trans, f"{name}_trans", trans_dist, event_dim, None, False
        )
        obs_dist = fn.observation_dist
        if self.obs is not None:
            obs_dist = _expand_time(obs_dist, duration)
        obs_dist, value, is_observed = self._component(
            self.obs, f"{name}_obs", obs_dist, event_dim, value, is_observed
        )
        hmm: Any = GaussianHMM(
            init_dist,
            fn.transition_matrix,
            trans_dist,
            fn.observation_matrix,
            obs_dist,
            duration=duration,
        )
        if fn.transforms:
            hmm = TransformedDistribution(hmm, fn.transforms)
        hmm = self._wrap(hmm, event_dim)
        return {"fn": hmm, "value": value, "is_observed": is_observed}


def _expand_time(d: Any, duration: int) -> Any:
    """Give a per-step distribution an explicit time axis of size ``duration`` (so a
    component reparameterizer draws independent auxiliaries for every step)."""
    if d.batch_shape[-1] != duration:
        d = d.expand(torch.Size(d.batch_shape[:-1]) + (duration,))
    return d
