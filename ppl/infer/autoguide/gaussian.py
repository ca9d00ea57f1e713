"""``AutoGaussian``: a joint Gaussian guide whose precision follows the model's factors.

Design notes
------------
Every latent site ``x`` is ``x = biject_to(support)(loc_x + scale_x * aux_x)`` and
the auxiliary ``aux`` (all latent coordinates, flattened) is one multivariate
normal in *information form*. Each factor ``d`` of the model (a latent site's prior,
or an observed site with latent parents) owns a square-root block
``prec_sqrts.d`` of shape ``plates(d) + (u_size, d_size)`` and ``white_vecs.d`` of
shape ``plates(d) + (d_size,)``, where ``u_size`` counts the coordinates of ``d``'s
latent parents (itself included). Plates of a parent that ``d`` does not sit in are
*broken*: folded into the block's rows. The joint is::

    precision = sum_d scatter(prec_sqrt_d @ prec_sqrt_d.T)
    info_vec  = sum_d scatter(prec_sqrt_d @ white_vec_d)

so its sparsity is the moral graph of the prior (the posterior's conditional
independences, Webb et al. 2018), positive definite by construction. The dense
backend scatters the blocks into one ``(n, n)`` matrix and samples a
``MultivariateNormal`` (``_<ClassName>_latent``, auxiliary). Parameter names are
Pyro's: ``locs.x``, ``scales.x``, ``white_vecs.d``, ``prec_sqrts.d``.

``backend="funsor"`` (``AutoGaussianFunsor``) needs the ``funsor`` package, as in
Pyro; ppl computes its identical distribution with the same dense algebra.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import torch

from ppl import primitives
from ppl.distributions import Delta, MultivariateNormal, constraints
from ppl.infer.autoguide._dependencies import prior_parents
from ppl.infer.autoguide.guide import AutoGuide
from ppl.infer.autoguide.initialization import init_to_feasible
from ppl.infer.autoguide.utils import check_init_scale, log_density_of
from ppl.ops.tensor_utils import precision_to_scale_tril
from ppl.poutine.mask_messenger import MaskMessenger, get_mask
from ppl.poutine.runtime import CondIndepStackFrame
from ppl.poutine.trace_struct import is_subsample_site

__all__ = ["AutoGaussian", "AutoGaussianDense", "AutoGaussianFunsor"]

Plates = frozenset[CondIndepStackFrame]


def _plates_to_shape(plates: Plates) -> torch.Size:
    """The batch shape spanned by ``plates`` (size 1 on dims no plate uses)."""
    shape = [1] * max([0] + [-int(f.dim) for f in plates])  # type: ignore[arg-type]
    for f in plates:
        shape[f.dim] = f.size  # type: ignore[index]
    return torch.Size(shape)


def _break_plates(x: torch.Tensor, all_plates: Plates, kept: Plates) -> torch.Tensor:
    """Fold the plates of ``x`` (batch ``all_plates``, one event dim) that are not in
    ``kept`` into its event dim, keeping the kept plates as batch dims."""
    kept = kept & all_plates
    broken = all_plates - kept
    if not broken:
        return x
    if not kept:
        return x.reshape(-1)
    batch_shape = _plates_to_shape(kept)
    event_dims = {-1} | {int(p.dim) - 1 for p in broken}  # type: ignore[arg-type]
    # kept batch dims first (in order), then broken ones and the event
    perm = sorted(range(-x.dim(), 0), key=lambda d: (d in event_dims, d))
    return x.permute(perm).reshape(batch_shape + (-1,))


class AutoGaussian(AutoGuide):
    """Joint Gaussian guide with the model's conditional independence structure.

    As expressive as :class:`~.multivariate_normal.AutoMultivariateNormal` for the
    posterior's dependency pattern, with a sparse precision (see the module notes).

    Args:
        model: the model (its sites' batch shapes must equal their plates').
        init_loc_fn: init strategy for the locations (default ``init_to_feasible``).
        init_scale: initial scale of every coordinate (unconstrained space).
        backend: ``"dense"`` (default) or ``"funsor"`` (needs the funsor package).

    Raises:
        ValueError: for an unknown backend, a bad ``init_scale``; at setup, for a site
            whose batch shape differs from its plates'.
        ImportError: for ``backend="funsor"`` without funsor installed.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> def model():
        ...     a = ppl.sample("a", dist.Normal(0.0, 1.0))
        ...     with ppl.plate("p", 3):
        ...         b = ppl.sample("b", dist.Normal(a, 1.0))
        ...         ppl.sample("y", dist.Normal(b, 1.0), obs=torch.zeros(3))
        >>> guide = AutoGaussian(model).setup()
        >>> type(guide).__name__
        'AutoGaussianDense'
        >>> {k: tuple(v.shape) for k, v in sorted(ppl.get_param_store().items())
        ...  if "prec_sqrts" in k}
        {'AutoGaussianDense.prec_sqrts.a': (1, 1), 'AutoGaussianDense.prec_sqrts.b': (3, 2, 1), \
'AutoGaussianDense.prec_sqrts.y': (3, 1, 1)}
    """

    scale_constraint = constraints.softplus_positive
    default_backend = "dense"

    def __new__(cls, *args: Any, **kwargs: Any) -> AutoGaussian:
        if cls is AutoGaussian:
            backend = kwargs.get("backend") or cls.default_backend
            backends = {"dense": AutoGaussianDense, "funsor": AutoGaussianFunsor}
            if backend not in backends:
                raise ValueError(
                    f"AutoGaussian: unknown backend {backend!r}; expected one of {sorted(backends)}"
                )
            cls = backends[backend]
        return super().__new__(cls)

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        init_loc_fn: Callable[..., Any] | str = init_to_feasible,
        init_scale: float = 0.1,
        backend: str | None = None,
    ) -> None:
        init_scale = check_init_scale(type(self).__name__, init_scale)
        super().__init__(model, init_loc_fn=init_loc_fn)
        self._init_scale = init_scale
        self.dependencies: dict[str, dict[str, set[str]]] = {}
        self._observed: dict[str, bool] = {}
        self._plates: dict[str, Plates] = {}
        self._event_numel: dict[str, int] = {}

    # ------------------------------------------------------------------ setup
    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        assert self.prototype_trace is not None
        parents = prior_parents(self.model, args, kwargs)
        nodes = self.prototype_trace.nodes
        for d, site in nodes.items():
            if site.type != "sample" or is_subsample_site(site) or d not in parents:
                continue
            ups = [u for u in parents[d] if u in self._sites or u == d]
            if site.is_observed and not any(u in self._sites for u in ups):
                continue  # a factor of data alone: no say in the guide
            frames = [f for f in site.cond_indep_stack if f.vectorized]
            plates: Plates = frozenset(frames)
            if site.fn.batch_shape != _plates_to_shape(plates):
                raise ValueError(
                    f"{type(self).__name__}: shape mismatch at site {d!r}: batch shape "
                    f"{tuple(site.fn.batch_shape)} but its plates span "
                    f"{tuple(_plates_to_shape(plates))}; are you missing a ppl.plate() "
                    "or .to_event()?"
                )
            self.dependencies[d] = {u: set() for u in ups}
            self._observed[d] = bool(site.is_observed)
            if site.is_observed:
                plates = plates & frozenset().union(*(self._plates[u] for u in ups if u != d))
                numel = site.fn.event_shape.numel()
                for f in set(frames) - plates:
                    numel *= f.size
                self._event_numel[d] = numel
            else:
                info = self._sites[d]
                unc = info.init_unconstrained
                self._event_numel[d] = unc.shape[unc.dim() - info.unconstrained_event_dim :].numel()
            self._plates[d] = plates

    def _latent_upstreams(self, d: str) -> list[str]:
        return [u for u in self.dependencies[d] if not self._observed[u]]

    def _setup_params(self) -> None:
        like = next(iter(self._sites.values())).init_unconstrained if self._sites else None
        self._add_loc_scale_params(self._init_scale, self.scale_constraint)
        if like is None:
            return
        for d in self.dependencies:
            u_size = sum(
                _plates_to_shape(self._plates[u] - self._plates[d]).numel() * self._event_numel[u]
                for u in self._latent_upstreams(d)
            )
            d_size = self._event_numel[d]
            if self._observed[d]:
                d_size = min(d_size, u_size)  # a larger rank adds nothing
            batch_shape = _plates_to_shape(self._plates[d])
            white_vec = like.new_zeros(batch_shape + (d_size,))
            prec_sqrt = (
                torch.rand(batch_shape + (u_size, d_size)).to(like) - 0.5
            ) * self._init_scale
            if not self._observed[d]:
                prec_sqrt.diagonal(dim1=-2, dim2=-1).fill_(1.0)  # own coordinates first
            self._add_param(f"white_vecs.{d}", white_vec, None, 1)
            self._add_param(f"prec_sqrts.{d}", prec_sqrt, None, 2)
        self._setup_backend()

    def _setup_backend(self) -> None:
        """Precompute the backend's layout (after the parameters exist)."""

    def _sample_aux_values(self, *, temperature: float) -> dict[str, torch.Tensor]:
        raise NotImplementedError  # pragma: no cover - every backend defines it

    # ------------------------------------------------------------------ sampling
    def _transform_values(
        self, aux_values: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        values: dict[str, torch.Tensor] = {}
        log_densities: dict[str, Any] = {}
        compute_density = get_mask() is not False
        for name, info in self._sites.items():
            loc = self._param(f"locs.{name}")
            scale = self._param(f"scales.{name}")
            unconstrained = aux_values[name] * scale + loc
            values[name] = info.transform(unconstrained)
            log_densities[name] = 0.0
            if compute_density:
                log_scale = scale.log()
                if info.unconstrained_event_dim:
                    log_scale = log_scale.flatten(-info.unconstrained_event_dim).sum(-1)
                log_densities[name] = log_density_of(info, values[name], unconstrained) - log_scale
        return values, log_densities

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Sample every latent site; returns ``{site: constrained value}``."""
        aux_values = self._sample_aux_values(temperature=1.0)
        values, log_densities = self._transform_values(aux_values)
        plates = self._create_plates(*args, **kwargs)
        for name, info in self._sites.items():
            with ExitStack() as stack:
                self._enter_plates(stack, plates, info)
                delta = Delta(values[name], log_densities[name], event_dim=info.event_dim)
                values[name] = primitives.sample(name, delta)
        return values

    @torch.no_grad()
    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The mode of the unconstrained Gaussian, mapped to each site's support."""
        self.setup(*args, **kwargs)
        with MaskMessenger(mask=False):
            aux_values = self._sample_aux_values(temperature=0.0)
            values, _ = self._transform_values(aux_values)
        return {name: value.detach() for name, value in values.items()}


class AutoGaussianDense(AutoGaussian):
    """:class:`AutoGaussian` with dense algebra (``AutoGaussian(model, backend="dense")``).

    Cost is that of a full-rank ``MultivariateNormal`` over all latent coordinates.
    """

    def _setup_backend(self) -> None:
        self._dense_shapes: dict[str, tuple[torch.Size, torch.Size]] = {}
        global_index: dict[str, torch.Tensor] = {}
        pos = 0
        for d, info in self._sites.items():
            unc = info.init_unconstrained
            batch = unc.dim() - info.unconstrained_event_dim
            batch_shape, event_shape = unc.shape[:batch], unc.shape[batch:]
            self._dense_shapes[d] = batch_shape, event_shape
            end = pos + unc.numel()
            global_index[d] = torch.arange(pos, end).reshape(batch_shape + (-1,))
            pos = end
        self._dense_size = pos
        self._dense_scatter: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        n = pos
        for d in self.dependencies:
            shape = self._lookup(f"prec_sqrts.{d}").shape
            index1 = torch.zeros(shape[:-1], dtype=torch.long)
            index2 = torch.zeros(shape[:-1] + shape[-2:-1], dtype=torch.long)
            spans: dict[str, tuple[int, torch.Tensor]] = {}
            offset = 0
            for u in self._latent_upstreams(d):
                u_index = _break_plates(global_index[u], self._plates[u], self._plates[d])
                spans[u] = offset, u_index
                index1[..., offset : offset + u_index.size(-1)] = u_index
                offset += u_index.size(-1)
            for (u0, u_idx), (v0, v_idx) in itertools.product(spans.values(), spans.values()):
                block = n * u_idx.unsqueeze(-1) + v_idx.unsqueeze(-2)
                index2[..., u0 : u0 + u_idx.size(-1), v0 : v0 + v_idx.size(-1)] = block
            self._dense_scatter[d] = index1.reshape(-1), index2.reshape(-1)

    def _dense_get_mvn(self) -> MultivariateNormal:
        """The joint ``MultivariateNormal`` of the flat auxiliary values."""
        like = self._lookup(f"locs.{next(iter(self._sites))}")
        n = self._dense_size
        info_vec = like.new_zeros(n)
        precision = like.new_zeros(n * n)
        for d, (index1, index2) in self._dense_scatter.items():
            white_vec = self._param(f"white_vecs.{d}")
            prec_sqrt = self._param(f"prec_sqrts.{d}")
            info = (prec_sqrt @ white_vec.unsqueeze(-1)).squeeze(-1)
            prec = prec_sqrt @ prec_sqrt.transpose(-1, -2)
            info_vec = info_vec.scatter_add(0, index1.to(like.device), info.reshape(-1))
            precision = precision.scatter_add(0, index2.to(like.device), prec.reshape(-1))
        scale_tril = precision_to_scale_tril(precision.reshape(n, n))
        loc = (scale_tril @ (scale_tril.transpose(-1, -2) @ info_vec.unsqueeze(-1))).squeeze(-1)
        return MultivariateNormal(loc, scale_tril=scale_tril)

    def _sample_aux_values(self, *, temperature: float) -> dict[str, torch.Tensor]:
        if not self._sites:
            return {}
        mvn = self._dense_get_mvn()
        if temperature == 0:
            flat = mvn.mean
        elif temperature == 1:
            flat = primitives.sample(
                f"_{self._pyro_name}_latent", mvn, infer={"is_auxiliary": True}
            )
        else:
            raise NotImplementedError(
                f"{type(self).__name__}: temperature must be 0 or 1, got {temperature}"
            )
        return self._dense_unflatten(flat)

    def _dense_unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split flat auxiliary values into per-site tensors (particle dims broadcast
        with each site's plates)."""
        sample_shape = flat.shape[:-1]
        out = {}
        pos = 0
        for d, (batch_shape, event_shape) in self._dense_shapes.items():
            end = pos + (batch_shape + event_shape).numel()
            shape = torch.broadcast_shapes(sample_shape, batch_shape) + event_shape
            out[d] = flat[..., pos:end].reshape(shape)
            pos = end
        return out

    def _dense_flatten(self, samples: dict[str, torch.Tensor]) -> torch.Tensor:
        """The inverse of :meth:`_dense_unflatten`."""
        parts = []
        for d, (batch_shape, event_shape) in self._dense_shapes.items():
            shape = samples[d].shape
            sample_shape = shape[: len(shape) - len(batch_shape) - len(event_shape)]
            parts.append(samples[d].reshape(sample_shape + (-1,)))
        return torch.cat(parts, dim=-1)


def _import_funsor() -> Any:
    try:
        import funsor  # type: ignore[import-not-found]
    except ImportError as err:
        raise ImportError(
            'AutoGaussian(..., backend="funsor") requires the funsor package '
            '(pip install funsor); use backend="dense" (the default) otherwise'
        ) from err
    return funsor


class AutoGaussianFunsor(AutoGaussianDense):
    """:class:`AutoGaussian` with ``backend="funsor"``: needs funsor installed, as in
    Pyro; ppl evaluates the same distribution with the dense algebra."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _import_funsor()
        super().__init__(*args, **kwargs)
