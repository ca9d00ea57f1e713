"""Stein variational gradient descent (Liu & Wang 2016) with Pyro's ``SVGD`` interface.

Design notes
------------
*Particles in one flat tensor.* The ``N`` particles live in the ParamStore as one
unconstrained parameter ``"svgd_particles"`` of shape ``(N, D)``; a
:class:`~ppl.ops.layout.Layout` of the latent sites' *unconstrained* shapes splits each
row into the sites (``layout.fold`` gives ``{site: (N, *shape)}`` views). Checkpoints,
optimisers and convergence callbacks therefore see one ordinary parameter.

*One vectorised log-density.* Each step maps the particles to constrained values with
``biject_to(site.support)``, substitutes them into the model run inside an extra plate
of size ``N`` at dim ``-max_plate_nesting - 1`` (so the model is evaluated once for all
particles), and differentiates ``loss = -sum_n [log p(x_n, data) + log|J(u_n)|]``. The
log-Jacobian makes the particles target the posterior *in unconstrained space*, so the
constrained particles follow the posterior (Pyro's ``SVGD`` leaves this term out; for
real-valued latents the two agree).

*The SVGD direction.* With ``g_m`` the gradient of the loss at particle ``m`` and a
kernel from :mod:`ppl.infer.kernels`, the descent direction of particle ``n`` is
``(1/N) sum_m k_nm (g_m + kernel_grad_nm)``: the first term pulls particles towards high
density, the second pushes them apart. ``mode="multivariate"`` uses the product kernel
over all dims, ``mode="univariate"`` one kernel per dim. The direction is written into
the particles' ``.grad`` and the ppl optimiser takes the step (any ``ppl.optim``
optimiser: Adam, SGD, ...). Params declared in the model get the loss gradient.

*Limits.* Latent sites must be continuous and outside subsampled plates (a particle
holds one value per site for the whole data set).

Example:
    >>> import ppl, ppl.distributions as dist
    >>> from ppl.optim import Adam
    >>> def model():
    ...     ppl.sample("x", dist.Normal(1.0, 0.5))
    >>> svgd = SVGD(model, RBFSteinKernel(), Adam({"lr": 0.1}), num_particles=20,
    ...             max_plate_nesting=0)
    >>> for _ in range(200):
    ...     _ = svgd.step()
    >>> round(float(svgd.get_named_particles()["x"].mean()), 1)
    1.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import biject_to

from ..ops.layout import Layout
from ..params.param_store import get_param_store
from ..poutine.plate_messenger import PlateMessenger
from ..poutine.runtime import Message, broadcast_to_plates
from ..poutine.substitute_messenger import SubstituteMessenger
from ..poutine.trace_messenger import TraceMessenger
from ..poutine.trace_struct import Trace, is_subsample_site
from .kernels import IMQSteinKernel, RBFSteinKernel, SteinKernel, get_kernel
from .util import guess_max_plate_nesting

__all__ = [
    "IMQSteinKernel",
    "RBFSteinKernel",
    "SVGD",
    "SteinKernel",
    "init_uniform_value",
    "init_value",
    "support_transform",
]

PARTICLES = "svgd_particles"
_PLATE = "num_particles_vectorized"


def _uniform_value(fn: Any) -> torch.Tensor:
    transform = support_transform(fn.support)
    shape = transform.inverse_shape(tuple(fn.batch_shape) + tuple(fn.event_shape))
    return transform(torch.rand(shape) * 4.0 - 2.0)


def init_value(msg: Message) -> torch.Tensor | None:
    """A starting value for a latent site: a prior draw, or uniform(-2, 2) unconstrained.

    Used with ``poutine.substitute(substitute_fn=init_value)``; distributions that cannot
    be sampled (``ImproperUniform``, PyMC's ``Flat``) get a uniform draw mapped into
    their support.
    """
    if msg.type != "sample" or msg.is_observed or msg.infer.get("is_subsample", False):
        return None
    broadcast_to_plates(msg)  # the plates have not expanded ``fn`` yet at this point
    fn: Any = msg.fn
    try:
        return fn.sample()
    except NotImplementedError:
        return _uniform_value(fn)


def init_uniform_value(msg: Message) -> torch.Tensor | None:
    """A starting value drawn uniformly in ``(-2, 2)`` in unconstrained space (any prior)."""
    if msg.type != "sample" or msg.is_observed or msg.infer.get("is_subsample", False):
        return None
    broadcast_to_plates(msg)
    return _uniform_value(msg.fn)


_INITS = {"prior": init_value, "uniform": init_uniform_value}


def support_transform(support: Any) -> Any:
    """``biject_to(support)``, unwrapping torch's ``MixtureSameFamily`` support wrapper.

    Raises:
        ValueError: naming the support when no bijection to it is registered.
    """
    try:
        return biject_to(support)
    except NotImplementedError:
        base = getattr(support, "base_constraint", None)
        if base is not None:
            return support_transform(base)
        raise ValueError(
            f"no bijection onto the support {support!r} is registered; register one with "
            "torch.distributions.biject_to.register"
        ) from None


class _Site:
    """What SVGD needs to know about one latent site (read off the prototype run)."""

    __slots__ = ("name", "shape", "pad", "transform", "unconstrained_shape")

    def __init__(self, site: Message, max_plate_nesting: int) -> None:
        fn: Any = site.fn
        self.name = str(site.name)
        self.shape = tuple(site.value.shape)
        batch_rank = len(self.shape) - len(fn.event_shape)
        self.pad = max_plate_nesting - batch_rank  # 1s between the particle dim and the site
        self.transform = support_transform(fn.support)
        self.unconstrained_shape = tuple(self.transform.inverse_shape(self.shape))


def _check_latent(site: Message) -> None:
    fn: Any = site.fn
    if fn.support.is_discrete:
        raise ValueError(
            f"SVGD: latent site {site.name!r} is discrete ({type(fn).__name__}); SVGD needs "
            "continuous latents. Marginalise it out or observe it."
        )
    for frame in site.cond_indep_stack:
        if frame.full_size is not None and frame.full_size != frame.size:
            raise ValueError(
                f"SVGD: latent site {site.name!r} sits in the subsampled plate "
                f"{frame.name!r} ({frame.size} of {frame.full_size}); particles need one value "
                "per site for the whole data set. Move the latent out of the subsampled plate."
            )


class SVGD:
    """Stein variational gradient descent over a model's continuous latents.

    Args:
        model: the model (a callable with ``ppl.sample`` statements).
        kernel: a Stein kernel (e.g. :class:`RBFSteinKernel`) or its registered name.
        optim: a ``ppl.optim`` optimiser, e.g. ``ppl.optim.Adam({"lr": 0.1})``.
        num_particles: number of particles ``N`` (>= 2).
        max_plate_nesting: number of plate dims the model uses (None: read off a
            prototype run).
        mode: ``"univariate"`` (one kernel per latent dim) or ``"multivariate"``.
        init: where particles start: ``"prior"`` (prior draws, Pyro's choice) or
            ``"uniform"`` (uniform in ``(-2, 2)`` in unconstrained space; better for
            vague priors such as ``Normal(0, 100)``).

    Raises:
        ValueError: ``num_particles < 2``, an unknown ``mode``; at the first step, a
            discrete latent or a latent inside a subsampled plate, or a model without
            latent sites.
        TypeError: ``model`` not callable, a bad ``kernel``.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        kernel: SteinKernel | str,
        optim: Any,
        num_particles: int,
        max_plate_nesting: int | None = None,
        mode: str = "univariate",
        init: str = "prior",
    ) -> None:
        if init not in _INITS:
            raise ValueError(f"SVGD: init must be one of {sorted(_INITS)}, got {init!r}")
        if not callable(model):
            raise TypeError(f"SVGD: model must be callable, got {type(model).__name__}")
        if isinstance(num_particles, bool) or not isinstance(num_particles, int):
            raise TypeError(
                f"SVGD: num_particles must be an int, got {type(num_particles).__name__}"
            )
        if num_particles < 2:
            raise ValueError(f"SVGD: num_particles must be >= 2, got {num_particles}")
        if mode not in ("univariate", "multivariate"):
            raise ValueError(f"SVGD: mode must be 'univariate' or 'multivariate', got {mode!r}")
        self.model = model
        self.kernel = get_kernel(kernel)
        self.optim = optim
        self.num_particles = num_particles
        self.max_plate_nesting = max_plate_nesting
        self.mode = mode
        self.init = init
        self.layout: Layout | None = None
        self.loss: float | None = None
        self._sites: list[_Site] = []

    # ------------------------------------------------------------------ setup
    def _run(self, sub: SubstituteMessenger, vectorize: bool, *args: Any, **kwargs: Any) -> Trace:
        """Trace the model under ``sub`` and, if ``vectorize``, the particle plate.

        Handlers are entered as context managers (outermost first: trace, substitute,
        plate), so the plate has broadcast nothing when ``sub`` runs its hook but the
        site's batch dims are already right when ``sample`` draws.
        """
        tracer = TraceMessenger()
        with tracer, sub:
            if vectorize:
                assert self.max_plate_nesting is not None
                dim = -self.max_plate_nesting - 1
                with PlateMessenger(_PLATE, self.num_particles, dim=dim):
                    self.model(*args, **kwargs)
            else:
                self.model(*args, **kwargs)
        return tracer.trace

    def setup(self, *args: Any, **kwargs: Any) -> None:
        """Find the latent sites and create the particles (done by the first ``step``).

        Particles start at prior draws (uniform(-2, 2) in unconstrained space for
        improper priors). An existing ``"svgd_particles"`` param of the right shape is
        kept, so ``step`` continues a run restored from a checkpoint.
        """
        proto = self._run(SubstituteMessenger(substitute_fn=init_value), False, *args, **kwargs)
        latents = [s for _, s in proto.iter_stochastic_nodes() if not is_subsample_site(s)]
        if not latents:
            raise ValueError("SVGD: the model has no latent sample sites to approximate")
        for site in latents:
            _check_latent(site)
        if self.max_plate_nesting is None:
            self.max_plate_nesting = guess_max_plate_nesting([proto])
        self._sites = [_Site(s, self.max_plate_nesting) for s in latents]
        self.layout = Layout((s.name, s.unconstrained_shape) for s in self._sites)
        store = get_param_store()
        shape = (self.num_particles, self.layout.size)
        if PARTICLES in store and tuple(store[PARTICLES].shape) == shape:
            return
        init = SubstituteMessenger(substitute_fn=_INITS[self.init])
        draws = self._run(init, True, *args, **kwargs)
        pieces = {}
        with torch.no_grad():
            for s in self._sites:
                value = draws.nodes[s.name].value.reshape((self.num_particles,) + s.shape)
                pieces[s.name] = s.transform.inv(value)
            particles = self.layout.flatten(pieces).clone()
        if PARTICLES in store:
            del store[PARTICLES]
        store.setdefault(PARTICLES, particles)

    # ------------------------------------------------------------------ views
    @property
    def particles(self) -> torch.Tensor:
        """The ``(N, D)`` unconstrained particle leaf in the ParamStore.

        Raises:
            ValueError: before the first ``step`` (or ``setup``).
        """
        if self.layout is None:
            raise ValueError("SVGD: no particles yet; call step() (or setup(*args)) first")
        return dict(get_param_store().named_parameters())[PARTICLES]

    def _constrained(self, flat: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Site values ``(N, *shape)`` and the log|det J| per particle, from ``(N, D)``."""
        assert self.layout is not None
        pieces = self.layout.fold(flat)
        values: dict[str, torch.Tensor] = {}
        log_jac = flat.new_zeros(flat.shape[0])
        for s in self._sites:
            u = pieces[s.name]
            x = s.transform(u)
            ladj = s.transform.log_abs_det_jacobian(u, x)
            log_jac = log_jac + ladj.reshape(flat.shape[0], -1).sum(-1)
            values[s.name] = x
        return values, log_jac

    def get_named_particles(self) -> dict[str, torch.Tensor]:
        """The particles as constrained site values, detached.

        Each value has shape ``(N,) + (1,) * pad + site_shape``, where ``pad`` fills the
        site's batch dims up to ``max_plate_nesting`` (as Pyro, whose particles run in a
        plate left of all the model's plates): a site inside one of two plates comes
        back as ``(N, 1, size)``.
        """
        with torch.no_grad():
            values, _ = self._constrained(self.particles.detach())
        n = self.num_particles
        return {s.name: values[s.name].reshape((n,) + (1,) * s.pad + s.shape) for s in self._sites}

    # ------------------------------------------------------------------ the step
    def log_density(self, flat: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``log p(x_n, data) + log|J(u_n)|`` summed over particles, differentiable.

        Args:
            flat: ``(N, D)`` unconstrained particles (``N = num_particles``).
        """
        values, log_jac = self._constrained(flat)
        n = self.num_particles
        data = {s.name: values[s.name].reshape((n,) + (1,) * s.pad + s.shape) for s in self._sites}
        tr = self._run(SubstituteMessenger(data), True, *args, **kwargs)
        total = tr.log_prob_sum(lambda name, site: not is_subsample_site(site))
        self._check_ranks(tr)
        return total + log_jac.sum()

    def _check_ranks(self, tr: Trace) -> None:
        """A log_prob with more batch dims than plates + particles means the model
        broadcast the particle dim against another dim (cross terms between particles)."""
        assert self.max_plate_nesting is not None
        limit = self.max_plate_nesting + 1
        for name, site in tr.nodes.items():
            lp = site.extras.get("log_prob") if site.extras else None
            if isinstance(lp, torch.Tensor) and lp.dim() > limit:
                raise ValueError(
                    f"SVGD: at site {name!r} the log_prob has shape {tuple(lp.shape)}, more than "
                    f"max_plate_nesting + 1 = {limit} batch dims: the model combines the particle "
                    "dim of a latent with another dim. Write the model so that latents keep "
                    "their leading batch dims (e.g. a.unsqueeze(-2) rather than relying on a "
                    "plain a + matrix), or raise max_plate_nesting if the model has more plates."
                )

    def _direction(self, flat: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        log_k, k_grad = self.kernel.log_kernel_and_grad(flat)
        if self.mode == "multivariate":
            k = log_k.sum(-1).exp()  # (N, N)
            out = k @ grad + torch.einsum("nm,nmd->nd", k, k_grad)
        else:
            k = log_k.exp()  # (N, N, D)
            out = torch.einsum("nmd,md->nd", k, grad) + torch.einsum("nmd,nmd->nd", k, k_grad)
        return out / self.num_particles

    def step(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Move every particle one SVGD step.

        Args:
            *args, **kwargs: the model's arguments.

        Returns:
            ``{site: mean squared SVGD gradient}`` over that site's particle entries (as
            Pyro), a convergence diagnostic. ``self.loss`` holds the mean over particles
            of ``-log p(x_n, data) - log|J|`` at the start of the step.

        Raises:
            ValueError: see the class docstring; also a non-finite log-density.
        """
        if self.layout is None:
            self.setup(*args, **kwargs)
        assert self.layout is not None
        with TraceMessenger(param_only=True) as capture:
            leaf = self.particles
            loss = -self.log_density(leaf, *args, **kwargs)
        if not bool(torch.isfinite(loss)):
            raise ValueError(
                f"SVGD: the log-density of the particles is not finite ({float(loss)}); check "
                "the model's supports and the starting values"
            )
        loss.backward()
        assert leaf.grad is not None
        with torch.no_grad():
            leaf.grad = self._direction(leaf.detach(), leaf.grad)
        store_leaves = dict(get_param_store().named_parameters())
        named = {name: store_leaves[name] for name in capture.trace.param_nodes}
        named[PARTICLES] = leaf
        sq = leaf.grad.detach().square()
        diagnostics = {name: float(piece.mean()) for name, piece in self.layout.fold(sq).items()}
        self.optim.step(named)
        self.loss = float(loss.detach()) / self.num_particles
        return diagnostics
