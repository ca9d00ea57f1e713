"""``fit``: PyMC's one-line variational inference, over ppl's function-style models.

Design notes
------------
``fit(model, *args, method=..., **kwargs)`` builds the inference object registered for
``method`` (see :func:`register_method`), runs it and returns its approximation.

*Which argument goes where.* Positional arguments after the model, and every keyword
that is not one of ``fit``'s own options, are the model's arguments::

    approx = fit(model, x_data, y_data, method="advi", num_steps=5000, batch_size=64)
    #              model args ----^          fit options ----^       ^---- model kwarg

A model keyword whose name collides with an option (``method``, ``n``, ``callbacks``...)
goes in ``model_kwargs={...}``. Options of the inference object itself (particles,
kernels, guide settings) go in ``inf_kwargs={...}`` (PyMC's name); PyMC's
``n_particles`` is accepted there as an alias of ``num_particles``, PyMC's ``n`` as an
alias of ``num_steps`` and ``obj_optimizer`` of ``optimizer``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .approximation import Approximation
from .inference import ADVI, MAP, FullRankADVI, Inference, Laplace, SVGDInference

__all__ = ["fit", "get_method", "register_method"]

_METHODS: dict[str, Callable[..., Inference]] = {}


def register_method(name: str, factory: Callable[..., Inference]) -> None:
    """Make ``fit(method=name)`` build ``factory(model, *args, **options, **model_kwargs)``.

    Raises:
        TypeError: ``name`` is not a string or ``factory`` is not callable.

    Example:
        >>> register_method("advi_mf", ADVI)
        >>> get_method("advi_mf") is ADVI
        True
    """
    if not isinstance(name, str):
        raise TypeError(f"register_method: name must be a str, got {type(name).__name__}")
    if not callable(factory):
        raise TypeError(f"register_method({name!r}): factory must be callable, got {factory!r}")
    _METHODS[name] = factory


def get_method(name: str) -> Callable[..., Inference]:
    """The inference class registered as ``name``.

    Raises:
        ValueError: an unknown name (the message lists the registered ones).
    """
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"fit: unknown method {name!r}; expected one of {sorted(_METHODS)} "
            "(or register one with ppl.infer.vi.register_method)"
        ) from None


register_method("advi", ADVI)
register_method("fullrank_advi", FullRankADVI)
register_method("svgd", SVGDInference)
register_method("map", MAP)
register_method("laplace", Laplace)


def fit(
    model: Callable[..., Any],
    *args: Any,
    method: str = "advi",
    num_steps: int | None = None,
    n: int | None = None,
    optimizer: Any = None,
    obj_optimizer: Any = None,
    obj_n_mc: int | None = None,
    callbacks: Sequence[Callable[..., Any]] = (),
    progress_bar: bool = True,
    random_seed: int | None = None,
    inf_kwargs: Mapping[str, Any] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Approximation:
    """Fit an approximation to the posterior of ``model`` in one call.

    Args:
        model: the model (a callable with ``ppl.sample`` statements).
        *args: the model's positional arguments (data).
        method: ``"advi"`` (mean-field Normal), ``"fullrank_advi"`` (multivariate Normal),
            ``"svgd"`` (Stein particles), ``"map"`` (point mass) or ``"laplace"``.
        num_steps: number of optimisation steps (default 10000); ``n`` is PyMC's alias.
        optimizer: a ``ppl.optim`` optimiser; ``obj_optimizer`` is PyMC's alias. Default:
            PyMC's ``adagrad_window()`` for ``"advi"``/``"fullrank_advi"`` (see
            :class:`~ppl.infer.vi.inference.ADVI` for PyMC's other defaults), Adam with
            lr 0.05 for SVGD and 0.01 for ``"map"``/``"laplace"``.
        obj_n_mc: Monte Carlo samples of the ELBO per step (PyMC's name; the guide
            methods' ``num_particles``, default 1).
        callbacks: called as ``cb(approx, losses, step)`` after every step; raising
            ``StopIteration`` ends the fit early ("Interrupted at step N").
        progress_bar: show a progress bar and the final summary line.
        random_seed: seed every generator first, for a reproducible fit.
        inf_kwargs: options of the inference object, e.g. ``{"num_particles": 500,
            "kernel": "rbf"}`` for SVGD, ``{"guide_kwargs": {"init_scale": 1.0}}``.
        model_kwargs: model keywords that collide with the option names above.
        **kwargs: the model's keyword arguments.

    Returns:
        The fitted :class:`~ppl.infer.vi.approximation.Approximation`; ``approx.refine(n)``
        continues the fit.

    Raises:
        ValueError: an unknown ``method``; both ``num_steps`` and ``n`` (or both
            ``optimizer`` and ``obj_optimizer``) given; a bad step count.
        TypeError: a non-callable model or callback.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> def model(data):
        ...     mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
        ...     with ppl.plate("data", len(data)):
        ...         ppl.sample("obs", dist.Normal(mu, 1.0), obs=data)
        >>> approx = fit(model, torch.tensor([0.9, 1.1]), num_steps=2000,
        ...              optimizer=ppl.optim.Adam({"lr": 0.01}), progress_bar=False,
        ...              random_seed=0)
        >>> round(float(approx.mean["mu"]), 1)
        1.0
    """
    if num_steps is not None and n is not None:
        raise ValueError(f"fit: give num_steps or its alias n, not both (got {num_steps} and {n})")
    if optimizer is not None and obj_optimizer is not None:
        raise ValueError("fit: give optimizer or its alias obj_optimizer, not both")
    steps = num_steps if num_steps is not None else n if n is not None else 10000
    optimizer = optimizer if optimizer is not None else obj_optimizer
    factory = get_method(method)
    options = dict(inf_kwargs or {})
    if obj_n_mc is not None:
        if "num_particles" in options or "n_particles" in options:
            raise ValueError("fit: give obj_n_mc or inf_kwargs' num_particles, not both")
        options["num_particles"] = obj_n_mc
    if "n_particles" in options:
        if "num_particles" in options:
            raise ValueError("fit: inf_kwargs has both n_particles and num_particles; give one")
        options["num_particles"] = options.pop("n_particles")
    inference = factory(
        model,
        *args,
        optimizer=optimizer,
        random_seed=random_seed,
        model_kwargs=model_kwargs,
        **options,
        **kwargs,
    )
    return inference.fit(steps, callbacks=callbacks, progress_bar=progress_bar)
