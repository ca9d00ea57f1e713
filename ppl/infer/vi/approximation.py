"""The approximation object: what ``fit`` returns and what PyMC users ask questions of.

Design notes
------------
An :class:`Approximation` is a distribution over a model's latent sites that can be
sampled. Every kind (a guide fitted by ADVI/full-rank ADVI/MAP/Laplace, SVGD particles,
:class:`~ppl.infer.vi.empirical.Empirical` samples) answers the same questions:

* ``sample(n)`` -- ``{site: (n, *site_shape)}`` in *constrained* space;
* ``mean`` / ``std`` -- ``{site: tensor}`` of the constrained-space posterior mean and
  standard deviation. They are *exact* where that is cheap: over the samples of an
  ``Empirical``, over the particles of SVGD, and for a Gaussian guide on a real-valued
  site (the guide's location and marginal scale). Elsewhere (a site with a constrained
  support under a Gaussian guide, whose pushforward has no closed-form moments) they are
  *Monte-Carlo estimates* from ``moment_samples`` fresh draws, so two reads differ
  slightly;
* ``sample_node(fn, size)`` -- draws of any function of the latents, ``fn(latents)``;
* ``hist`` -- the loss per step over every ``fit``/``refine`` so far (a list of floats);
* ``params`` / ``flat_params()`` -- the learnable parameters (constrained, by name) and
  their flat unconstrained vector (used by the convergence callbacks);
* ``refine(n)`` -- continue the inference that made this approximation.

``sample`` is implemented once per kind (``_draw``); everything else is shared here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.distributions import biject_to
from torch.distributions.transforms import ComposeTransform, IndependentTransform

from ...params.flat import flatten_params
from ...params.param_store import get_param_store
from ...poutine.trace_struct import is_subsample_site
from ..predictive import Predictive

__all__ = ["Approximation", "GuideApproximation"]

# Normal CDF at -1 and +1: the quantiles a Gaussian's scale is read off.
_ONE_SIGMA = (0.5 * math.erfc(1.0 / math.sqrt(2.0)), 0.5 * math.erfc(-1.0 / math.sqrt(2.0)))


def _check_count(value: Any, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be >= 1, got {value}")
    return value


class Approximation:
    """Base class of every approximation (see the module docstring).

    Subclasses implement ``_draw(n) -> {site: (n, *shape)}`` and may override
    ``mean``/``std`` with exact values.

    Attributes:
        hist: list of the loss at every step taken so far (all fits and refines).
        moment_samples: number of draws behind Monte-Carlo ``mean``/``std``.
    """

    def __init__(self, moment_samples: int = 2000) -> None:
        self.hist: list[float] = []
        self.moment_samples = _check_count(moment_samples, "moment_samples", type(self).__name__)
        self.inference: Any = None

    # ------------------------------------------------------------------ sampling
    def _draw(self, n: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample(self, draws: int = 500) -> dict[str, torch.Tensor]:
        """``draws`` samples of every latent site, in constrained space.

        Args:
            draws: number of samples ``n`` (>= 1).

        Returns:
            ``{site: tensor of shape (n, *site_shape)}`` (detached).

        Raises:
            ValueError, TypeError: ``draws`` is not a positive int.

        Example:
            >>> import torch
            >>> from ppl.infer.vi import Empirical
            >>> approx = Empirical({"x": torch.tensor([1.0, 2.0, 3.0])})
            >>> tuple(approx.sample(10)["x"].shape)
            (10,)
        """
        n = _check_count(draws, "draws", f"{type(self).__name__}.sample")
        with torch.no_grad():
            return {k: v.detach() for k, v in self._draw(n).items()}

    def sample_node(
        self,
        fn: Callable[[dict[str, torch.Tensor]], Any],
        size: int | None = None,
        vectorized: bool = True,
    ) -> Any:
        """Samples of ``fn(latents)``, any function of the latent sites.

        Args:
            fn: a function of the dict ``{site: value}``. With ``vectorized=True`` it
                receives values with a leading sample dim ``(size, *site_shape)`` and must
                broadcast over it (``torch`` ops on the values usually do); with
                ``vectorized=False`` it is called once per sample on single draws and the
                results are stacked.
            size: number of samples; ``None`` gives one sample without the leading dim
                (PyMC's ``sample_node(node)``).
            vectorized: see ``fn``.

        Returns:
            ``fn``'s result with a leading dim of ``size`` (or none if ``size`` is None).

        Raises:
            TypeError: ``fn`` is not callable.

        Example:
            >>> import torch
            >>> from ppl.infer.vi import Empirical
            >>> approx = Empirical({"x": torch.tensor([2.0])})
            >>> approx.sample_node(lambda s: s["x"] ** 2, size=3)
            tensor([4., 4., 4.])
        """
        if not callable(fn):
            raise TypeError(f"sample_node: fn must be callable, got {type(fn).__name__}")
        n = 1 if size is None else _check_count(size, "size", "sample_node")
        draws = self.sample(n)
        with torch.no_grad():
            if vectorized:
                out = fn(draws)
                if size is None:
                    return _index(out, 0)
                return out
            results = [fn({k: v[i] for k, v in draws.items()}) for i in range(n)]
        if size is None:
            return results[0]
        return _stack(results)

    # ------------------------------------------------------------------ moments
    def _moments(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        draws = self.sample(self.moment_samples)
        means = {
            k: v.float().mean(0) if not v.is_floating_point() else v.mean(0)
            for k, v in draws.items()
        }
        stds = {
            k: v.float().std(0, correction=0)
            if not v.is_floating_point()
            else v.std(0, correction=0)
            for k, v in draws.items()
        }
        return means, stds

    @property
    def mean(self) -> dict[str, torch.Tensor]:
        """``{site: posterior mean}`` in constrained space (see the module docstring)."""
        return self._moments()[0]

    @property
    def std(self) -> dict[str, torch.Tensor]:
        """``{site: posterior standard deviation}`` in constrained space."""
        return self._moments()[1]

    # ------------------------------------------------------------------ parameters
    def param_names(self) -> list[str]:
        """Names (in the ParamStore) of the parameters this approximation is made of."""
        return []

    @property
    def params(self) -> dict[str, torch.Tensor]:
        """``{name: constrained value}`` (detached) of the approximation's parameters."""
        store = get_param_store()
        with torch.no_grad():
            return {n: store[n].detach() for n in self.param_names() if n in store}

    def flat_params(self) -> torch.Tensor:
        """The parameters' unconstrained values as one detached 1-D vector."""
        names = [n for n in self.param_names() if n in get_param_store()]
        vector, _ = flatten_params(names=names)
        return vector

    # ------------------------------------------------------------------ refine
    def refine(
        self, n: int, callbacks: Sequence[Callable[..., Any]] = (), **kwargs: Any
    ) -> Approximation:
        """Continue the inference that produced this approximation for ``n`` more steps.

        Args:
            n: number of further steps.
            callbacks: as in :func:`ppl.infer.vi.fit`.
            **kwargs: ``progress_bar=``.

        Returns:
            ``self`` (updated in place; ``hist`` grows by the steps taken).

        Raises:
            ValueError: the approximation was not made by an inference object (e.g. an
                ``Empirical`` built from samples).
        """
        if self.inference is None:
            raise ValueError(
                f"{type(self).__name__}.refine: this approximation was not produced by an "
                "inference (e.g. it was built from samples); there is nothing to continue"
            )
        self.inference.refine(n, callbacks=callbacks, **kwargs)
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self.hist)} steps>"


