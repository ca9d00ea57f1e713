"""Inference objects: ``ADVI``, ``FullRankADVI``, ``MAP``, ``Laplace``, ``SVGDInference``.

Design notes
------------
PyMC's object API, over ppl's engine. Each object is built from a model and the model's
arguments, and owns

* ``approx`` -- its :class:`~ppl.infer.vi.approximation.Approximation`, available
  *before* fitting (the guide or particles are set up eagerly), so callbacks such as a
  ``Tracker`` can refer to it;
* ``fit(n, callbacks=..., optimizer=...)`` and ``refine(n)`` -- both continue from the
  current parameters; the loss of every step is appended to ``approx.hist`` (also
  available as ``inference.hist``).

Guide-based methods run ``SVI`` with ``Trace_ELBO`` on an autoguide:
``ADVI`` -> ``AutoNormal`` (mean-field), ``FullRankADVI`` -> ``AutoMultivariateNormal``,
``MAP`` -> ``AutoDelta``, ``Laplace`` -> ``AutoLaplaceApproximation`` (after each fit the
approximation becomes the Gaussian at the mode with covariance ``H^{-1}``).
``SVGDInference`` runs :class:`ppl.infer.svgd.SVGD`.

*The loop* is ppl's one training loop (:func:`ppl.infer.loop.run_steps`, as ``SVI.run``):
each step appends its loss to ``approx.hist``, then every callback is called as
``cb(approx, losses, step)`` -- ``losses`` are this run's losses, ``step`` the 1-based
number of steps taken in this run. A callback raising ``StopIteration`` ends the run: its
message is printed, then ``"Interrupted at step N [p%]: Average Loss = L"``.
``KeyboardInterrupt`` ends the run the same way and keeps the fitted state. A run that
completes prints ``"Finished [100%]: Average Loss = L"`` when the progress bar is on. The
average is over the last tenth of the run's steps (at least one).

*Arguments.* ``*args``/``**kwargs`` after the model are the model's arguments; the
options are keyword-only. A model keyword that collides with an option name goes in
``model_kwargs={...}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...optim import Adam, adagrad_window
from ...params.param_store import get_param_store
from ...rng import set_rng_seed
from ..autoguide import (
    AutoDelta,
    AutoLaplaceApproximation,
    AutoMultivariateNormal,
    AutoNormal,
    init_to_mean,
)
from ..kernels import SteinKernel
from ..loop import Callback, check_callbacks, check_num_steps, pymc_postfix, run_steps
from ..svgd import PARTICLES, SVGD
from ..svi import SVI
from ..trace_elbo import Trace_ELBO
from .approximation import Approximation, GuideApproximation
from .empirical import ParticleApproximation

__all__ = ["ADVI", "FullRankADVI", "Inference", "Laplace", "MAP", "SVGDInference"]


def _merge_kwargs(model_kwargs: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> dict:
    merged = dict(model_kwargs or {})
    clash = sorted(set(merged) & set(kwargs))
    if clash:
        raise ValueError(
            f"model keyword(s) {clash} given both directly and in model_kwargs; give them once"
        )
    merged.update(kwargs)
    return merged


def _forget(prefix: str) -> None:
    """Delete the ParamStore entries whose names start with ``prefix`` (a fresh fit)."""
    store = get_param_store()
    for name in [n for n in store.keys() if n.startswith(prefix)]:
        del store[name]


class Inference:
    """Base class: owns ``approx`` and runs the fit loop (see the module docstring).

    Subclasses set ``self.approx`` and implement ``_step() -> float`` and
    ``_set_optimizer(optimizer)``.
    """

    approx: Approximation

    def __init__(
        self,
        model: Callable[..., Any],
        args: tuple,
        kwargs: dict[str, Any],
        random_seed: int | None,
    ) -> None:
        if not callable(model):
            raise TypeError(
                f"{type(self).__name__}: model must be callable, got {type(model).__name__}"
            )
        if random_seed is not None:
            set_rng_seed(random_seed)
        self.model = model
        self.args = args
        self.kwargs = kwargs

    @property
    def hist(self) -> list[float]:
        """The loss at every step so far (all fits and refines); same list as ``approx.hist``."""
        return self.approx.hist

    def _step(self) -> float:
        raise NotImplementedError

    def _set_optimizer(self, optimizer: Any) -> None:
        raise NotImplementedError

    def _plan(self, n: int) -> None:
        """Announce a run of ``n`` steps (the automatic compile mode decides from it)."""

    def _before_run(self) -> None:
        """Hook run before the loop (Laplace switches back to its MAP guide)."""

    def _after_run(self) -> None:
        """Hook run after the loop, also when interrupted."""

    def fit(
        self,
        n: int = 10000,
        callbacks: Sequence[Callback] = (),
        progress_bar: bool = True,
        optimizer: Any = None,
    ) -> Approximation:
        """Take ``n`` optimisation steps (continuing from the current state).

        Args:
            n: number of steps.
            callbacks: each called as ``cb(approx, losses, step)`` after every step.
            progress_bar: show a tqdm bar and the final summary line.
            optimizer: a new ``ppl.optim`` optimiser to use from now on (its state starts
                fresh), e.g. ``ppl.optim.Adamax({"lr": 0.1})``.

        Returns:
            ``self.approx``.

        Raises:
            TypeError, ValueError: bad ``n`` or ``callbacks``.
        """
        if optimizer is not None:
            self._set_optimizer(optimizer)
        return self._run(n, callbacks, progress_bar)

    def refine(
        self, n: int, callbacks: Sequence[Callback] = (), progress_bar: bool = True
    ) -> Approximation:
        """Continue fitting for ``n`` more steps (PyMC's ``refine``); returns ``approx``."""
        return self._run(n, callbacks, progress_bar)

    def _run(self, n: int, callbacks: Sequence[Callback], progress_bar: bool) -> Approximation:
        owner = f"{type(self).__name__}.fit"
        n = check_num_steps(n, owner)
        callbacks = check_callbacks(callbacks, owner)
        approx = self.approx
        self._plan(n)
        self._before_run()
        try:
            run_steps(
                lambda: approx.hist.append(self._step()),
                n,
                history=lambda: approx.hist,
                callbacks=callbacks,
                target=approx,
                progress_bar=progress_bar,
                postfix=pymc_postfix,
                window=max(n // 100, 1),
                catch_interrupt=True,
                finished_message=True,
                owner=owner,
            )
        finally:
            self._after_run()
        return approx

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self.hist)} steps>"


