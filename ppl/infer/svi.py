"""``SVI``: fit a guide to a model's posterior by stochastic gradient steps on a loss.

Design notes
------------
* **The step** is the algorithm and nothing else: evaluate the loss with
  gradients, check it is finite, hand the touched params (by name) to the
  optimizer. *How* the loss is evaluated is a :class:`~ppl.infer.step.StepEstimator`
  chosen once in ``__init__`` (an eager ELBO, a compiled one, ``compile=True``'s joint
  graph, or Pyro's plain loss callable; see :mod:`ppl.infer.step`), so ``step`` has
  no branches on the kind of loss.
* **Non-finite losses** are caught *before* the optimizer step, so the ParamStore
  keeps its last finite values; gradients are checked as well as the loss (one
  fused reduction), since a finite loss with a NaN gradient corrupts the params just
  the same. ``step`` raises :class:`NonFiniteLossError`, naming the step and every
  model/guide site whose log-density is not finite; ``run`` hands the step to the
  policy named by ``on_nan`` (``"raise"``, ``"skip"``, ``"rollback"``; one registry in
  :mod:`ppl.infer.nan_policy`).
* **Many steps.** ``run`` is ``step`` in the shared loop of :mod:`ppl.infer.loop`
  (progress bar, callbacks, ``StopIteration``, rewinds after a rollback).
* **Host synchronisation.** The NaN guard must know, *before* the optimizer step,
  whether the loss and gradients are finite, so every step reads one small tensor
  back: the loss stacked with the gradient norms (one transfer; on CPU no sync at
  all). The loss value rides along in that read, so ``step`` returns Pyro's float and
  ``run`` records each loss in a compact float array for free; no other per-step
  read happens. The progress bar is refreshed once per window of
  ``max(num_steps // 20, 1)`` steps (NumPyro's window) from that array. (Keeping
  losses on the device and reading them in chunks would save nothing while the
  guard needs its per-step read.)
* **Results.** ``run`` returns :class:`SVIRunResult` with ``params`` (constrained,
  detached copies of the params this SVI object has touched, by name) and
  ``losses`` (a 1-D CPU tensor, one entry per step taken).
* **State for checkpoints.** The SVI object keeps the step count and the loss of
  every step it took (``svi.losses``, across ``step`` and ``run`` calls, 8 bytes a
  step) and the plate nesting its ELBO found from a prototype run (a prototype run
  draws random numbers, so a resumed run must not redo it). ``state_dict`` /
  ``load_state_dict`` hand them to :mod:`ppl.infer.checkpoint`.
* **Distributed.** If the optimizer has ``all_finite`` (``DistributedOptimizer``),
  the finiteness verdict is agreed across ranks, so every rank steps, skips or
  raises alike.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer.trace_elbo import Trace_ELBO
    >>> from ppl.optim import Adam
    >>> ppl.clear_param_store()
    >>> ppl.set_rng_seed(0)
    >>> model = lambda: ppl.sample("z", dist.Normal(3.0, 1.0))
    >>> guide = lambda: ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))
    >>> svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    >>> result = svi.run(500, progress_bar=False)
    >>> round(float(result.params["m"]))
    3
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..optim.optim import PPLOptimizer
from .abstract_infer import GuideTracePosterior
from .elbo import ELBO
from .loop import Callback, run_steps
from .nan_policy import nan_policy, register_nan_policy
from .step import StepLoss, step_estimator
from .util import constrained_params, unconstrained_params

__all__ = [
    "NonFiniteLossError",
    "SVI",
    "SVIRunResult",
    "register_nan_policy",
]


class NonFiniteLossError(ValueError):
    """The loss (or a gradient) of an SVI step is NaN or infinite; params were not updated."""


@dataclass(frozen=True)
class SVIRunResult:
    """What :meth:`SVI.run` returns.

    Attributes:
        params: ``{name: constrained value}``, detached copies, of every param the
            SVI object touched.
        losses: 1-D CPU tensor of the loss at each step taken (``nan`` for skipped steps).
    """

    params: dict[str, torch.Tensor]
    losses: torch.Tensor


class SVI:
    """Stochastic variational inference (Pyro's ``SVI``, plus NumPyro's ``run``).

    Args:
        model: the model callable.
        guide: the guide callable (same arguments as the model).
        optim: a ``ppl.optim`` optimizer (e.g. ``ppl.optim.Adam({"lr": 1e-3})``) or any
            callable taking a list of unconstrained parameter tensors (Pyro's style).
        loss: a ppl ELBO (``Trace_ELBO()``...) or a callable
            ``loss(model, guide, *args, **kwargs) -> differentiable loss tensor``.
        loss_and_grads: with a callable ``loss``, a function that also runs
            ``backward`` (default: ``loss`` then ``backward``).
        compile: ``"auto"`` (the default): a ``run``/``fit`` long enough to pay for
            compiling (15 s of predicted eager steps, the ``auto_compile_seconds``
            setting) of a model the checks find static switches to compiled steps
            after a few timed eager ones, silently staying eager otherwise; the rule and
            its safety checks are in :mod:`ppl.infer.compile.auto` (``svi.estimator
            .reason`` says what was decided). ``True`` compiles from the second step
            on, whatever the run (see :mod:`ppl.infer.compile.step`): the loss *and
            gradients* in one graph, inductor by default; a dict is passed on
            (``{"backend": "aot_eager"}``); if compiling fails, the steps stay eager
            with a ``RuntimeWarning``, and a ``ppl.optim`` optimizer steps params it
            first sees with torch's fused kernel (``fused=True``) where torch has one,
            unless its ``optim_args`` set ``fused``/``foreach``. ``False``: eager.
            ``{"steps_per_call": K}`` (with other ``compile=True`` options): ``run``
            without callbacks takes ``K`` steps per compiled call, Adam's or SGD's
            update inside the graph and one host read per call
            (:mod:`~ppl.infer.compile.multistep`); results equal eager steps to
            rounding, and a call meeting a non-finite step is undone and redone step
            by step.
        num_samples, num_steps: Pyro's deprecated trace-posterior use: with
            ``num_samples > 0``, ``run(*args)`` takes ``num_steps`` steps and returns a
            :class:`~ppl.infer.abstract_infer.GuideTracePosterior` of ``num_samples``
            model traces replayed against guide draws (for ``information_criterion``,
            ``EmpiricalMarginal``).

    Raises:
        TypeError: if model or guide is not callable, ``optim`` is a raw
            ``torch.optim.Optimizer`` or not callable, ``loss`` is not callable, or
            ``compile`` is asked for a loss that is not a ppl ELBO.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        optim: PPLOptimizer | Callable[..., Any],
        loss: ELBO | Callable[..., Any],
        loss_and_grads: Callable[..., Any] | None = None,
        compile: bool | str | dict[str, Any] = "auto",
        num_samples: int = 0,
        num_steps: int = 0,
    ) -> None:
        if not callable(model) or not callable(guide):
            bad = "model" if not callable(model) else "guide"
            raise TypeError(f"SVI: {bad} must be callable, got {type(locals()[bad]).__name__}")
        if isinstance(optim, torch.optim.Optimizer):
            raise TypeError(
                "SVI: optim must be a ppl.optim wrapper, got a raw torch optimizer "
                f"{type(optim).__name__}; use e.g. ppl.optim.Adam({{'lr': 1e-3}})"
            )
        if not callable(optim):
            raise TypeError(
                f"SVI: optim must be a ppl.optim optimizer, got {type(optim).__name__}; "
                "use e.g. ppl.optim.Adam({'lr': 1e-3})"
            )
        if not callable(loss):
            raise TypeError(
                f"SVI: loss must be an ELBO (e.g. Trace_ELBO()) or a callable, got "
                f"{type(loss).__name__}"
            )
        self.model = model
        self.guide = guide
        self.optim = optim
        #: the objective as given (an ELBO or a plain loss callable)
        self.objective = loss
        #: Pyro's attribute: ``loss(model, guide, *args, **kwargs) -> float`` (an ELBO's
        #: bound ``loss`` method, or the plain callable)
        self.loss = loss.loss if isinstance(loss, ELBO) else loss
        self.num_samples = num_samples
        self.num_steps = num_steps
        self.estimator = step_estimator(loss, loss_and_grads, compile)
        self._fused = compile is True or isinstance(compile, Mapping)
        self.step_count = 0
        self._param_names: dict[str, None] = {}
        self._losses = array("d")  # the loss of every step taken (nan: skipped)
        self._generation = 0  # bumped by load_state_dict, so a running loop sees a rewind

    @property
    def losses(self) -> torch.Tensor:
        """The loss of every step this SVI object took, over all ``step``/``run`` calls.

        Returns:
            A 1-D float64 CPU tensor (a copy), ``nan`` for steps skipped by ``on_nan``.
        """
        if not self._losses:
            return torch.empty(0, dtype=torch.float64)
        return torch.frombuffer(self._losses, dtype=torch.float64).clone()

    # ------------------------------------------------------------------ one step
    def step(self, *args: Any, **kwargs: Any) -> float:
        """Take one gradient step on the loss; return the loss (a float) before the step.

        Raises:
            NonFiniteLossError: the loss or a gradient is NaN/inf; the message names the
                step and the sites whose log-density is not finite. Params are unchanged.
        """
        return self._step(args, kwargs, None)

    def _step(self, args: tuple, kwargs: dict, on_nonfinite: Callable | None) -> float:
        """One step; a non-finite one goes to ``on_nonfinite(out)`` (None: raise) and
        records ``nan`` unless that rewound the run."""
        estimator = self.estimator
        out = estimator.step_loss(self.model, self.guide, args, kwargs)
        params = unconstrained_params(out.param_names, distinct=True)
        value, finite = estimator.verdict(out, params)
        if self._agree(finite):
            self._apply(out, params)
            self._losses.append(value)
            return value
        generation = self._generation
        try:
            out = estimator.explain(out, self.model, self.guide, args, kwargs)
            if on_nonfinite is None:
                raise self.nonfinite_error(out, self.step_count + 1)
            on_nonfinite(out)
        finally:
            _discard_grads(params)
        if self._generation == generation:  # skipped, not rewound
            self._losses.append(math.nan)
        return math.nan

    def loss_and_grads(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> float:
        """Pyro's ``svi.loss_and_grads``: the loss (a float), its gradients accumulated
        into the touched params' ``.grad``; no optimizer step is taken."""
        return float(self.estimator.step_loss(model, guide, args, kwargs).loss)

    def evaluate_loss(self, *args: Any, **kwargs: Any) -> float:
        """The loss without gradients or a param update (a float)."""
        with torch.no_grad():
            return float(self.loss(self.model, self.guide, *args, **kwargs))

    def _agree(self, finite: bool) -> bool:
        """The finiteness verdict, agreed by every rank under a ``DistributedOptimizer``."""
        agree = getattr(self.optim, "all_finite", None)
        return bool(agree(finite)) if agree is not None else finite

    def _apply(self, out: StepLoss, params: dict[str, torch.Tensor]) -> None:
        """The optimizer step over the params the loss touched (by name)."""
        self._param_names.update(out.param_names)
        optim = self.optim
        if isinstance(optim, PPLOptimizer):
            if self._fused:
                with optim.prefer_fused():
                    optim.step(params)
            else:
                optim.step(params)
        else:
            optim(list(params.values()))
            _discard_grads(params)
        self.step_count += 1

    def nonfinite_error(self, out: StepLoss, step: int) -> NonFiniteLossError:
        """The error for a non-finite step: names the step and the offending sites."""
        parts = []
        for model_trace, guide_trace in out.traces:
            for where, tr in (("model", model_trace), ("guide", guide_trace)):
                tr.compute_log_prob()
                bad = tr.nonfinite_sites()
                if bad:
                    parts.append(f"{where} sites {bad}")
        loss = float(out.loss)
        what = f"loss is {loss}" if not math.isfinite(loss) else "a gradient is not finite"
        where = (
            "non-finite log_prob at " + "; ".join(dict.fromkeys(parts))
            if parts
            else "no site has a non-finite log_prob (look at the gradients or the loss itself)"
            if out.traces
            else "site names are not available for this loss"
        )
        return NonFiniteLossError(
            f"SVI step {step}: {what}; {where}. The parameters keep their values from before "
            "this step. Check the init values and constraints of those sites, lower the "
            "learning rate, or pass on_nan='skip' to SVI.run."
        )

    # ------------------------------------------------------------------ many steps
    def run(
        self,
        num_steps: int | None = None,
        *args: Any,
        progress_bar: bool = True,
        callbacks: Sequence[Callback] = (),
        on_nan: str = "raise",
        **kwargs: Any,
    ) -> Any:
        """Take ``num_steps`` steps; show a progress bar; return params and losses.

        The bar shows ``init loss: X, avg. loss [a-b]: Y``, the first loss and the
        mean loss over the last window of ``max(num_steps // 20, 1)`` steps.

        Args:
            num_steps: number of steps (>= 1).
            *args, **kwargs: passed to the model and guide.
            progress_bar: show a tqdm bar.
            callbacks: each called as ``cb(svi, losses, step)`` after every step, with
                ``losses`` the list of this run's losses and ``step`` its length; a
                callback raising ``StopIteration`` ends the run (its message and
                "Interrupted at step N" are printed).
            on_nan: what to do with a non-finite step: ``"raise"``, ``"skip"``,
                ``"rollback"`` (restore the state of the last ``Checkpoint`` callback save,
                or of the start of the run, halve the learning rate and redo the lost
                steps; raise after 3 rollbacks) or a name given to
                :func:`~ppl.infer.nan_policy.register_nan_policy`.

        Returns:
            :class:`SVIRunResult`; with ``num_samples > 0`` given to the constructor
            (Pyro's deprecated use), every positional argument goes to the model and
            a :class:`~ppl.infer.abstract_infer.GuideTracePosterior` is returned.

        Raises:
            TypeError: ``num_steps`` is not an int, or a callback is not callable.
            ValueError: ``num_steps < 1`` or an unknown ``on_nan``.
            NonFiniteLossError: with ``on_nan="raise"``, at the first non-finite step
                (with ``"rollback"``, once the rollbacks are used up).
        """
        if self.num_samples:
            model_args = args if num_steps is None else (num_steps,) + args
            return self._trace_posterior(model_args, kwargs)
        if num_steps is None:
            raise TypeError("SVI.run: num_steps is required, e.g. svi.run(1000, data)")
        policy = nan_policy(on_nan)
        start, stop = getattr(policy, "start", None), getattr(policy, "stop", None)
        first = len(self._losses)

        def on_nonfinite(out: StepLoss) -> None:
            policy(self, out, len(self._losses) - first + 1)

        chunks = getattr(self.estimator, "steps_per_call", None)

        def step() -> None:
            # with compile={"steps_per_call": K} and no callbacks, K steps per call
            remaining = num_steps - (len(self._losses) - first)
            losses = (
                None
                if chunks is None or callbacks
                else chunks.take(
                    self.model, self.guide, self.optim, self._param_names, args, kwargs, remaining
                )
            )
            if losses is None:
                self._step(args, kwargs, on_nonfinite)
            else:
                self._losses.extend(losses)
                self.step_count += len(losses)

        if start is not None:
            start(self)
        self.plan(num_steps)
        try:
            report = run_steps(
                step,
                num_steps,
                history=lambda: self._losses,
                callbacks=callbacks,
                target=self,
                progress_bar=progress_bar,
                owner="run",
            )
        finally:
            if stop is not None:
                stop(self)
        return SVIRunResult(self.get_params(), torch.tensor(report.losses, dtype=torch.float64))

    def plan(self, num_steps: int) -> None:
        """Announce a run of ``num_steps`` steps (``run`` and ``fit`` do): the automatic
        compile mode decides from it whether compiling pays off."""
        plan = getattr(self.estimator, "plan", None)
        if plan is not None:
            plan(num_steps)

    def _trace_posterior(self, args: tuple, kwargs: dict) -> GuideTracePosterior:
        """Pyro's ``TracePosterior`` run: ``num_steps`` steps, then guide-replayed traces."""
        for _ in range(self.num_steps):
            self.step(*args, **kwargs)
        return GuideTracePosterior(self.model, self.guide, self.num_samples).run(*args, **kwargs)

    def get_params(self) -> dict[str, torch.Tensor]:
        """Constrained, detached copies of every param this SVI object has stepped."""
        return {k: v.clone() for k, v in constrained_params(self._param_names).items()}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The SVI object's own state, as plain data (for checkpoints).

        Returns:
            ``{"step_count": int, "param_names": [str], "losses": float64 tensor (one per
            step taken), "max_plate_nesting": int | None}`` (the last is the nesting the
            ELBO found from its prototype run, None when it has not run one), and with
            the automatic compile mode ``"compile"``: its decision.
        """
        nesting = getattr(self.objective, "max_plate_nesting", None)
        extra = {}
        if hasattr(self.estimator, "state_dict"):
            extra["compile"] = self.estimator.state_dict()
        return {
            **extra,
            "step_count": self.step_count,
            "param_names": list(self._param_names),
            "losses": self.losses,
            "max_plate_nesting": int(nesting)
            if isinstance(self.objective, ELBO) and nesting is not None and math.isfinite(nesting)
            else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (validated first: all or nothing).

        ``losses`` and ``max_plate_nesting`` are optional (older states lack them). Inside
        ``run`` (a NaN policy or a callback loading a checkpoint) the run rewinds to the
        restored step and redoes the steps after it.

        Raises:
            ValueError: if a key is missing or has the wrong type.
        """
        if not isinstance(state, Mapping) or not isinstance(state.get("step_count"), int):
            raise ValueError(
                f"SVI.load_state_dict: expected {{'step_count': int, 'param_names': list}}, got "
                f"{state!r}"
            )
        if state["step_count"] < 0:
            raise ValueError(
                f"SVI.load_state_dict: step_count must be >= 0, got {state['step_count']}"
            )
        names = state.get("param_names", [])
        if not isinstance(names, Iterable) or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"SVI.load_state_dict: param_names must be a list of str, got {names!r}"
            )
        losses = _as_loss_array(state.get("losses"))
        nesting = state.get("max_plate_nesting")
        if nesting is not None and (
            isinstance(nesting, bool) or not isinstance(nesting, int) or nesting < 0
        ):
            raise ValueError(
                f"SVI.load_state_dict: max_plate_nesting must be an int >= 0 or None, got "
                f"{nesting!r}"
            )
        mode = state.get("compile")
        if mode is not None and not isinstance(mode, Mapping):
            raise ValueError(f"SVI.load_state_dict: compile must be a dict, got {mode!r}")
        if mode is not None and hasattr(self.estimator, "load_state_dict"):
            self.estimator.load_state_dict(mode)
        self.step_count = int(state["step_count"])
        self._param_names = dict.fromkeys(names)
        if losses is not None:
            self._losses = losses
        if nesting is not None and isinstance(self.objective, ELBO):
            if self.objective.max_plate_nesting == math.inf:
                self.objective.max_plate_nesting = nesting
        self._generation += 1


def _as_loss_array(losses: Any) -> array | None:
    """Validate a saved loss history (1-D tensor or list of numbers) as an ``array("d")``."""
    if losses is None:
        return None
    if isinstance(losses, torch.Tensor):
        if losses.dim() != 1 or not losses.dtype.is_floating_point:
            raise ValueError(
                "SVI.load_state_dict: losses must be a 1-D floating tensor, got shape "
                f"{tuple(losses.shape)} and dtype {losses.dtype}"
            )
        result = array("d")
        result.frombytes(losses.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
        return result
    if isinstance(losses, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in losses
    ):
        return array("d", losses)
    raise ValueError(
        f"SVI.load_state_dict: losses must be a 1-D tensor or a list of numbers, got "
        f"{type(losses).__name__}"
    )


def _discard_grads(params: Mapping[str, torch.Tensor]) -> None:
    for p in params.values():
        p.grad = None
