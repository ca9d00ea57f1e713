"""``MCMC``: run a kernel for warmup and sampling, collect draws, report diagnostics.

Design notes
------------
* **One loop.** :func:`_chain_loop` runs one chain: ``kernel.setup``, ``warmup_steps``
  then ``num_samples`` calls of ``kernel.sample``, the user's ``hook_fn`` after each,
  and a tqdm bar whose postfix is ``kernel.logging()`` (step size, acceptance). It yields
  the chain's site shapes, then one flat draw per sampling step, then the kernel's
  diagnostics, so both :class:`MCMC` (keeps every draw) and :class:`StreamingMCMC`
  (keeps running statistics) consume the same stream.
* **Chains.** ``num_chains > 1`` with enough CPUs selects :class:`_MultiSampler`, as
  Pyro does: one worker process per chain (start method ``mp_context``), each with a
  copy of the kernel; otherwise :class:`_UnarySampler` runs the chains one after
  another in this process. Either way chain ``i`` is seeded with its own seed drawn
  from the global generator when ``run`` starts, so a multi-chain run is reproducible
  from ``ppl.set_rng_seed`` and both samplers give the same draws
  (:mod:`ppl.infer.mcmc.parallel`). ``chain_method="sequential"`` forces the
  in-process sampler; ``chain_method="vectorized"`` (HMC/NUTS) runs all chains together
  in this process over a leading chain dim
  (:class:`~ppl.infer.mcmc.vectorized.VectorizedChains`, seeded per chain the same way).
* **Resumable sampling** (opt-in; without it every ``run`` starts fresh, as in Pyro).
  In-process samplers report each step boundary to a :class:`_RunState`, which turns
  it into a state of plain data on demand (:meth:`MCMC.state_dict`) and, with
  ``checkpoint_path``, writes one atomically every ``checkpoint_every`` steps;
  ``run(..., resume_from=...)`` rebuilds the kernel through ``setup``, writes the
  saved state over it (positions, kernel and adapter state, draws, RNGs) and goes on,
  so a killed run finishes with the draws of an uninterrupted one
  (:mod:`ppl.infer.mcmc.resume`).
* Draws are stored unconstrained and mapped back through ``transforms`` at the end, so
  ``get_samples()`` holds values in each site's support with shape
  ``(num_chains * num_samples, *site_shape)``.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer.mcmc import MCMC, NUTS
    >>> def model(data):
    ...     loc = ppl.sample("loc", dist.Normal(0.0, 10.0))
    ...     with ppl.plate("data", len(data)):
    ...         ppl.sample("obs", dist.Normal(loc, 1.0), obs=data)
    >>> ppl.set_rng_seed(0)
    >>> mcmc = MCMC(NUTS(model), num_samples=50, warmup_steps=50, num_chains=2,
    ...             disable_progbar=True)
    >>> mcmc.run(torch.tensor([1.0, 2.0, 3.0]))
    >>> mcmc.get_samples(group_by_chain=True)["loc"].shape
    torch.Size([2, 50])
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.multiprocessing as mp
from torch.distributions import Transform

from ppl.infer.mcmc.hmc import HMC
from ppl.infer.mcmc.mcmc_kernel import MCMCKernel
from ppl.infer.mcmc.parallel import chain_seeds, run_in_processes
from ppl.infer.mcmc.resume import (
    STATE_KIND,
    StateMismatchError,
    check_state,
    encode,
    load_state,
    restore_into,
    save_state,
)
from ppl.infer.mcmc.util import diagnostics, diagnostics_from_stats, print_summary, select_samples
from ppl.infer.mcmc.vectorized import VectorizedChains
from ppl.ops.context import optional
from ppl.ops.streaming import CountMeanVarianceStats, StatsOfDict, StreamingStats
from ppl.poutine import block
from ppl.rng import get_rng_state, set_rng_seed, set_rng_state
from ppl.settings import is_validation_enabled, validation_enabled

__all__ = ["MCMC", "StreamingMCMC"]

Params = dict[str, torch.Tensor]
_CHAIN_METHODS = ("parallel", "sequential", "vectorized")
Hook = Callable[[MCMCKernel, Params, str, int], None]


def _progress_bar(
    total: int, disable: bool, position: int = 0, desc: str | None = None, initial: int = 0
) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, disable=disable, position=position, dynamic_ncols=True, leave=True,
        desc=desc, initial=initial,
    )  # fmt: skip


class _RunState:
    """Where a run is (chain, step, positions, kernel) and what it has made so far.

    The samplers report every step boundary to :meth:`after_step`; :meth:`capture`
    turns that into an MCMC state of plain data (see :mod:`ppl.infer.mcmc.resume`), and
    with a checkpoint path one is written every ``every`` steps. ``resume`` is the
    state a run continues from (None for a fresh run).
    """

    def __init__(
        self,
        header: dict[str, Any],
        draws: list[list[torch.Tensor]],
        diagnostics: list[Any],
        path: Any = None,
        every: int = 0,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self.header = header
        self.draws = draws
        self.diagnostics = diagnostics
        self.path = path
        self.every = every
        self.resume = resume
        self.seeds: list[int] | None = resume["seeds"] if resume is not None else None
        self.sites: dict[str, list[int]] | None = resume["sites"] if resume is not None else None
        self.chain = 0
        self.step = 0
        self.kernel: Any = None
        self.params: Params | None = None
        self.vectorized: Any = None  # the VectorizedChains of a vectorized run
        self.final: dict[str, Any] | None = None

    def resume_point(self, chain: int) -> dict[str, Any] | None:
        """The saved state if ``chain`` is the chain it stopped in."""
        if self.resume is not None and self.resume["chain"] == chain:
            return self.resume
        return None

    def check_sites(self, structure: Mapping[str, torch.Size]) -> None:
        sites = {name: list(shape) for name, shape in structure.items()}
        if self.sites is not None and self.sites != sites:
            raise StateMismatchError(
                "cannot resume: the saved run has latent sites (name: shape) "
                f"{self.sites}, this model has {sites}"
            )
        self.sites = sites

    def after_step(self, chain: int, step: int, params: Params | None, kernel: Any) -> None:
        self.chain, self.step, self.params, self.kernel = chain, step, params, kernel
        if self.path is not None and step > 0 and step % self.every == 0:
            save_state(self.path, self.capture())

    def capture(self) -> dict[str, Any]:
        """The run's state at the last step boundary, as plain data."""
        warmup = self.header["warmup_steps"]
        total = sum(math.prod(shape) for shape in (self.sites or {}).values())
        state: dict[str, Any] = {"format": STATE_KIND, **self.header}
        state.update(
            sites=self.sites,
            seeds=self.seeds,
            chain=self.chain,
            step=self.step,
            phase="Warmup" if self.step < warmup else "Sample",
            draws=[torch.stack(d) if d else torch.zeros(0, total) for d in self.draws],
            diagnostics=[encode(d, "diagnostics") for d in self.diagnostics],
            rng=get_rng_state(),
        )
        if self.vectorized is not None:
            state["vectorized"] = self.vectorized.state_dict()
        else:
            state["params"] = encode(self.params, "params")
            state["kernel_state"] = self.kernel.state_dict()
        return state