# ---------------------------------------------------------------------- guide-based
class _GuideInference(Inference):
    """SVI with ``Trace_ELBO`` on an autoguide built by ``_make_guide``.

    ``compile`` is ``SVI``'s: ``"auto"`` (the default) compiles a long run of a static
    model (``ppl.infer.compile.auto``), ``True`` (or a dict of options) always runs the
    loss and gradients as one compiled graph (``ppl.infer.compile.step``), ``False``
    never.
    """

    default_lr = 0.01

    def __init__(
        self,
        model: Callable[..., Any],
        *args: Any,
        optimizer: Any = None,
        num_particles: int = 1,
        guide_kwargs: Mapping[str, Any] | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
        random_seed: int | None = None,
        fresh: bool = True,
        compile: bool | str | dict[str, Any] = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(model, args, _merge_kwargs(model_kwargs, kwargs), random_seed)
        self.guide = self._make_guide(model, **{**self._guide_defaults(), **(guide_kwargs or {})})
        if fresh:
            _forget(f"{type(self.guide).__name__}.")
        self.guide.setup(*self.args, **self.kwargs)
        self.optimizer = optimizer if optimizer is not None else self._default_optimizer()
        self.svi = SVI(
            model,
            self.guide,
            self.optimizer,
            Trace_ELBO(num_particles=num_particles),
            compile=compile,
        )
        self.approx = GuideApproximation(model, self.guide, self.args, self.kwargs)
        self.approx.inference = self

    def _make_guide(self, model: Callable[..., Any], **guide_kwargs: Any) -> Any:
        raise NotImplementedError

    def _guide_defaults(self) -> dict[str, Any]:
        """Guide options used unless ``guide_kwargs`` sets them."""
        return {}

    def _default_optimizer(self) -> Any:
        return Adam({"lr": self.default_lr})

    def _plan(self, n: int) -> None:
        self.svi.plan(n)

    def _step(self) -> float:
        return self.svi.step(*self.args, **self.kwargs)

    def _set_optimizer(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self.svi.optim = optimizer


class ADVI(_GuideInference):
    """Mean-field ADVI: a diagonal Normal in unconstrained space (``AutoNormal``).

    PyMC's defaults, so a PyMC user's ``fit`` behaves as in PyMC: the optimizer is
    ``adagrad_window(learning_rate=1e-3, epsilon=0.1, n_win=10)``, one Monte Carlo
    sample per step (PyMC's ``obj_n_mc=1``), and the start is PyMC's: every mean at the
    model's initial point (``init_to_mean``) and every ``rho = 0``, i.e. a standard
    deviation of ``softplus(0) = log 2`` in unconstrained space. These defaults move
    slowly: a fit can look converged to a parameter-change check while still far from
    the posterior; ``Adam({"lr": 0.01})`` or more particles change that.

    Args:
        model: the model.
        *args, **kwargs: the model's arguments.
        optimizer: a ``ppl.optim`` optimiser (default ``ppl.optim.adagrad_window()``).
        num_particles: ELBO particles per step (PyMC's ``obj_n_mc``).
        guide_kwargs: passed to ``AutoNormal`` (default
            ``{"init_loc_fn": init_to_mean, "init_scale": log(2)}``).
        model_kwargs: model keywords that collide with option names.
        random_seed: seed every generator first (reproducible fits).
        fresh: start from new parameters: delete the store's entries of a previous guide
            of the same class (``"AutoNormal.*"``) first. ``False`` continues from them
            (Pyro's behaviour, e.g. after loading a checkpoint).

    Raises:
        TypeError: ``model`` not callable.
        ValueError: a discrete latent site (from the autoguide).

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> def model(data):
        ...     mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
        ...     with ppl.plate("data", len(data)):
        ...         ppl.sample("obs", dist.Normal(mu, 1.0), obs=data)
        >>> advi = ADVI(model, torch.tensor([1.0, 2.0, 3.0]), random_seed=0)
        >>> approx = advi.fit(1000, progress_bar=False)
        >>> len(approx.hist)
        1000
    """

    def _make_guide(self, model: Callable[..., Any], **guide_kwargs: Any) -> Any:
        return AutoNormal(model, **guide_kwargs)

    def _guide_defaults(self) -> dict[str, Any]:
        return {"init_loc_fn": init_to_mean, "init_scale": math.log(2.0)}

    def _default_optimizer(self) -> Any:
        return adagrad_window()


class FullRankADVI(_GuideInference):
    """Full-rank ADVI: a multivariate Normal in unconstrained space.

    Arguments and PyMC's defaults as :class:`ADVI` (the start: means at the model's
    initial point, the Cholesky factor the identity); ``guide_kwargs`` go to
    ``AutoMultivariateNormal``.
    """

    def _make_guide(self, model: Callable[..., Any], **guide_kwargs: Any) -> Any:
        return AutoMultivariateNormal(model, **guide_kwargs)

    def _guide_defaults(self) -> dict[str, Any]:
        return {"init_loc_fn": init_to_mean, "init_scale": 1.0}

    def _default_optimizer(self) -> Any:
        return adagrad_window()


class MAP(_GuideInference):
    """Maximum a posteriori: a point mass at the mode (``AutoDelta``); ``std`` is 0.

    Arguments as :class:`ADVI`; ``guide_kwargs`` go to ``AutoDelta``.
    """

    def _make_guide(self, model: Callable[..., Any], **guide_kwargs: Any) -> Any:
        return AutoDelta(model, **guide_kwargs)


class Laplace(_GuideInference):
    """Laplace approximation: MAP, then a Gaussian with covariance ``H^{-1}`` at the mode.

    During a fit the approximation is the MAP point; after each ``fit``/``refine`` its
    guide is the Gaussian from ``AutoLaplaceApproximation.laplace_approximation``.
    Arguments as :class:`ADVI`.
    """

    def _make_guide(self, model: Callable[..., Any], **guide_kwargs: Any) -> Any:
        return AutoLaplaceApproximation(model, **guide_kwargs)

    def _before_run(self) -> None:
        assert isinstance(self.approx, GuideApproximation)
        self.approx.guide = self.guide

    def _after_run(self) -> None:
        assert isinstance(self.approx, GuideApproximation)
        self.approx.guide = self.guide.laplace_approximation(*self.args, **self.kwargs)


# ---------------------------------------------------------------------- SVGD
class SVGDInference(Inference):
    """Stein variational gradient descent as an inference object (PyMC's ``pm.SVGD``).

    Args:
        model: the model.
        *args, **kwargs: the model's arguments.
        num_particles: number of particles (PyMC's ``n_particles``).
        kernel: a Stein kernel or its registered name (``"rbf"``, ``"imq"``).
        mode: ``"univariate"`` or ``"multivariate"`` (see :class:`~ppl.infer.svgd.SVGD`).
        optimizer: a ``ppl.optim`` optimiser (default ``Adam({"lr": 0.05})``).
        max_plate_nesting, init: see :class:`~ppl.infer.svgd.SVGD`.
        model_kwargs, random_seed: as :class:`ADVI`.
        fresh: delete existing ``"svgd_particles"`` first (``False`` continues from them).

    ``hist`` records the mean over particles of ``-log p(x, data) - log|J|``.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> model = lambda: ppl.sample("x", dist.Normal(2.0, 1.0))
        >>> approx = SVGDInference(model, num_particles=50, random_seed=0).fit(
        ...     300, progress_bar=False)
        >>> round(float(approx.mean["x"]), 1)
        2.0
    """

    def __init__(
        self,
        model: Callable[..., Any],
        *args: Any,
        num_particles: int = 100,
        kernel: SteinKernel | str = "rbf",
        mode: str = "univariate",
        optimizer: Any = None,
        max_plate_nesting: int | None = None,
        init: str = "prior",
        model_kwargs: Mapping[str, Any] | None = None,
        random_seed: int | None = None,
        fresh: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, args, _merge_kwargs(model_kwargs, kwargs), random_seed)
        if fresh:
            _forget(PARTICLES)
        self.optimizer = optimizer if optimizer is not None else Adam({"lr": 0.05})
        self.svgd = SVGD(
            model, kernel, self.optimizer, num_particles, max_plate_nesting, mode, init
        )
        self.svgd.setup(*self.args, **self.kwargs)
        self.approx = ParticleApproximation(self.svgd)
        self.approx.inference = self

    def _step(self) -> float:
        self.svgd.step(*self.args, **self.kwargs)
        assert self.svgd.loss is not None
        return self.svgd.loss

    def _set_optimizer(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self.svgd.optim = optimizer
