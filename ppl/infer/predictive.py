"""``Predictive``: posterior and posterior-predictive samples from a model and/or guide.

Design notes
------------
Pyro's semantics (NumPyro's ``params=``/``batch_ndims`` added):

* ``Predictive(guide, params=p, num_samples=n)``: runs the guide as a model and
  returns every sample site: draws in parameter space.
* ``Predictive(model, guide=g, params=p, num_samples=n)``: draws latents from the
  guide, then runs the model conditioned on them: mock observations (all model
  sites are returned, since a guide is given).
* ``Predictive(model, posterior_samples, params=p)``: runs the model conditioned on
  given samples (leading dims = batch); returns the sites not in the samples.

``params`` substitutes *constrained* values (e.g. ``SVIRunResult.params``) into
param sites, without touching the ParamStore. Sites recorded with
``ppl.deterministic`` are returned too. Everything runs under ``torch.no_grad``
with the model's log-densities masked out (nothing is scored).

With ``parallel=False`` the model runs once per sample; with ``parallel=True``
once, inside a plate named ``"_num_predictive_samples"`` of size ``num_samples``
left of the model's own plates (the model must broadcast over it, as with
vectorized particles).

Shapes follow Pyro: a site's samples have shape
``batch_shape + (1,) * (max_plate_nesting - len(site.fn.batch_shape)) + value.shape``,
where ``max_plate_nesting`` counts the model's vectorized plates (read from one
unconditioned prototype run). The padding puts every site's batch dims on the plate
dims they broadcast against, so ``samples["z"] * samples["x"]`` lines up a global ``z``
of shape ``(n, 1)`` with a plate site ``x`` of shape ``(n, 3)`` in both modes.
``pad_to_plate_nesting=False`` returns the unpadded ``batch_shape + value.shape``
instead (ppl's shape before 1.9 conformance; handy when plates do not matter).

:class:`WeighedPredictive` draws like ``Predictive`` with a guide and also weights each
draw by ``log p(x_obs, z) - log q(z)`` against a target model (``model_guide=``), for
weighted statistics that do not inherit the guide's error; :class:`MHResampler` turns
such weighted draws into equally weighted ones by independence Metropolis-Hastings.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> def model():
    ...     z = ppl.sample("z", dist.Normal(0.0, 1.0))
    ...     ppl.deterministic("z2", 2 * z)
    >>> out = Predictive(model, num_samples=5)()
    >>> tuple(out["z"].shape), bool(torch.equal(out["z2"], 2 * out["z"]))
    ((5,), True)
    >>> def plated():
    ...     z = ppl.sample("z", dist.Normal(0.0, 1.0))
    ...     with ppl.plate("data", 3):
    ...         ppl.sample("x", dist.Normal(z, 1.0))
    >>> out = Predictive(plated, num_samples=5)()
    >>> tuple(out["z"].shape), tuple(out["x"].shape)
    ((5, 1), (5, 3))
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch

from ..poutine.condition_messenger import ConditionMessenger
from ..poutine.mask_messenger import MaskMessenger
from ..poutine.plate_messenger import PlateMessenger
from ..poutine.replay_messenger import ReplayMessenger
from ..poutine.trace_messenger import TraceMessenger
from ..poutine.trace_struct import Trace
from .importance import LogWeightsMixin
from .util import guess_max_plate_nesting, is_sample_site, particle_log_prob_sum

__all__ = ["MHResampler", "Predictive", "WeighedPredictive", "WeighedPredictiveResults"]

_PLATE = "_num_predictive_samples"


def _run(
    fn: Callable[..., Any], args: tuple, kwargs: dict, handlers: list[Any]
) -> tuple[Trace, Any]:
    tm = TraceMessenger()
    with tm:
        for h in handlers:
            h.__enter__()
        try:
            ret = fn(*args, **kwargs)
        finally:
            for h in reversed(handlers):
                h.__exit__(None, None, None)
    return tm.trace, ret


class Predictive(torch.nn.Module):
    """Draw samples of a model's sites given a guide or posterior samples.

    Args:
        model: the model (or a guide, to sample it on its own).
        posterior_samples: ``{site: tensor}`` with ``batch_ndims`` leading batch dims.
        guide: a guide to draw the latents from (``posterior_samples`` must be None).
        params: ``{param name: constrained value}`` substituted into param sites.
        num_samples: number of draws; required unless ``posterior_samples`` is given.
        return_sites: names to return (``"_RETURN"`` for the return value). Default:
            every site when a guide is given or there are no posterior samples, else
            the sites not in ``posterior_samples``.
        parallel: vectorize over samples in one run (see the module notes).
        batch_ndims: leading dims of ``posterior_samples`` that index samples.
        pad_to_plate_nesting: left-pad each site's shape with singleton dims up to the
            model's plate nesting, as Pyro does (default); ``False`` gives
            ``batch_shape + value.shape``.

    Raises:
        TypeError: if ``model``/``guide`` is not callable or ``posterior_samples``/
            ``params`` is not a dict of tensors.
        ValueError: if neither ``num_samples`` nor ``posterior_samples`` is given, both
            a guide and posterior samples are given, ``num_samples``/``batch_ndims`` is
            not positive, or the samples' batch shapes differ.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        posterior_samples: Mapping[str, torch.Tensor] | None = None,
        guide: Callable[..., Any] | None = None,
        params: Mapping[str, torch.Tensor] | None = None,
        num_samples: int | None = None,
        return_sites: Iterable[str] | None = None,
        parallel: bool = False,
        batch_ndims: int = 1,
        *,
        pad_to_plate_nesting: bool = True,
    ) -> None:
        super().__init__()
        if not callable(model):
            raise TypeError(f"Predictive: model must be callable, got {type(model).__name__}")
        if guide is not None and not callable(guide):
            raise TypeError(f"Predictive: guide must be callable, got {type(guide).__name__}")
        if guide is not None and posterior_samples is not None:
            raise ValueError(
                "Predictive: give either posterior_samples or guide, not both (a guide draws "
                "the posterior samples itself)"
            )
        if isinstance(batch_ndims, bool) or not isinstance(batch_ndims, int) or batch_ndims < 1:
            raise ValueError(f"Predictive: batch_ndims must be an int >= 1, got {batch_ndims!r}")
        _check_tensor_dict("posterior_samples", posterior_samples)
        _check_tensor_dict("params", params)
        batch_shape: tuple[int, ...] | None = None
        if posterior_samples:
            for name, value in posterior_samples.items():
                if value.dim() < batch_ndims:
                    raise ValueError(
                        f"Predictive: posterior sample {name!r} has shape {tuple(value.shape)}, "
                        f"fewer than batch_ndims={batch_ndims} dims"
                    )
                shape = tuple(value.shape[:batch_ndims])
                if batch_shape is None:
                    batch_shape = shape
                elif shape != batch_shape:
                    raise ValueError(
                        f"Predictive: posterior samples disagree on their batch shape: "
                        f"{name!r} has {shape}, others {batch_shape}"
                    )
            assert batch_shape is not None
            count = math.prod(batch_shape)
            if num_samples is not None and num_samples != count:
                warnings.warn(
                    f"Predictive: posterior samples have {count} draws but num_samples="
                    f"{num_samples}; using {count}",
                    UserWarning,
                    stacklevel=2,
                )
            num_samples = count
        elif num_samples is None:
            raise ValueError(
                "Predictive: num_samples is required when posterior_samples is not given, "
                "e.g. Predictive(guide, params=result.params, num_samples=1000)"
            )
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"Predictive: num_samples must be an int >= 1, got {num_samples!r}")
        self.model = model
        self.guide = guide
        self.posterior_samples = dict(posterior_samples) if posterior_samples else {}
        self.params = dict(params) if params else None
        self.num_samples = num_samples
        self.batch_shape = batch_shape if batch_shape is not None else (num_samples,)
        self.return_sites = list(return_sites) if return_sites is not None else None
        self.parallel = bool(parallel)
        self.pad_to_plate_nesting = bool(pad_to_plate_nesting)

    # ------------------------------------------------------------------ public
    def call(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, ...]:
        """:meth:`forward`'s samples as a tuple sorted by site name (Pyro's ``call``,
        for tracers that refuse dict outputs)."""
        result = self.forward(*args, **kwargs)
        return tuple(value for _, value in sorted(result.items()))

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Draw the samples; ``args``/``kwargs`` go to the model (and guide).

        Returns:
            ``{site: tensor}`` with leading shape ``batch_shape`` (``(num_samples,)``),
            then the plate padding (see the module notes), then the site's value shape.
        """
        with torch.no_grad():
            return self._draw(args, kwargs)[0]

    def _draw(
        self, args: tuple, kwargs: dict
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The returned samples (shaped ``batch_shape + ...``) and the flat latents
        ``{site: (num_samples, ...)}`` the model was conditioned on."""
        samples = self._flat_samples(self.posterior_samples)
        return_sites = self.return_sites
        guide_only: dict[str, torch.Tensor] = {}
        if self.guide is not None:
            deterministic: list[str] = []
            samples = self._predict(self.guide, {}, None, args, kwargs, True, deterministic)
            guide_only = {k: samples[k] for k in deterministic}
            return_sites = return_sites or None
            default_all = True
        else:
            default_all = not samples
        out = self._predict(self.model, samples, return_sites, args, kwargs, default_all)
        for name, value in guide_only.items():  # the guide's deterministic sites
            if name not in out and (return_sites is None or name in return_sites):
                out[name] = value
        shaped = {k: v.reshape(self.batch_shape + tuple(v.shape[1:])) for k, v in out.items()}
        return shaped, samples

    def get_samples(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Pyro's alias of calling the object."""
        return self.forward(*args, **kwargs)

    def get_vectorized_trace(self, *args: Any, **kwargs: Any) -> Trace:
        """One trace of the model run over all samples at once (guide first if given)."""
        with torch.no_grad():
            samples = self._flat_samples(self.posterior_samples)
            if self.guide is not None:
                samples = self._predict(self.guide, {}, None, args, kwargs)
            proto_tr, nesting = self._prototype(self.model, samples, args, kwargs)
            return self._parallel_trace(
                self.model, samples, proto_tr, nesting, args, kwargs, mask=False
            )

    # ------------------------------------------------------------------ internals
    def _flat_samples(self, samples: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        n = len(self.batch_shape)
        return {k: v.reshape((self.num_samples,) + tuple(v.shape[n:])) for k, v in samples.items()}

    def _handlers(self, samples: Mapping[str, torch.Tensor]) -> list[Any]:
        handlers: list[Any] = [MaskMessenger(False)]
        if samples:
            handlers.append(ConditionMessenger(samples))
        if self.params is not None:
            handlers.append(ReplayMessenger(params=self.params))
        return handlers

    def _predict(
        self,
        fn: Callable[..., Any],
        samples: dict[str, torch.Tensor],
        return_sites: list[str] | None,
        args: tuple,
        kwargs: dict,
        default_all: bool = True,
        deterministic: list[str] | None = None,
    ) -> dict[str, torch.Tensor]:
        """``{site: (num_samples, *pad, *value_shape) tensor}`` for the chosen sites of ``fn``.

        Names of ``ppl.deterministic`` sites are appended to ``deterministic`` if given.
        """
        try:
            targets = self._target_shapes(fn, args, kwargs)
        except NotImplementedError:
            # an improper prior (e.g. SplitReparam's ImproperUniform parts) cannot be
            # sampled: read the shapes from a run conditioned on the first draw instead
            first = {name: value[0] for name, value in samples.items()}
            targets = self._target_shapes(fn, args, kwargs, first)
        if self.parallel:
            out = self._predict_parallel(
                fn, samples, return_sites, args, kwargs, default_all, deterministic
            )
        else:
            out = self._predict_sequential(
                fn, samples, return_sites, args, kwargs, default_all, deterministic
            )
        n = self.num_samples
        return {name: _fit_shape(value, n, targets.get(name)) for name, value in out.items()}

    def _target_shapes(
        self,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        first: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of every site (and ``_RETURN``) from one prior run, or one
        conditioned on ``first`` (one draw of the latents) when given."""
        tr, ret = _run(fn, args, kwargs, self._handlers(first or {}))
        nesting = _plate_nesting(tr) if self.pad_to_plate_nesting else 0
        shapes: dict[str, tuple[int, ...]] = {}
        for name, site in tr.nodes.items():
            if is_sample_site(site) and isinstance(site.value, torch.Tensor):
                batch_rank = len(getattr(site.fn, "batch_shape", ()))
                pad = (1,) * max(nesting - batch_rank, 0)
                shapes[name] = pad + tuple(site.value.shape)
        if isinstance(ret, torch.Tensor):
            shapes["_RETURN"] = tuple(ret.shape)
        return shapes

    def _predict_sequential(
        self,
        fn: Callable[..., Any],
        samples: dict[str, torch.Tensor],
        return_sites: list[str] | None,
        args: tuple,
        kwargs: dict,
        default_all: bool,
        deterministic: list[str] | None,
    ) -> dict[str, torch.Tensor]:
        draws: list[dict[str, Any]] = []
        for i in range(self.num_samples):
            sample_i = {k: v[i] for k, v in samples.items()}
            tr, ret = _run(fn, args, kwargs, self._handlers(sample_i))
            names = _chosen_sites(tr, samples, return_sites, default_all)
            draw = {name: tr.nodes[name].value for name in names}
            if i == 0 and deterministic is not None:
                deterministic.extend(_deterministic_sites(tr))
            if return_sites is not None and "_RETURN" in return_sites:
                draw["_RETURN"] = ret
            draws.append(draw)
        out: dict[str, torch.Tensor] = {}
        for name in draws[0] if draws else ():
            out[name] = torch.stack([torch.as_tensor(d[name]) for d in draws])
        return out

    def _prototype(
        self, fn: Callable[..., Any], samples: dict[str, torch.Tensor], args: tuple, kwargs: dict
    ) -> tuple[Trace, int]:
        """One run with the first sample: site shapes and the plate nesting."""
        proto = {k: v[0] for k, v in samples.items()}
        tr, _ = _run(fn, args, kwargs, self._handlers(proto))
        return tr, guess_max_plate_nesting([tr])

    def _parallel_trace(
        self,
        fn: Callable[..., Any],
        samples: dict[str, torch.Tensor],
        proto_tr: Trace,
        nesting: int,
        args: tuple,
        kwargs: dict,
        mask: bool = True,
    ) -> Trace:
        """One run over all samples: the sample dim sits at ``-(nesting + 1)``."""
        shaped = {}
        for name, value in samples.items():
            site = proto_tr.nodes.get(name)
            shaped[name] = value.reshape(
                _full_shape(self.num_samples, site, value.shape[1:], nesting)
            )
        handlers = self._handlers(shaped)
        if not mask:
            handlers = handlers[1:]
        handlers.append(PlateMessenger(_PLATE, self.num_samples, dim=-nesting - 1))
        tr, ret = _run(fn, args, kwargs, handlers)
        tr.add_node("_RETURN", type="return", value=ret)
        return tr

    def _predict_parallel(
        self,
        fn: Callable[..., Any],
        samples: dict[str, torch.Tensor],
        return_sites: list[str] | None,
        args: tuple,
        kwargs: dict,
        default_all: bool,
        deterministic: list[str] | None,
    ) -> dict[str, torch.Tensor]:
        proto_tr, nesting = self._prototype(fn, samples, args, kwargs)
        if deterministic is not None:
            deterministic.extend(_deterministic_sites(proto_tr))
        tr = self._parallel_trace(fn, samples, proto_tr, nesting, args, kwargs)
        n = self.num_samples
        out: dict[str, torch.Tensor] = {}
        for name in _chosen_sites(tr, samples, return_sites, default_all):
            value = tr.nodes[name].value
            proto_site = proto_tr.nodes.get(name)
            if proto_site is None:
                out[name] = value
                continue
            shape = tuple(proto_site.value.shape)
            full = _full_shape(n, proto_site, shape, nesting)
            if tuple(value.shape) != full:
                value = value.broadcast_to(full)
            out[name] = value.reshape((n,) + shape)
        if return_sites is not None and "_RETURN" in return_sites:
            out["_RETURN"] = tr.nodes["_RETURN"].value
        return out


def _plate_nesting(tr: Trace) -> int:
    """How many batch dims the vectorized plates of ``tr``'s sample sites use (Pyro's guess)."""
    dims = [
        frame.dim
        for site in tr.nodes.values()
        if site.type == "sample"
        for frame in site.cond_indep_stack
        if frame.dim is not None
    ]
    return -min(dims) if dims else 0


def _fit_shape(value: Any, n: int, target: tuple[int, ...] | None) -> Any:
    """``value`` (leading dim ``n``) reshaped, or broadcast, to ``(n,) + target``.

    A value whose size does not fit (a site whose shape changed between runs) is
    returned as drawn rather than guessed at.
    """
    if target is None or not isinstance(value, torch.Tensor):
        return value
    full = (n,) + target
    if value.numel() == math.prod(full):
        return value.reshape(full)
    try:
        return value.expand(full)
    except RuntimeError:
        return value


def _full_shape(n: int, site: Any, value_shape: tuple, nesting: int) -> tuple[int, ...]:
    """``value_shape`` with the sample dim ``n`` put at batch dim ``-(nesting + 1)``."""
    event_rank = len(getattr(site.fn, "event_shape", ())) if site is not None else 0
    event_rank = min(event_rank, len(value_shape))
    batch_rank = len(value_shape) - event_rank
    return (n,) + (1,) * max(nesting - batch_rank, 0) + tuple(value_shape)


def _deterministic_sites(tr: Trace) -> list[str]:
    return [n for n, s in tr.nodes.items() if s.type == "sample" and s.infer.get("_deterministic")]


def _chosen_sites(
    tr: Trace, samples: Mapping[str, Any], return_sites: list[str] | None, default_all: bool
) -> list[str]:
    names = [n for n, s in tr.nodes.items() if is_sample_site(s)]
    if return_sites is not None:
        return [n for n in names if n in return_sites]
    if default_all:
        return names
    return [n for n in names if n not in samples]


def _check_tensor_dict(what: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise TypeError(f"Predictive: {what} must be a dict of tensors, got {type(value).__name__}")
    for k, v in value.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"Predictive: {what}[{k!r}] must be a tensor, got {type(v).__name__}")


@dataclass(frozen=True, eq=False)
class WeighedPredictiveResults(LogWeightsMixin):
    """What :class:`WeighedPredictive` returns: samples and their importance log-weights.

    Attributes:
        samples: ``{site: tensor}`` as :class:`Predictive` returns (a tuple sorted by
            name from ``call``).
        log_weights: ``model_log_prob - guide_log_prob``, one per sample.
        guide_log_prob: ``log q(z_i)`` of each draw under the guide.
        model_log_prob: ``log p(x_obs, z_i)`` of each draw under ``model_guide``.
    """

    samples: dict | tuple
    log_weights: torch.Tensor
    guide_log_prob: torch.Tensor
    model_log_prob: torch.Tensor

    def clone(self) -> WeighedPredictiveResults:
        """A copy whose tensors (and dicts of tensors) are cloned."""
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                values[f.name] = {k: v.clone() for k, v in value.items()}
            elif isinstance(value, tuple):
                values[f.name] = tuple(v.clone() for v in value)
            else:
                values[f.name] = value.clone()
        return type(self)(**values)


class WeighedPredictive(Predictive):
    """:class:`Predictive` whose draws carry importance weights against a target model.

    Called like :class:`Predictive`, with one more keyword ``model_guide``: the model
    the guide was fitted to (e.g. the model conditioned on the data; default: the
    model itself). Each guide draw ``z_i`` gets the log-weight
    ``log p(x_obs, z_i) - log q(z_i)`` (``model_guide``'s joint minus the guide's
    density), so weighted statistics of the samples (e.g.
    :func:`~ppl.ops.stats.weighed_quantile`) are those of the exact posterior
    predictive even when the guide is only approximate.

    Raises:
        ValueError: when called without a guide (the weights need a proposal density).
    """

    def forward(self, *args: Any, **kwargs: Any) -> WeighedPredictiveResults:  # type: ignore[override]
        """Draw samples and their log-weights; ``model_guide=`` picks the target model."""
        model_guide = kwargs.pop("model_guide", self.model)
        if self.guide is None:
            raise ValueError(
                "WeighedPredictive needs a guide: the log-weights compare the target model "
                "with the guide's density, e.g. WeighedPredictive(model, guide=guide, ...)"
            )
        with torch.no_grad():
            samples, latents = self._draw(args, kwargs)
            guide_lp = self._log_density(self.guide, latents, args, kwargs)
            model_lp = self._log_density(model_guide, latents, args, kwargs)
        return WeighedPredictiveResults(
            samples=samples,
            log_weights=model_lp - guide_lp,
            guide_log_prob=guide_lp,
            model_log_prob=model_lp,
        )

    def call(self, *args: Any, **kwargs: Any) -> WeighedPredictiveResults:  # type: ignore[override]
        """:meth:`forward` with the samples as a tuple sorted by site name."""
        result = self.forward(*args, **kwargs)
        assert isinstance(result.samples, dict)  # internal: forward returns a dict
        return WeighedPredictiveResults(
            samples=tuple(v for _, v in sorted(result.samples.items())),
            log_weights=result.log_weights,
            guide_log_prob=result.guide_log_prob,
            model_log_prob=result.model_log_prob,
        )

    def get_samples(self, *args: Any, **kwargs: Any) -> WeighedPredictiveResults:  # type: ignore[override]
        """Pyro's alias of calling the object."""
        return self.forward(*args, **kwargs)

    def _log_density(
        self, fn: Callable[..., Any], latents: dict[str, torch.Tensor], args: tuple, kwargs: dict
    ) -> torch.Tensor:
        """``(num_samples,)`` joint log-density of ``fn`` run with its sites fixed to
        ``latents`` (sites ``fn`` has beyond them are drawn and scored too)."""
        n = self.num_samples
        if self.parallel:
            proto_tr, nesting = self._prototype(fn, latents, args, kwargs)
            tr = self._parallel_trace(fn, latents, proto_tr, nesting, args, kwargs, mask=False)
            return particle_log_prob_sum(tr, n, -nesting - 1)
        values = []
        for i in range(n):
            handlers = self._handlers({k: v[i] for k, v in latents.items()})[1:]  # unmasked
            tr, _ = _run(fn, args, kwargs, handlers)
            values.append(torch.as_tensor(tr.log_prob_sum()).reshape(()))
        return torch.stack(values)


class MHResampler(torch.nn.Module):
    """Turn weighted draws into equally weighted ones by independence Metropolis-Hastings.

    Each call draws a fresh weighted batch from ``sampler`` (e.g. a
    :class:`WeighedPredictive`) and, per chain position, accepts the new draw over
    the current one with probability ``min(1, w_new / w_current)``: independence
    Metropolis-Hastings whose proposal is the guide, so the chain's stationary law is
    the target. The first call returns the sampler's draws as they are; each later
    call moves the samples closer to the target. If the guide equals the target,
    every proposal is accepted.

    Args:
        sampler: a callable returning :class:`WeighedPredictiveResults`.
        source_samples_slice: which of the sampler's batches to keep
            (``get_source_samples``); default none.
        stored_samples_slice: which of the returned batches to keep
            (``get_stored_samples``); default none.
    """

    def __init__(
        self,
        sampler: Callable[..., WeighedPredictiveResults],
        source_samples_slice: slice = slice(0),
        stored_samples_slice: slice = slice(0),
    ) -> None:
        super().__init__()
        self.sampler = sampler
        self.samples: WeighedPredictiveResults | None = None
        self.transition_count = torch.tensor(0, dtype=torch.long)
        self.source_samples: list[WeighedPredictiveResults] = []
        self.source_samples_slice = source_samples_slice
        self.stored_samples: list[WeighedPredictiveResults] = []
        self.stored_samples_slice = stored_samples_slice

    def forward(self, *args: Any, **kwargs: Any) -> WeighedPredictiveResults:
        """One Metropolis-Hastings step over every chain position; returns the samples."""
        with torch.no_grad():
            proposal = self.sampler(*args, **kwargs)
            self.source_samples = (self.source_samples + [proposal])[self.source_samples_slice]
            if self.samples is None:
                self.samples = proposal.clone()
                self.transition_count = torch.zeros_like(proposal.log_weights, dtype=torch.long)
            else:
                current = self.samples
                log_ratio = (proposal.log_weights - current.log_weights).clamp(max=0.0)
                u = torch.rand(log_ratio.shape, dtype=log_ratio.dtype, device=log_ratio.device)
                accept = u <= log_ratio.exp()
                self.transition_count[accept] += 1
                for f in fields(current):
                    mine, theirs = getattr(current, f.name), getattr(proposal, f.name)
                    if isinstance(mine, dict):
                        for key in mine:
                            mine[key][accept] = theirs[key][accept]
                    elif isinstance(mine, tuple):
                        for a, b in zip(mine, theirs):
                            a[accept] = b[accept]
                    else:
                        mine[accept] = theirs[accept]
        assert self.samples is not None  # internal: set above
        self.stored_samples = (self.stored_samples + [self.samples.clone()])[
            self.stored_samples_slice
        ]
        return self.samples

    def get_min_sample_transition_count(self) -> torch.Tensor:
        """The fewest accepted moves of any chain position."""
        return self.transition_count.min()

    def get_total_transition_count(self) -> torch.Tensor:
        """The number of accepted moves over all positions."""
        return self.transition_count.sum()

    def get_source_samples(self) -> WeighedPredictiveResults:
        """The kept sampler batches, concatenated."""
        return self.get_samples(self.source_samples)

    def get_stored_samples(self) -> WeighedPredictiveResults:
        """The kept returned batches, concatenated."""
        return self.get_samples(self.stored_samples)

    def get_samples(self, samples: list[WeighedPredictiveResults]) -> WeighedPredictiveResults:
        """Concatenate a list of results along the sample dim.

        Raises:
            ValueError: if ``samples`` is empty (nothing was kept; see the slices).
        """
        if not samples:
            raise ValueError(
                "MHResampler: no samples were kept; pass source_samples_slice / "
                "stored_samples_slice, e.g. slice(None) to keep all"
            )
        values: dict[str, Any] = {}
        for f in fields(samples[0]):
            first = getattr(samples[0], f.name)
            if isinstance(first, dict):
                values[f.name] = {
                    k: torch.cat([getattr(s, f.name)[k] for s in samples]) for k in first
                }
            elif isinstance(first, tuple):
                values[f.name] = tuple(
                    torch.cat([getattr(s, f.name)[i] for s in samples]) for i in range(len(first))
                )
            else:
                values[f.name] = torch.cat([getattr(s, f.name) for s in samples])
        return type(samples[0])(**values)