def _index(out: Any, i: int) -> Any:
    if isinstance(out, torch.Tensor):
        return out[i]
    if isinstance(out, Mapping):
        return {k: _index(v, i) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return type(out)(_index(v, i) for v in out)
    return out


def _stack(results: list[Any]) -> Any:
    first = results[0]
    if isinstance(first, Mapping):
        return {k: _stack([r[k] for r in results]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([r[i] for r in results]) for i in range(len(first)))
    return torch.stack([torch.as_tensor(r) for r in results])


def _is_identity(support: Any) -> bool:
    try:
        t = biject_to(support)
    except NotImplementedError:
        return False
    while isinstance(t, IndependentTransform):
        t = t.base_transform
    return isinstance(t, ComposeTransform) and not t.parts  # torch's identity_transform


class GuideApproximation(Approximation):
    """The approximation given by a fitted guide (ADVI, full-rank ADVI, MAP, Laplace).

    Args:
        model: the model.
        guide: a ppl autoguide (or any guide whose sample sites are the model's latents).
        args, kwargs: the model's arguments (the guide sees the same).
        moment_samples: draws behind Monte-Carlo moments.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> from ppl.infer.autoguide import AutoNormal
        >>> model = lambda: ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> approx = GuideApproximation(model, AutoNormal(model))
        >>> sorted(approx.mean)
        ['x']
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple = (),
        kwargs: Mapping[str, Any] | None = None,
        moment_samples: int = 2000,
    ) -> None:
        super().__init__(moment_samples)
        self.model = model
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.guide = guide

    @property
    def guide(self) -> Callable[..., Any]:
        """The fitted guide (a Laplace fit swaps in its Gaussian after each fit)."""
        return self._guide

    @guide.setter
    def guide(self, guide: Callable[..., Any]) -> None:
        if not callable(guide):
            raise TypeError(
                f"GuideApproximation: guide must be callable, got {type(guide).__name__}"
            )
        setup = getattr(guide, "setup", None)
        if callable(setup):
            setup(*self.args, **self.kwargs)
        self._guide = guide
        self._latents = self._latent_sites()

    def _latent_sites(self) -> dict[str, Any]:
        proto = getattr(self._guide, "prototype_trace", None)
        if proto is None:
            return {}
        return {
            name: site.fn.support
            for name, site in proto.iter_stochastic_nodes()
            if not is_subsample_site(site)
        }

    def param_names(self) -> list[str]:
        # a torch-module guide: the store names of its leaves (module names differ)
        parameters = getattr(self._guide, "parameters", None)
        if not callable(parameters):
            return []
        store = get_param_store()
        names = (store.param_name(p) for p in parameters())
        return [name for name in names if name is not None]

    def _draw(self, n: int) -> dict[str, torch.Tensor]:
        try:
            predictive = Predictive(
                self._guide, num_samples=n, parallel=True, pad_to_plate_nesting=False
            )
            out = predictive(*self.args, **self.kwargs)
        except (ValueError, RuntimeError, NotImplementedError):
            predictive = Predictive(
                self._guide, num_samples=n, parallel=False, pad_to_plate_nesting=False
            )
            out = predictive(*self.args, **self.kwargs)
        names = self._latents or {k: None for k in out if not k.startswith("_")}
        return {k: out[k] for k in names if k in out}

    def _exact(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None:
        """Mean/std of sites whose value is the guide's Gaussian coordinate itself."""
        guide: Any = self._guide
        if not self._latents or not callable(getattr(guide, "quantiles", None)):
            return None
        names = [n for n, support in self._latents.items() if _is_identity(support)]
        if not names:
            return None
        with torch.no_grad():
            median = guide.median(*self.args, **self.kwargs)
            q = guide.quantiles(list(_ONE_SIGMA), *self.args, **self.kwargs)
        means = {n: median[n].detach() for n in names}
        stds = {n: ((q[n][1] - q[n][0]) / 2).detach() for n in names}
        return means, stds

    def _moments(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        exact = self._exact()
        if exact is not None and len(exact[0]) == len(self._latents):
            return exact
        means, stds = super()._moments()
        if exact is not None:
            means.update(exact[0])
            stds.update(exact[1])
        return means, stds