def _chain_loop(
    kernel: MCMCKernel,
    warmup_steps: int,
    num_samples: int,
    hook: Hook | None,
    chain_id: int | None,
    disable_progbar: bool,
    *args: Any,
    **kwargs: Any,
) -> Iterator[Any]:
    """Run one chain; yield its site shapes, each flat draw, then the kernel's diagnostics.

    With a run state (``kwargs["_run_state"]``, set by :class:`_UnarySampler`) every
    step boundary is reported to it, and a chain it stopped in continues from there."""
    run_state: _RunState | None = kwargs.pop("_run_state", None)
    chain = chain_id or 0
    kernel.setup(warmup_steps, *args, **kwargs)
    params = kernel.initial_params
    save_params = list(getattr(kernel, "save_params", None) or sorted(params))
    unknown = [name for name in save_params if name not in params]
    if unknown:
        raise ValueError(
            f"save_params names unknown sites {unknown}; the latent sites are {sorted(params)}"
        )
    structure = {name: params[name].shape for name in save_params}
    start = 0
    if run_state is not None:
        run_state.check_sites(structure)
        saved = run_state.resume_point(chain)
        if saved is not None:
            kernel.load_state_dict(saved["kernel_state"])  # type: ignore[attr-defined]
            params = restore_into(None, saved["params"], "params")
            set_rng_state(saved["rng"])
            start = saved["step"]
        run_state.after_step(chain, start, params, kernel)
    yield structure
    suffix = "" if chain_id is None else f" [{chain_id}]"
    total = warmup_steps + num_samples
    first_stage = "Warmup" if start < warmup_steps else "Sample"
    bar = _progress_bar(total, disable_progbar, chain, first_stage + suffix, start)
    try:
        for t in range(start, total):
            stage = "Warmup" if t < warmup_steps else "Sample"
            i = t if stage == "Warmup" else t - warmup_steps
            if t > start and i == 0:
                bar.set_description(stage + suffix, refresh=False)
            params = kernel.sample(params)
            if not disable_progbar:
                status = kernel.logging()
                if status:
                    bar.set_postfix(status, refresh=False)
                bar.update()
            if stage == "Sample":
                flat = [params[name].reshape(-1) for name in save_params]
                yield torch.cat(flat) if flat else torch.tensor([])
            if run_state is not None:
                run_state.after_step(chain, t + 1, params, kernel)
            if hook is not None:
                hook(kernel, params, stage + suffix, i)
    finally:
        bar.close()
    if run_state is not None and chain == run_state.header["num_chains"] - 1:
        run_state.final = run_state.capture()
    yield kernel.diagnostics()
    kernel.cleanup()


