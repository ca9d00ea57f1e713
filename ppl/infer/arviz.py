"""Export MCMC draws to an ArviZ ``InferenceData`` (optional extra: ``pip install arviz``).

Design notes
------------
ArviZ's own ``from_pyro`` imports Pyro itself, so ppl hands its draws to ArviZ's generic
converter, ``arviz.from_dict``, in the layout ArviZ expects: every array is
``(chain, draw, *shape)``. The groups are filled from what ppl already has:

* ``posterior``: ``mcmc.get_samples(group_by_chain=True)``;
* ``sample_stats``: ``diverging`` per chain and draw, from the kernel's divergences;
* ``log_likelihood``: the pointwise ``log_prob`` of each observed site of
  ``mcmc.kernel.model`` (run on the arguments given to ``mcmc.run``) at every draw;
* ``observed_data``: those observed values (unless given);
* ``prior`` / ``posterior_predictive``: dicts such as ``Predictive`` returns
  (``(num_samples, *shape)``; a chain dim of 1 is added).

ArviZ is imported only when :func:`to_inference_data` is called, with a clear message
when it is missing.

Example:
    >>> to_inference_data.__name__
    'to_inference_data'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ppl.poutine import block, condition, trace
from ppl.poutine.trace_struct import is_subsample_site

__all__ = ["to_inference_data"]


def _import_arviz() -> Any:
    try:
        import arviz
    except ImportError as e:
        raise ImportError(
            "to_inference_data needs the optional dependency `arviz`: pip install arviz"
        ) from e
    return arviz


def _numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if torch.is_tensor(value) else value


def _with_chain_dim(samples: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if samples is None:
        return None
    return {name: _numpy(torch.as_tensor(v).unsqueeze(0)) for name, v in samples.items()}


def _divergences(mcmc: Any, num_chains: int, num_draws: int) -> Any:
    diverging = torch.zeros(num_chains, num_draws, dtype=torch.bool)
    per_chain = getattr(mcmc, "_diagnostics", None) or []
    for chain, diag in enumerate(per_chain):
        if isinstance(diag, Mapping):
            for i in diag.get("divergences", []):
                if 0 <= i < num_draws:
                    diverging[chain, i] = True
    return diverging.numpy()


def _pointwise_log_likelihood(
    mcmc: Any, grouped: Mapping[str, torch.Tensor]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(log_likelihood, observed_data)`` of the observed sites at every draw."""
    model = getattr(mcmc.kernel, "model", None)
    if model is None or not grouped:
        return {}, {}
    args = getattr(mcmc, "_args", None) or ()
    kwargs = getattr(mcmc, "_kwargs", None) or {}
    first = next(iter(grouped.values()))
    num_chains, num_draws = first.shape[:2]
    values: dict[str, list[torch.Tensor]] = {}
    observed: dict[str, Any] = {}
    with block(), torch.no_grad():
        for c in range(num_chains):
            for d in range(num_draws):
                draw = {name: v[c, d] for name, v in grouped.items()}
                tr = trace(condition(model, data=draw)).get_trace(*args, **kwargs)
                for name, site in tr.nodes.items():
                    if site.type != "sample" or not site.is_observed or name in draw:
                        continue
                    if is_subsample_site(site):
                        continue
                    values.setdefault(name, []).append(site.fn.log_prob(site.value))
                    observed.setdefault(name, _numpy(site.value))
    log_lik = {
        name: _numpy(torch.stack(v).reshape((num_chains, num_draws) + v[0].shape))
        for name, v in values.items()
    }
    return log_lik, observed


def to_inference_data(
    mcmc: Any = None,
    prior: Mapping[str, torch.Tensor] | None = None,
    posterior_predictive: Mapping[str, torch.Tensor] | None = None,
    observed_data: Mapping[str, Any] | None = None,
    log_likelihood: bool = True,
    coords: Mapping[str, Any] | None = None,
    dims: Mapping[str, list[str]] | None = None,
) -> Any:
    """An ``arviz.InferenceData`` of an MCMC run and optional prior/predictive draws.

    Args:
        mcmc: a finished :class:`~ppl.infer.mcmc.MCMC` (or None for prior/predictive only).
        prior: site -> prior draws ``(num_samples, *shape)`` (e.g. from ``Predictive``).
        posterior_predictive: site -> predictive draws ``(num_samples, *shape)``.
        observed_data: site -> observed value; default: the observed sites of the model.
        log_likelihood: compute the pointwise log-likelihood of the observed sites at
            each posterior draw (needs ``mcmc.kernel.model``).
        coords, dims: ArviZ's coordinate labels and dims per variable.

    Returns:
        ``arviz.InferenceData``; ``posterior`` variables have dims ``(chain, draw, ...)``.

    Raises:
        ImportError: if ArviZ is not installed.
        ValueError: if nothing is given to convert.
    """
    az = _import_arviz()
    if mcmc is None and prior is None and posterior_predictive is None:
        raise ValueError(
            "to_inference_data needs at least one of mcmc, prior or posterior_predictive"
        )
    groups: dict[str, Any] = {}
    if mcmc is not None:
        grouped = mcmc.get_samples(group_by_chain=True)
        groups["posterior"] = {name: _numpy(v) for name, v in grouped.items()}
        if grouped:
            num_chains, num_draws = next(iter(grouped.values())).shape[:2]
            groups["sample_stats"] = {"diverging": _divergences(mcmc, num_chains, num_draws)}
        if log_likelihood:
            log_lik, observed = _pointwise_log_likelihood(mcmc, grouped)
            if log_lik:
                groups["log_likelihood"] = log_lik
            if observed_data is None and observed:
                observed_data = observed
    if prior is not None:
        groups["prior"] = _with_chain_dim(prior)
    if posterior_predictive is not None:
        groups["posterior_predictive"] = _with_chain_dim(posterior_predictive)
    if observed_data is not None:
        groups["observed_data"] = {name: _numpy(v) for name, v in observed_data.items()}
    options = {"coords": dict(coords or {}), "dims": dict(dims or {})}
    if str(getattr(az, "__version__", "0")).startswith("0."):
        return az.from_dict(**groups, **options)  # ArviZ 0.x: one keyword per group
    return az.from_dict(groups, **options)  # ArviZ 1.x: a dict of groups
