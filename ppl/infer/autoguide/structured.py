"""``AutoStructured``: per-site conditionals plus shear dependencies between sites.

Design notes
------------
Each latent site ``x`` has a flat location ``locs.x`` (all its unconstrained
coordinates, plates included) and a *conditional*, the law of its zero-centred noise:

* ``"delta"``  -- no noise (a point estimate);
* ``"normal"`` -- ``scales.x * eps`` with ``eps ~ N(0, I)``;
* ``"mvn"``    -- ``scales.x * (scale_trils.x @ eps)``: a full Cholesky factor times a
  separate per-coordinate scale (over-parameterized on purpose, so the global size of
  the noise learns fast);
* a callable returning the noise (it may call ``ppl.param`` / ``ppl.sample``).

Sites are visited in a topological order of ``dependencies`` and each site's noise is
sheared by its upstream sites' noises, ``aux_x += dep(aux_u)`` (``"linear"`` is a
zero-initialized ``nn.Linear`` without bias). A shear has unit Jacobian, so the
guide's density is the conditionals' density times the support Jacobian. Adding
upstream *noises* (not values) gives the precision matrix the dependency graph's
sparsity. With ``dependencies="linear"`` the edges are the model's posterior
dependencies (factors sharing latents), oriented along the model's sampling order.

All noise draws are auxiliary sites (``<x>_aux``); the model's sites get ``Delta``
values inside their plates. Parameter names follow Pyro's: ``AutoStructured.locs.x``,
``.scales.x``, ``.scale_trils.x``, ``.deps.<down>.<up>$$$weight``, ``.conds.x...``.
Plates that draw minibatches are not supported (all coordinates are global), as in
Pyro.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from ppl import primitives
from ppl.distributions import Delta, Normal, constraints
from ppl.infer.autoguide._dependencies import posterior_edges
from ppl.infer.autoguide.guide import AutoGuide
from ppl.infer.autoguide.initialization import init_to_feasible
from ppl.infer.autoguide.utils import check_init_scale, log_density_of
from ppl.nn.module import PyroModule
from ppl.poutine.infer_config_messenger import InferConfigMessenger
from ppl.poutine.mask_messenger import get_mask

__all__ = ["AutoStructured"]

Conditional = str | Callable[..., Any]
Dependency = str | Callable[..., Any]
_CONDITIONALS = ("delta", "normal", "mvn")


def _auxiliary(msg: Any) -> dict[str, Any]:
    return {"is_auxiliary": True}


def _deep_set(root: nn.Module, dotted: str, value: Any) -> None:
    """``root.a.b.c = value`` for ``dotted="a.b.c"``, creating ``PyroModule`` s on the way."""
    owner = root
    *path, last = dotted.split(".")
    for part in path:
        child = owner._modules.get(part)
        if child is None:
            child = PyroModule()
            setattr(owner, part, child)
        owner = child
    setattr(owner, last, value)


def _deep_get(root: Any, dotted: str) -> Any:
    """``root.a.b.c`` via ``getattr`` (so a ``PyroModule`` registers plain modules)."""
    for part in dotted.split("."):
        root = getattr(root, part)
    return root


class AutoStructured(AutoGuide):
    """Structured guide: Delta/Normal/MVN/custom conditionals, sheared by dependencies.

    Args:
        model: the model.
        conditionals: one conditional for every site, or ``{site: conditional}``
            (sites left out are ``"mvn"``); a conditional is ``"delta"``,
            ``"normal"``, ``"mvn"`` or a callable returning zero-centred noise of the
            site's flattened unconstrained shape.
        dependencies: ``"linear"`` (edges inferred from the model's posterior
            dependencies) or ``{downstream: {upstream: dep}}`` where a dep is
            ``"linear"`` or a callable mapping the upstream's flat noise to the
            downstream's; no cycles, no self-loops.
        init_loc_fn: init strategy for the locations (default ``init_to_feasible``).
        init_scale: initial scale of the Normal/MVN noises (unconstrained space).
        create_plates: see :class:`~.guide.AutoGuide`.

    Raises:
        TypeError: for a conditional or dependency that is neither a known string nor
            callable.
        ValueError: for an unknown conditional string, a self-loop, a dependency
            naming a site without conditional, a bad ``init_scale``; at setup, for a
            dependency on a site the model does not have, or a cycle.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> def model():
        ...     a = ppl.sample("a", dist.Normal(0.0, 1.0))
        ...     b = ppl.sample("b", dist.LogNormal(0.0, 1.0))
        ...     ppl.sample("y", dist.Normal(a, b), obs=torch.tensor(1.0))
        >>> guide = AutoStructured(model, conditionals={"a": "normal", "b": "delta"}).setup()
        >>> guide.dependencies
        {'b': {'a': 'linear'}}
        >>> sorted(name for name, _ in guide.named_parameters())  # doctest: +NORMALIZE_WHITESPACE
        ['deps.b.a.weight', 'locs.a_unconstrained', 'locs.b_unconstrained',
         'scales.a_unconstrained']
        >>> sorted(guide().keys())
        ['a', 'b']
    """

    scale_constraint = constraints.softplus_positive
    scale_tril_constraint = constraints.softplus_lower_cholesky

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        conditionals: Conditional | Mapping[str, Conditional] = "mvn",
        dependencies: Dependency | Mapping[str, Mapping[str, Dependency]] = "linear",
        init_loc_fn: Callable[..., Any] | str = init_to_feasible,
        init_scale: float = 0.1,
        create_plates: Callable[..., Any] | None = None,
    ) -> None:
        if isinstance(conditionals, Mapping):
            for name, cond in conditionals.items():
                self._check_conditional(name, cond)
            conditionals = dict(conditionals)
        else:
            self._check_conditional("every site", conditionals)
        if isinstance(dependencies, Mapping):
            checked: dict[str, dict[str, Dependency]] = {}
            for down, deps in dependencies.items():
                if not isinstance(deps, Mapping):
                    raise TypeError(
                        f"AutoStructured: dependencies[{down!r}] must be a dict "
                        f"{{upstream: dependency}}, got {type(deps).__name__}"
                    )
                for up, dep in deps.items():
                    if up == down:
                        raise ValueError(f"AutoStructured: site {down!r} depends on itself")
                    if isinstance(conditionals, dict):
                        for site in (down, up):
                            if site not in conditionals:
                                raise ValueError(
                                    f"AutoStructured: dependency {down!r} <- {up!r} names "
                                    f"site {site!r}, which has no conditional; conditionals "
                                    f"are given for {sorted(conditionals)}"
                                )
                    self._check_dependency(down, up, dep)
                checked[down] = dict(deps)
            dependencies = checked
        elif not (dependencies == "linear" or callable(dependencies)):
            raise TypeError(
                "AutoStructured: dependencies must be 'linear', a callable or a dict "
                f"{{downstream: {{upstream: dependency}}}}, got {dependencies!r}"
            )
        init_scale = check_init_scale("AutoStructured", init_scale)
        super().__init__(model, create_plates=create_plates, init_loc_fn=init_loc_fn)
        self.conditionals: Any = conditionals
        self.dependencies: Any = dependencies
        self._init_scale = init_scale
        self._sorted_sites: list[str] = []
        self._batch_shapes: dict[str, torch.Size] = {}
        self._event_shapes: dict[str, torch.Size] = {}

    @staticmethod
    def _check_conditional(name: str, cond: Any) -> None:
        if isinstance(cond, str):
            if cond not in _CONDITIONALS:
                raise ValueError(
                    f"AutoStructured: unsupported conditional {cond!r} for {name!r}; "
                    f"expected one of {_CONDITIONALS} or a callable"
                )
        elif not callable(cond):
            raise TypeError(
                f"AutoStructured: the conditional of {name!r} must be one of {_CONDITIONALS} "
                f"or a callable, got {type(cond).__name__}"
            )

    @staticmethod
    def _check_dependency(down: str, up: str, dep: Any) -> None:
        if not (dep == "linear" if isinstance(dep, str) else callable(dep)):
            raise TypeError(
                f"AutoStructured: the dependency {down!r} <- {up!r} must be 'linear' or a "
                f"callable, got {dep!r}"
            )

    # ------------------------------------------------------------------ setup
    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        sites = list(self._sites)
        if not isinstance(self.conditionals, dict):
            self.conditionals = {name: self.conditionals for name in sites}
        else:
            self.conditionals = {name: self.conditionals.get(name, "mvn") for name in sites}
        if not isinstance(self.dependencies, dict):
            order, edges = posterior_edges(self.model, args, kwargs)
            rank = {name: i for i, name in enumerate(order)}
            inferred: dict[str, dict[str, Dependency]] = {}
            for edge in sorted(edges, key=sorted):
                if not edge <= self._sites.keys():
                    continue
                up, down = sorted(edge, key=rank.__getitem__)
                inferred.setdefault(down, {})[up] = self.dependencies
            self.dependencies = {down: inferred[down] for down in sites if down in inferred}
        for down, deps in self.dependencies.items():
            for site in (down, *deps):
                if site not in self._sites:
                    raise ValueError(
                        f"AutoStructured: dependency on site {site!r}, which is not a latent "
                        f"site of the model; latent sites: {sites}"
                    )

    def _setup_params(self) -> None:
        numel: dict[str, int] = {}
        locs: dict[str, torch.Tensor] = {}
        for name, info in self._sites.items():
            unc = info.init_unconstrained
            batch_dim = unc.dim() - info.unconstrained_event_dim
            self._batch_shapes[name] = unc.shape[:batch_dim]
            self._event_shapes[name] = unc.shape[batch_dim:]
            numel[name] = unc.numel()
            locs[name] = unc.reshape(-1)
        self.conds = PyroModule()
        self.deps = PyroModule()
        for name, loc in locs.items():
            self._add_param(f"locs.{name}", loc)
            cond = self.conditionals[name]
            if callable(cond):
                _deep_set(self.conds, name, cond)
            if cond in ("normal", "mvn"):
                scale = torch.full_like(loc, self._init_scale)
                self._add_param(f"scales.{name}", scale, self.scale_constraint)
            if cond == "mvn":
                eye = torch.eye(loc.numel(), dtype=loc.dtype, device=loc.device)
                self._add_param(f"scale_trils.{name}", eye, self.scale_tril_constraint)
            for up, dep in self.dependencies.get(name, {}).items():
                if isinstance(dep, str):
                    dep = nn.Linear(numel[up], numel[name], bias=False)
                    dep = dep.to(device=loc.device, dtype=loc.dtype)
                    nn.init.zeros_(dep.weight)
                _deep_set(self.deps, f"{name}.{up}", dep)
        self._sorted_sites = self._topological_order()

    def _topological_order(self) -> list[str]:
        pending = {name: len(self.dependencies.get(name, {})) for name in self._sites}
        children: dict[str, list[str]] = {name: [] for name in self._sites}
        for down, deps in self.dependencies.items():
            for up in deps:
                children[up].append(down)
        order = []
        while pending:
            name, count = min(pending.items(), key=lambda kv: (kv[1], kv[0]))
            if count:
                raise ValueError(
                    f"AutoStructured: the dependencies have a cycle through {sorted(pending)}"
                )
            del pending[name]
            for child in children[name]:
                pending[child] -= 1
            order.append(name)
        return order

    # ------------------------------------------------------------------ sampling
    def get_deltas(self, save_params: Sequence[str] | None = None) -> dict[str, Delta]:
        """One joint draw as ``{site: Delta(value, log_density)}`` (noise sites auxiliary).

        The ``Delta`` s carry the guide's log-density of each value (the conditional's
        density of the noise plus the support Jacobian), so sampling them at the
        model's sites gives the guide's density; ``StructuredReparam`` uses them.

        Args:
            save_params: only these sites (default all). A site's upstream sites must
                be included.
        """
        self._require_setup("get_deltas")
        with InferConfigMessenger(_auxiliary):
            return self._get_deltas(save_params)

    def _get_deltas(self, save_params: Sequence[str] | None) -> dict[str, Delta]:
        deltas: dict[str, Delta] = {}
        aux_values: dict[str, torch.Tensor] = {}
        compute_density = get_mask() is not False
        for name in self._sorted_sites:
            if save_params is not None and name not in save_params:
                continue
            info = self._sites[name]
            loc = self._param(f"locs.{name}")
            cond = self.conditionals[name]
            log_density: Any = 0.0
            if callable(cond):
                aux = _deep_get(self.conds, name)()
            elif cond == "delta":
                aux = torch.zeros_like(loc)
            else:
                eps = primitives.sample(
                    f"{name}_aux",
                    Normal(torch.zeros_like(loc), 1.0).to_event(1),
                    infer={"is_auxiliary": True},
                )
                scale = self._param(f"scales.{name}")
                log_scale = scale.log()
                if cond == "mvn":
                    tril = self._param(f"scale_trils.{name}")
                    eps = eps @ tril.transpose(-1, -2)
                    log_scale = log_scale + tril.diagonal(dim1=-2, dim2=-1).log()
                aux = eps * scale
                if compute_density:
                    log_density = (-log_scale).expand_as(aux)
            for up in self.dependencies.get(name, {}):
                if up not in aux_values:
                    raise ValueError(
                        f"AutoStructured.get_deltas: site {name!r} depends on {up!r}, which "
                        f"save_params={list(save_params or [])} leaves out"
                    )
                aux = aux + _deep_get(self.deps, f"{name}.{up}")(aux_values[up])
            aux_values[name] = aux
            # particle dims (from outer vectorized plates) broadcast with the plates
            batch_shape = torch.broadcast_shapes(aux.shape[:-1], self._batch_shapes[name])
            unconstrained = (aux + loc).reshape(batch_shape + self._event_shapes[name])
            if isinstance(log_density, torch.Tensor):
                log_density = log_density.reshape(batch_shape + (-1,)).sum(-1)
            value = info.transform(unconstrained)
            if compute_density and cond != "delta":
                log_density = log_density + log_density_of(info, value, unconstrained)
            deltas[name] = Delta(value, log_density, event_dim=info.event_dim)
        return deltas

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Sample every latent site (in dependency order); ``{site: constrained value}``."""
        deltas = self.get_deltas()
        plates = self._create_plates(*args, **kwargs)
        result: dict[str, torch.Tensor] = {}
        for name in self._sorted_sites:
            with ExitStack() as stack:
                self._enter_plates(stack, plates, self._sites[name])
                result[name] = primitives.sample(name, deltas[name])
        return result

    # ------------------------------------------------------------------ summaries
    @torch.no_grad()
    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """``biject_to(support)(loc)`` of every site (the noise is centred at zero)."""
        self.setup(*args, **kwargs)
        result = {}
        for name in self._sorted_sites:
            shape = self._batch_shapes[name] + self._event_shapes[name]
            loc = self._lookup(f"locs.{name}").detach().reshape(shape)
            result[name] = self._sites[name].transform(loc)
        return result

    @torch.no_grad()
    def _noise_factors(self) -> dict[str, torch.Tensor]:
        """``{site: A}`` with the site's flat noise ``= A @ eps`` (all sites' ``eps``).

        Only defined when every conditional is a string and every dependency linear.
        """
        total = sum(self._lookup(f"locs.{n}").numel() for n in self._sorted_sites)
        factors: dict[str, torch.Tensor] = {}
        offset = 0
        for name in self._sorted_sites:
            loc = self._lookup(f"locs.{name}")
            n = loc.numel()
            cond = self.conditionals[name]
            if callable(cond):
                raise NotImplementedError(
                    f"AutoStructured: site {name!r} has a callable conditional, whose "
                    "marginals are unknown; use median() or sample the guide"
                )
            factor = loc.new_zeros(n, total)
            if cond != "delta":
                block = torch.diag(self._lookup(f"scales.{name}"))
                if cond == "mvn":
                    block = block @ self._lookup(f"scale_trils.{name}")
                factor[:, offset : offset + n] = block
                offset += n
            for up in self.dependencies.get(name, {}):
                dep = _deep_get(self.deps, f"{name}.{up}")
                if not (isinstance(dep, nn.Linear) and dep.bias is None):
                    raise NotImplementedError(
                        f"AutoStructured: dependency {name!r} <- {up!r} is not linear, so "
                        "the marginals are unknown; use median() or sample the guide"
                    )
                factor = factor + dep.weight @ factors[up]
            factors[name] = factor
        return factors

    @torch.no_grad()
    def quantiles(
        self, quantiles: Sequence[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Marginal quantiles ``{site: (len(quantiles), *shape)}`` (exact for elementwise
        supports); needs string conditionals and linear dependencies (the joint
        unconstrained law is then Gaussian).

        Raises:
            NotImplementedError: naming a site with a callable conditional or dependency.
            ValueError: if ``quantiles`` is not a 1-D sequence of levels in (0, 1).

        Example:
            >>> import ppl, ppl.distributions as dist
            >>> ppl.clear_param_store()
            >>> guide = AutoStructured(lambda: ppl.sample("s", dist.LogNormal(0.0, 1.0)))
            >>> tuple(guide.quantiles([0.1, 0.5, 0.9])["s"].shape)
            (3,)
        """
        self.setup(*args, **kwargs)
        factors = self._noise_factors()
        result = {}
        for name in self._sorted_sites:
            shape = self._batch_shapes[name] + self._event_shapes[name]
            loc = self._lookup(f"locs.{name}").detach()
            sd = factors[name].pow(2).sum(-1).sqrt()
            q = self._quantile_tensor(quantiles, loc).unsqueeze(-1)
            unc = loc + sd * Normal(torch.zeros_like(q), 1.0).icdf(q)
            result[name] = self._sites[name].transform(unc.reshape((-1,) + shape))
        return result

    @torch.no_grad()
    def covariance(self) -> dict[tuple[str, str], torch.Tensor]:
        """Joint covariance blocks ``{(a, b): Cov(u_a, u_b)}`` of the flat unconstrained
        values (string conditionals and linear dependencies only)."""
        self._require_setup("covariance")
        factors = self._noise_factors()
        return {
            (a, b): factors[a] @ factors[b].T
            for a in self._sorted_sites
            for b in self._sorted_sites
        }