def _run_chain_job(job: tuple) -> Iterator[Any]:
    """One chain as a picklable job (for worker processes and the in-process fallback)."""
    kernel, warmup_steps, num_samples, hook, chain_id, disable_progbar, params, validate = job[:8]
    args, kwargs = job[8], job[9]
    if params is not None:
        kernel.initial_params = params
    with optional(validation_enabled(validate), validate is not None):
        yield from _chain_loop(
            kernel, warmup_steps, num_samples, hook, chain_id, disable_progbar, *args, **kwargs
        )


class _UnarySampler:
    """Runs the chains one after another in this process.

    With several chains, chain ``i`` is seeded with the ``i``-th of
    :func:`~ppl.infer.mcmc.parallel.chain_seeds` (drawn when ``run`` starts), so it
    draws the same numbers as in a worker process of :class:`_MultiSampler`.
    """

    def __init__(
        self,
        kernel: MCMCKernel,
        num_samples: int,
        warmup_steps: int,
        num_chains: int,
        disable_progbar: bool,
        initial_params: Params | None = None,
        hook: Hook | None = None,
    ) -> None:
        self.kernel = kernel
        self.num_samples = num_samples
        self.warmup_steps = warmup_steps
        self.num_chains = num_chains
        self.disable_progbar = disable_progbar
        self.initial_params = initial_params
        self.hook = hook
        self.run_state: _RunState | None = None  # set by MCMC.run to track the state

    def terminate(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to shut down: no worker processes."""

    def _job(self, chain: int, args: tuple, kwargs: dict[str, Any]) -> tuple:
        params = None
        if self.initial_params is not None:
            params = {k: v[chain] for k, v in self.initial_params.items()}
        validate = is_validation_enabled()
        return (
            self.kernel, self.warmup_steps, self.num_samples, self.hook,
            chain if self.num_chains > 1 else None, self.disable_progbar, params, validate,
            args, kwargs,
        )  # fmt: skip

    def run(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, int]]:
        run_state = self.run_state
        first = 0
        if run_state is not None and run_state.resume is not None:
            seeds = run_state.seeds
            first = run_state.resume["chain"]
        else:
            seeds = chain_seeds(self.num_chains) if self.num_chains > 1 else None
        if run_state is not None:
            run_state.seeds = seeds
            kwargs = {**kwargs, "_run_state": run_state}
        for chain in range(first, self.num_chains):
            if seeds is not None:
                set_rng_seed(seeds[chain])
            for item in _run_chain_job(self._job(chain, args, kwargs)):
                yield item, chain
        if seeds is not None:
            set_rng_seed(seeds[-1])


class _MultiSampler(_UnarySampler):
    """Runs each chain in a worker process (``mp_context``: a start method or None).

    Every worker gets its own copy of the kernel and a seed of its own; draws come back
    as they are made. A chain whose kernel cannot be sent to a worker (``spawn`` needs
    the model importable by name) runs in this process instead, with a warning.
    """

    def __init__(
        self,
        kernel: MCMCKernel,
        num_samples: int,
        warmup_steps: int,
        num_chains: int,
        mp_context: str | None,
        disable_progbar: bool,
        initial_params: Params | None = None,
        hook: Hook | None = None,
    ) -> None:
        super().__init__(
            kernel, num_samples, warmup_steps, num_chains, disable_progbar, initial_params, hook
        )
        self.mp_context = mp_context

    def run(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, int]]:
        seeds = chain_seeds(self.num_chains)
        jobs = [self._job(chain, args, kwargs) for chain in range(self.num_chains)]
        yield from run_in_processes(_run_chain_job, jobs, seeds, self.mp_context)
        set_rng_seed(seeds[-1])


class AbstractMCMC(ABC):
    """What :class:`MCMC` and :class:`StreamingMCMC` share: kernel, chains, transforms."""

    def __init__(
        self, kernel: MCMCKernel, num_chains: int, transforms: dict[str, Transform] | None
    ) -> None:
        if not isinstance(num_chains, int) or num_chains < 1:
            raise ValueError(f"num_chains must be a positive int, got {num_chains!r}")
        self.kernel = kernel
        self.num_chains = num_chains
        self.transforms = transforms
        self._diagnostics: list[Any] = [None] * num_chains

    @abstractmethod
    def run(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    @abstractmethod
    def diagnostics(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_transforms(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self.kernel, "transforms", None) is not None:
            self.transforms = self.kernel.transforms  # type: ignore[attr-defined]
        elif getattr(self.kernel, "model", None):
            self.kernel.setup(0, *args, **kwargs)
            self.transforms = self.kernel.transforms  # type: ignore[attr-defined]
        else:
            self.transforms = {}

    def _validate_kernel(self, initial_params: Params | None) -> None:
        if (
            isinstance(self.kernel, HMC)
            and self.kernel.potential_fn is not None
            and self.kernel.model is None
        ):
            if initial_params is None:
                raise ValueError(
                    "Must provide valid initial parameters to begin sampling when using "
                    "`potential_fn` in HMC/NUTS kernel (pass initial_params=...)."
                )

    def _validate_initial_params(self, initial_params: Params) -> None:
        for name, v in initial_params.items():
            if v.dim() == 0 or v.shape[0] != self.num_chains:
                raise ValueError(
                    "The leading dimension of tensors in `initial_params` must match the number "
                    f"of chains: site {name!r} has shape {tuple(v.shape)}, "
                    f"num_chains={self.num_chains}."
                )

    def _prepare(
        self,
        kernel: MCMCKernel,
        num_samples: int,
        warmup_steps: int | None,
        initial_params: Params | None,
        save_params: list[str] | None,
    ) -> Params | None:
        if not isinstance(num_samples, int) or num_samples < 0:
            raise ValueError(f"num_samples must be a non-negative int, got {num_samples!r}")
        self.warmup_steps = num_samples if warmup_steps is None else warmup_steps  # as Stan
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a non-negative int, got {warmup_steps!r}")
        self.num_samples = num_samples
        if save_params is not None:
            kernel.save_params = list(save_params)  # type: ignore[attr-defined]
        self._validate_kernel(initial_params)
        if initial_params:
            if self.num_chains > 1:
                self._validate_initial_params(initial_params)
            else:
                initial_params = {k: v.unsqueeze(0) for k, v in initial_params.items()}
        return initial_params

    def _unflatten(
        self, structure: Mapping[str, torch.Size], flat: torch.Tensor, lead: tuple[int, ...]
    ) -> Params:
        """Split flat draws (``(*lead, total)``) into constrained per-site values."""
        out: Params = {}
        pos = 0
        for name, shape in structure.items():
            n = shape.numel()
            value = flat[..., pos : pos + n].reshape(lead + tuple(shape))
            pos += n
            transforms = self.transforms or {}
            out[name] = transforms[name].inv(value) if name in transforms else value
        return out

    def _kernel_diagnostics(self) -> dict[str, Any]:
        per_chain = self._diagnostics
        if not per_chain or per_chain[0] is None:
            return {}
        return {
            key: {f"chain {i}": per_chain[i][key] for i in range(self.num_chains)}
            for key in per_chain[0]
        }


class MCMC(AbstractMCMC):
    """Markov chain Monte Carlo driver around an :class:`MCMCKernel` (Pyro's ``MCMC``).

    Args:
        kernel: e.g. :class:`~ppl.infer.mcmc.NUTS` or :class:`~ppl.infer.mcmc.HMC`.
        num_samples: draws kept per chain.
        warmup_steps: adaptation steps discarded per chain (default ``num_samples``).
        initial_params: unconstrained start values; with ``num_chains > 1`` each has a
            leading dim of size ``num_chains``.
        num_chains: number of chains (in worker processes when there are enough CPUs,
            else one after another).
        hook_fn: ``hook_fn(kernel, params, stage, i)`` after every step.
        mp_context: multiprocessing start method of the workers (``"fork"``,
            ``"spawn"``, ``"forkserver"``; None: the platform default).
        disable_progbar: hide the tqdm progress bar.
        disable_validation: run with distribution validation off (``None`` keeps the
            global setting).
        transforms: site -> bijection to real space used to map draws back.
        save_params: keep only these sites.
        chain_method: how several chains run (NumPyro's name; not in Pyro):
            ``"parallel"`` (default, Pyro's behaviour: worker processes when there are
            enough CPUs, else one after another), ``"sequential"`` (one after another
            in this process) or ``"vectorized"`` (HMC/NUTS only: all chains advance
            together in this process over a leading chain dim, one batched potential
            call per leapfrog step; see :mod:`ppl.infer.mcmc.vectorized`).
        checkpoint_path: resumable sampling (not in Pyro): write the run's state to this
            file every ``checkpoint_every`` steps (atomically: a crash keeps the last
            complete file); ``run(..., resume_from=checkpoint_path)`` continues a
            killed run to the draws an uninterrupted run makes
            (:mod:`ppl.infer.mcmc.resume`). Chains then run in this process.
        checkpoint_every: steps between two checkpoint files (per chain; per joint step
            of vectorized chains).

    Resuming: ``mcmc.run(*args, resume_from=state_or_path, **kwargs)`` with a state
    from :meth:`state_dict` or a checkpoint file, on an ``MCMC`` built like the one
    that saved it (same kernel class and settings, model, ``num_chains``, counts);
    without ``resume_from`` every run starts fresh, as in Pyro.
    """

    def __init__(
        self,
        kernel: MCMCKernel,
        num_samples: int,
        warmup_steps: int | None = None,
        initial_params: Params | None = None,
        num_chains: int = 1,
        hook_fn: Hook | None = None,
        mp_context: str | None = None,
        disable_progbar: bool = False,
        disable_validation: bool | None = True,
        transforms: dict[str, Transform] | None = None,
        save_params: list[str] | None = None,
        chain_method: str = "parallel",
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 100,
    ) -> None:
        super().__init__(kernel, num_chains, transforms)
        if (
            isinstance(checkpoint_every, bool)
            or not isinstance(checkpoint_every, int)
            or checkpoint_every < 1
        ):
            raise ValueError(f"checkpoint_every must be a positive int, got {checkpoint_every!r}")
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self._run_state: _RunState | None = None
        self._final_state: dict[str, Any] | None = None
        if chain_method not in _CHAIN_METHODS:
            raise ValueError(f"chain_method must be one of {_CHAIN_METHODS}, got {chain_method!r}")
        initial_params = self._prepare(
            kernel, num_samples, warmup_steps, initial_params, save_params
        )
        self.chain_method = chain_method
        self.disable_validation = disable_validation
        self._samples: Params | None = None
        self._args: tuple | None = None
        self._kwargs: dict[str, Any] | None = None
        parallel = False
        self.sampler: _UnarySampler | VectorizedChains
        if chain_method == "vectorized":
            self.sampler = VectorizedChains(
                kernel, num_samples, self.warmup_steps, num_chains,  # type: ignore[arg-type]
                disable_progbar, initial_params=initial_params, hook=hook_fn,
            )  # fmt: skip
            return
        if num_chains > 1 and chain_method == "parallel":
            available_cpu = max(mp.cpu_count() - 1, 1)  # one core for the main process
            if num_chains <= available_cpu:
                parallel = True
            else:
                warnings.warn(
                    f"num_chains={num_chains} is more than available_cpu={available_cpu}. "
                    "Chains will be drawn sequentially.",
                    UserWarning,
                    stacklevel=2,
                )
        if parallel:
            self.sampler = _MultiSampler(
                kernel, num_samples, self.warmup_steps, num_chains, mp_context, disable_progbar,
                initial_params=initial_params, hook=hook_fn,
            )  # fmt: skip
        else:
            self.sampler = _UnarySampler(
                kernel, num_samples, self.warmup_steps, num_chains, disable_progbar,
                initial_params=initial_params, hook=hook_fn,
            )  # fmt: skip

    # ------------------------------------------------------------------ resumable state
    def _state_header(self) -> dict[str, Any]:
        vectorized = isinstance(self.sampler, VectorizedChains)
        return {
            "kernel": type(self.kernel).__name__,
            "num_chains": self.num_chains,
            "chain_method": "vectorized" if vectorized else "sequential",
            "warmup_steps": self.warmup_steps,
            "num_samples": self.num_samples,
        }

    def _resume_state(self, resume_from: Any) -> dict[str, Any] | None:
        if resume_from is None:
            return None
        if isinstance(resume_from, (str, os.PathLike)):
            state, source = load_state(resume_from), repr(os.fspath(resume_from))
        else:
            state, source = resume_from, "<memory>"
        check_state(state, self._state_header(), source)
        return state  # type: ignore[no-any-return]

    def _tracking_sampler(self, needed: bool) -> _UnarySampler | VectorizedChains | None:
        """The sampler that reports its state (None: it cannot), switching worker
        processes to in-process chains (the same draws) when ``needed``."""
        sampler = self.sampler
        if isinstance(sampler, _MultiSampler):
            if not needed:
                return None
            warnings.warn(
                "checkpoint_path/resume_from: the chains run one after another in this "
                "process (the same draws as in worker processes)",
                UserWarning,
                stacklevel=3,
            )
            sampler = _UnarySampler(
                sampler.kernel, sampler.num_samples, sampler.warmup_steps, sampler.num_chains,
                sampler.disable_progbar, initial_params=sampler.initial_params, hook=sampler.hook,
            )  # fmt: skip
        if isinstance(sampler, _UnarySampler) and not hasattr(self.kernel, "state_dict"):
            if needed:
                raise TypeError(
                    "resumable sampling needs kernel.state_dict() and load_state_dict(); "
                    f"{type(self.kernel).__name__} has none"
                )
            return None
        return sampler

    def state_dict(self) -> dict[str, Any]:
        """The run's state as plain data: at the last step boundary during a run (e.g.
        from ``hook_fn``), or where the last run ended.

        It holds the chain and step reached (and so the phase), positions, the kernel's
        state (step size, dual averaging, mass matrix, Welford window, cached
        potential and gradient), the draws and diagnostics so far, the per-chain seeds
        and every random generator. Save it with
        :func:`ppl.infer.mcmc.resume.save_state`; continue with
        ``run(..., resume_from=state)``.

        Raises:
            RuntimeError: before a run, or after one whose chains ran in worker
                processes (their state stays there; pass ``checkpoint_path`` or
                ``chain_method="sequential"``).

        Example:
            >>> import torch, ppl
            >>> from ppl.infer.mcmc import MCMC, NUTS
            >>> kernel = NUTS(potential_fn=lambda z: 0.5 * (z["x"] ** 2).sum())
            >>> mcmc = MCMC(kernel, num_samples=5, warmup_steps=5,
            ...             initial_params={"x": torch.zeros(2)}, disable_progbar=True)
            >>> mcmc.run()
            >>> state = mcmc.state_dict()
            >>> state["phase"], state["step"], tuple(state["draws"][0].shape)
            ('Sample', 10, (5, 2))
        """
        if self._run_state is not None:
            return self._run_state.capture()
        if self._final_state is None:
            raise RuntimeError(
                "MCMC has no state: call mcmc.run(...) first (with chains in this process: "
                "chain_method='sequential' or 'vectorized', or a checkpoint_path)"
            )
        return self._final_state

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Run every chain on the model's ``args``/``kwargs`` and store the draws.

        ``resume_from=state_or_path`` (a keyword taken out of ``kwargs``) continues the
        run that state came from instead of starting fresh (see :meth:`state_dict`).

        Raises:
            ppl.infer.mcmc.resume.StateMismatchError: the state is from another kind of
                run (kernel class, sites, num_chains, chain method, counts), naming what
                differs.
        """
        resume = self._resume_state(kwargs.pop("resume_from", None))
        self._args, self._kwargs = args, kwargs
        args = tuple(a.detach() if torch.is_tensor(a) else a for a in args)
        structure: Mapping[str, torch.Size] = {}
        draws: list[list[torch.Tensor]] = [[] for _ in range(self.num_chains)]
        self._diagnostics = [None] * self.num_chains
        got_structure = [False] * self.num_chains
        needed = resume is not None or self.checkpoint_path is not None
        tracking = self._tracking_sampler(needed)
        sampler: Any = self.sampler if tracking is None else tracking
        self._final_state = None
        if tracking is not None:
            self._run_state = _RunState(
                self._state_header(), draws, self._diagnostics, self.checkpoint_path,
                self.checkpoint_every, resume,
            )  # fmt: skip
            tracking.run_state = self._run_state
        if resume is not None:
            structure = {name: torch.Size(shape) for name, shape in resume["sites"].items()}
            for chain, saved in enumerate(resume["draws"]):
                draws[chain].extend(saved.unbind(0))
                got_structure[chain] = chain < resume["chain"]
            for chain, saved in enumerate(resume["diagnostics"]):
                self._diagnostics[chain] = restore_into(None, saved, "diagnostics")
        try:
            with (
                block(),
                optional(
                    validation_enabled(not self.disable_validation),
                    self.disable_validation is not None,
                ),
            ):
                for item, chain in sampler.run(*args, **kwargs):
                    if torch.is_tensor(item):
                        draws[chain].append(item)
                    elif not got_structure[chain]:
                        structure = item
                        got_structure[chain] = True
                    else:
                        self._diagnostics[chain] = item
                if self.transforms is None:
                    with torch.random.fork_rng(devices=[]):  # the draws' stream stays as it ended
                        self._set_transforms(*args, **kwargs)
        finally:
            if self._run_state is not None:
                self._final_state = self._run_state.final
                self._run_state = None
            if tracking is not None:
                tracking.run_state = None
        total = sum(shape.numel() for shape in structure.values())
        stacked = torch.stack(
            [torch.stack(d) if d else torch.zeros(0, total) for d in draws]
        )  # (chains, samples, total)
        self._samples = self._unflatten(structure, stacked, (self.num_chains, self.num_samples))
        self.sampler.terminate(True)

    def _require_run(self) -> Params:
        if self._samples is None:
            raise RuntimeError("MCMC has no samples yet: call mcmc.run(...) first")
        return self._samples

    def get_samples(self, num_samples: int | None = None, group_by_chain: bool = False) -> Params:
        """Draws per site: ``(chains * samples, ...)``, or ``(chains, samples, ...)`` if grouped.

        With ``num_samples`` given, that many draws are taken with replacement.
        """
        return select_samples(self._require_run(), num_samples, group_by_chain)

    def diagnostics(self) -> dict[str, Any]:
        """``n_eff``/``r_hat`` per site, plus the kernel's diagnostics keyed by ``"chain i"``."""
        result = diagnostics(self._require_run())
        result.update(self._kernel_diagnostics())
        return result

    def summary(self, prob: float = 0.9) -> None:
        """Print mean, std, median, the ``prob`` interval, n_eff and r_hat of every site."""
        print_summary(self._require_run(), prob=prob)
        if self._diagnostics[0] is not None and "divergences" in self._diagnostics[0]:
            count = sum(len(d["divergences"]) for d in self._diagnostics)
            print(f"Number of divergences: {count}")


class StreamingMCMC(AbstractMCMC):
    """Like :class:`MCMC`, but keeps streaming statistics of the draws instead of the draws.

    Args:
        statistics: a :class:`~ppl.ops.streaming.StreamingStats` over dicts keyed by
            ``(chain_id, site)``; default ``StatsOfDict(default=CountMeanVarianceStats)``.
        chain_method: ``"sequential"`` (default, Pyro's: one chain after another) or
            ``"vectorized"`` (HMC/NUTS: all chains together over a leading chain dim,
            as in :class:`MCMC`; the statistics then see the chains' draws
            interleaved, step by step).
        other arguments: as :class:`MCMC` (no ``mp_context``).

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> from ppl.infer.mcmc import NUTS
        >>> def model():
        ...     ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> ppl.set_rng_seed(0)
        >>> mcmc = StreamingMCMC(NUTS(model), num_samples=20, warmup_steps=20, num_chains=2,
        ...                      chain_method="vectorized", disable_progbar=True)
        >>> mcmc.run()
        >>> mcmc.get_statistics()[(1, "x")]["count"]
        20
    """

    def __init__(
        self,
        kernel: MCMCKernel,
        num_samples: int,
        warmup_steps: int | None = None,
        initial_params: Params | None = None,
        statistics: StreamingStats | None = None,
        num_chains: int = 1,
        hook_fn: Hook | None = None,
        disable_progbar: bool = False,
        disable_validation: bool | None = True,
        transforms: dict[str, Transform] | None = None,
        save_params: list[str] | None = None,
        chain_method: str = "sequential",
    ) -> None:
        super().__init__(kernel, num_chains, transforms)
        if chain_method not in ("sequential", "vectorized"):
            raise ValueError(
                "StreamingMCMC's chain_method must be 'sequential' or 'vectorized', "
                f"got {chain_method!r}"
            )
        initial_params = self._prepare(
            kernel, num_samples, warmup_steps, initial_params, save_params
        )
        self.chain_method = chain_method
        self.disable_validation = disable_validation
        if statistics is None:
            statistics = StatsOfDict(default=CountMeanVarianceStats)
        self._statistics = statistics
        self._default_statistics = copy.deepcopy(statistics)
        self.sampler: _UnarySampler | VectorizedChains
        if chain_method == "vectorized":
            self.sampler = VectorizedChains(
                kernel, num_samples, self.warmup_steps, num_chains,  # type: ignore[arg-type]
                disable_progbar, initial_params=initial_params, hook=hook_fn,
            )  # fmt: skip
        else:
            self.sampler = _UnarySampler(
                kernel, num_samples, self.warmup_steps, num_chains, disable_progbar,
                initial_params=initial_params, hook=hook_fn,
            )  # fmt: skip

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Run every chain and feed each draw (constrained) to the statistics."""
        args = tuple(a.detach() if torch.is_tensor(a) else a for a in args)
        structure: Mapping[str, torch.Size] = {}
        seen = [0] * self.num_chains
        with (
            block(),
            optional(
                validation_enabled(not self.disable_validation), self.disable_validation is not None
            ),
        ):
            for item, chain in self.sampler.run(*args, **kwargs):
                if seen[chain] == 0:
                    if self.transforms is None:
                        self._set_transforms(*args, **kwargs)
                    structure = item
                elif seen[chain] == self.num_samples + 1:
                    self._diagnostics[chain] = item
                else:
                    draw = self._unflatten(structure, item.clone(), ())
                    self._statistics.update({(chain, name): value for name, value in draw.items()})
                seen[chain] += 1
        self.sampler.terminate(True)

    def get_statistics(self, group_by_chain: bool = True) -> dict[Any, Any]:
        """Statistics keyed by ``(chain_id, site)``, or merged over chains keyed by site."""
        if group_by_chain:
            return self._statistics.get()
        merged: dict[str, StreamingStats] = {}
        for (_, name), stat in self._statistics.stats.items():  # type: ignore[attr-defined]
            merged[name] = merged[name].merge(stat) if name in merged else stat
        return {name: stat.get() for name, stat in merged.items()}

    def diagnostics(self) -> dict[str, Any]:
        """Gelman-Rubin ``r_hat`` per site (needs mean and variance statistics)."""
        result: dict[str, Any] = dict(
            diagnostics_from_stats(self._statistics.get(), self.num_samples, self.num_chains)
        )
        result.update(self._kernel_diagnostics())
        return result
