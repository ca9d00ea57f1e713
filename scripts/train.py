"""Train a built-in model with SVI and an autoguide, with checkpoints that resume exactly.

This is ppl's "run the main job" command::

    python scripts/train.py                                  # logistic regression, AutoNormal
    python scripts/train.py --model eight_schools --guide AutoMultivariateNormal --steps 3000
    python scripts/train.py --checkpoint run.pt --checkpoint-every 100   # save as it goes
    python scripts/train.py --checkpoint run.pt --resume                 # continue after a crash
    torchrun --nproc_per_node 2 scripts/train.py --model logreg          # data-parallel

Design notes
------------
* **Models** (``--model``): ``coin`` (the fairness of a coin from 10 flips, Beta prior;
  the exact posterior is Beta(16, 14), mean 0.5333), ``logreg`` (Bayesian logistic
  regression on data generated from known weights, minibatched with a subsampled plate)
  and ``eight_schools`` (the classic hierarchical model, non-centred). The data are made
  from ``--seed`` with a private generator, so a resumed run rebuilds exactly the same data.
* **Exact resume.** ``--steps`` is the *total* number of steps. With ``--resume`` the
  script rebuilds model, guide (``setup`` runs eagerly), optimizer and SVI as in a fresh
  run, loads the checkpoint (params, Adam and scheduler state, step count, losses, RNG
  states) and takes the remaining steps, so the result is bit-identical to an
  uninterrupted run on CPU. A missing checkpoint file with ``--resume`` starts afresh
  (a job killed before its first save). The checkpoint records the model, guide and
  seed; resuming with other ones is refused.
* **Learning rate.** Adam with ``--lr`` under an ``ExponentialLR`` schedule stepped
  after every step, decaying the rate by ``--lr-decay`` over the whole run.
* **Distributed.** Under ``torchrun`` (``WORLD_SIZE`` set) each process trains on its
  own device (``cuda:LOCAL_RANK`` or the CPU), the optimizer averages gradients across
  processes (``ppl.distributed.DistributedOptimizer``) and ``logreg`` draws disjoint
  per-rank minibatches (``sharded_plate``; ``--batch-size`` is per rank). Only rank 0
  prints, plots and writes checkpoints; every rank loads them.

The script's :func:`main` returns a summary dict (used by the tests).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

import ppl
import ppl.distributions as dist
from ppl.infer.autoguide import (
    AutoDelta,
    AutoDiagonalNormal,
    AutoMultivariateNormal,
    AutoNormal,
)
from ppl.infer.checkpoint import Checkpoint, CheckpointMismatchError, load_checkpoint
from ppl.infer.predictive import Predictive
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO

GUIDES: dict[str, Callable[..., Any]] = {
    "AutoNormal": AutoNormal,
    "AutoDiagonalNormal": AutoDiagonalNormal,
    "AutoMultivariateNormal": AutoMultivariateNormal,
    "AutoDelta": AutoDelta,
}

PlateFn = Callable[[str, int, int | None], Any]


@dataclass
class Problem:
    """A built-in model, its data arguments and the latent sites to summarise."""

    model: Callable[..., Any]
    args: tuple
    latents: list[str]
    description: str
    truth: dict[str, Any]
    create_plates: Callable[..., Any] | None = None


# ------------------------------------------------------------------------------ models
def coin_flip(device: torch.device, seed: int, plate: PlateFn, batch_size: int) -> Problem:
    """Fairness of a coin: 6 heads in 10 flips, Beta(10, 10) prior (posterior Beta(16, 14))."""
    data = torch.tensor([1.0] * 6 + [0.0] * 4, device=device)
    alpha0 = torch.tensor(10.0, device=device)
    beta0 = torch.tensor(10.0, device=device)

    def model(data: torch.Tensor) -> None:
        f = ppl.sample("latent_fairness", dist.Beta(alpha0, beta0))
        with plate("data", len(data), None):
            ppl.sample("obs", dist.Bernoulli(f), obs=data)

    return Problem(
        model, (data,), ["latent_fairness"], "coin flip, 10 flips", {"latent_fairness": 16 / 30}
    )


def logistic_regression(
    device: torch.device, seed: int, plate: PlateFn, batch_size: int
) -> Problem:
    """Bayesian logistic regression on 2,000 points in 5 dims, generated from known weights."""
    gen = torch.Generator().manual_seed(seed)
    n, d = 2000, 5
    true_w = torch.tensor([1.5, -2.0, 0.5, 0.0, 1.0])
    true_b = -0.5
    x = torch.randn(n, d, generator=gen)
    y = torch.bernoulli(torch.sigmoid(x @ true_w + true_b), generator=gen)
    x, y = x.to(device), y.to(device)
    zeros, ones = torch.zeros(d, device=device), torch.ones(d, device=device)
    zero, one = torch.tensor(0.0, device=device), torch.tensor(1.0, device=device)
    batch = min(batch_size, n)

    def model(x: torch.Tensor, y: torch.Tensor) -> None:
        w = ppl.sample("w", dist.Normal(zeros, ones).to_event(1))
        b = ppl.sample("b", dist.Normal(zero, one))
        with plate("data", len(x), batch) as idx:
            logits = x[idx] @ w + b
            ppl.sample("obs", dist.Bernoulli(logits=logits), obs=y[idx])

    def create_plates(x: torch.Tensor, y: torch.Tensor) -> Any:
        # The guide draws the minibatch and the model replays it: with a sharded plate the
        # guide must draw this rank's shard (an autoguide's own plate would not shard).
        return plate("data", len(x), batch)

    truth = {"w": true_w.tolist(), "b": true_b}
    return Problem(
        model, (x, y), ["w", "b"], f"logistic regression, N={n}, D={d}", truth, create_plates
    )


def eight_schools(device: torch.device, seed: int, plate: PlateFn, batch_size: int) -> Problem:
    """The eight-schools hierarchical model (Rubin 1981), non-centred parameterisation."""
    y = torch.tensor([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0], device=device)
    sigma = torch.tensor([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0], device=device)
    zero = torch.tensor(0.0, device=device)

    def model(y: torch.Tensor, sigma: torch.Tensor) -> None:
        mu = ppl.sample("mu", dist.Normal(zero, 5.0))
        tau = ppl.sample("tau", dist.HalfCauchy(zero + 5.0))
        with plate("schools", len(y), None):
            theta = ppl.sample("theta_tilde", dist.Normal(zero, 1.0))
            ppl.sample("obs", dist.Normal(mu + tau * theta, sigma), obs=y)

    return Problem(model, (y, sigma), ["mu", "tau", "theta_tilde"], "eight schools", {})


MODELS: dict[str, Callable[..., Problem]] = {
    "coin": coin_flip,
    "logreg": logistic_regression,
    "eight_schools": eight_schools,
}


# ------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (``python scripts/train.py --help``)."""
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train a built-in model with SVI and an autoguide; checkpoint and resume "
        "exactly.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  python scripts/train.py\n"
            "  python scripts/train.py --model eight_schools --guide AutoMultivariateNormal\n"
            "  python scripts/train.py --checkpoint run.pt --checkpoint-every 100\n"
            "  python scripts/train.py --checkpoint run.pt --resume\n"
            "\n"
            "data-parallel (one process per device, gradients averaged across processes;\n"
            "cuda:LOCAL_RANK with NCCL when CUDA is available, else the CPU with gloo;\n"
            "--batch-size is per process; only rank 0 prints and writes checkpoints):\n"
            "  torchrun --nproc_per_node 2 scripts/train.py --model logreg --steps 2000\n"
        ),
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="logreg")
    parser.add_argument("--guide", choices=list(GUIDES), default="AutoNormal")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, default=1500, help="total number of SVI steps")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate")
    parser.add_argument(
        "--lr-decay",
        type=float,
        default=0.1,
        help="the learning rate is multiplied by this over the whole run (ExponentialLR)",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="logreg minibatch size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", metavar="PATH", help="checkpoint file to write")
    parser.add_argument(
        "--checkpoint-every", type=int, default=100, metavar="N", help="save every N steps"
    )
    parser.add_argument(
        "--keep", type=int, default=1, metavar="K", help="keep the last K checkpoints"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint if it exists"
    )
    parser.add_argument(
        "--stop-after",
        type=int,
        metavar="N",
        help="take at most N steps in this invocation, save (with --checkpoint) and exit (for "
        "jobs with a time limit: run again with --resume to continue)",
    )
    parser.add_argument(
        "--on-nan",
        choices=["raise", "skip", "rollback"],
        default="rollback",
        help="what a NaN loss does (rollback: last checkpointed state, halved learning rate)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile each step's loss and gradients with torch.compile (SVI(compile=True))",
    )
    parser.add_argument("--plot", metavar="PATH", help="write the loss curve to this PNG")
    parser.add_argument("--samples", type=int, default=1000, help="posterior draws for means")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("steps", "checkpoint_every", "keep", "batch_size", "samples", "stop_after"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        parser.error(f"--lr must be a positive number, got {args.lr}")
    if not 0 < args.lr_decay <= 1:
        parser.error(f"--lr-decay must be in (0, 1], got {args.lr_decay}")
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint PATH (the file to resume from)")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine; use --device cpu")
    if args.checkpoint:
        folder = os.path.dirname(os.path.abspath(args.checkpoint))
        if not os.path.isdir(folder):
            parser.error(f"--checkpoint {args.checkpoint}: folder {folder} does not exist")


def _distributed() -> Any:
    """The torchrun context, or None for a plain single-process run."""
    if "WORLD_SIZE" not in os.environ:
        return None
    from ppl.distributed import init_distributed

    return init_distributed()


def _plate_fn(ctx: Any, seed: int) -> PlateFn:
    """``ppl.plate`` or, under torchrun, a sharded plate for subsampled data."""

    def plate(name: str, size: int, subsample_size: int | None) -> Any:
        if ctx is not None and subsample_size is not None and subsample_size < size:
            from ppl.distributed import sharded_plate

            return sharded_plate(name, size, subsample_size, seed=seed, device=ctx.device)
        return ppl.plate(name, size, subsample_size=subsample_size)

    return plate


def _posterior_means(problem: Problem, guide: Any, num_samples: int) -> dict[str, torch.Tensor]:
    predictive = Predictive(
        problem.model, guide=guide, num_samples=num_samples, return_sites=problem.latents
    )
    samples = predictive(*problem.args)
    return {name: samples[name].mean(0).cpu() for name in problem.latents if name in samples}


def _plot(losses: torch.Tensor, path: str, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written (pip install matplotlib)")
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses.numpy(), lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (-ELBO)")
    ax.set_title(title)
    if bool((losses > 0).all()):
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _fmt(value: torch.Tensor) -> str:
    flat = value.reshape(-1).tolist()
    return ", ".join(f"{v:.3f}" for v in flat)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the script; returns ``{"step", "losses", "params", "means", "resumed_from"}``.

    ``params`` are the unconstrained parameters (as stored in checkpoints), on the CPU.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    ctx = _distributed()
    device = ctx.device if ctx is not None else torch.device(args.device)
    is_main = ctx is None or ctx.is_main
    say = print if is_main else (lambda *a, **k: None)

    ppl.clear_param_store()
    ppl.set_rng_seed(args.seed)
    problem = MODELS[args.model](device, args.seed, _plate_fn(ctx, args.seed), args.batch_size)
    sharded = ctx is not None and problem.create_plates is not None
    guide = GUIDES[args.guide](
        problem.model, create_plates=problem.create_plates if sharded else None
    )
    guide.setup(*problem.args)  # every parameter exists (on the data's device) before step 1
    gamma = args.lr_decay ** (1.0 / args.steps)
    optim: Any = ppl.optim.ExponentialLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": args.lr}, "gamma": gamma}
    )
    if ctx is not None:
        from ppl.distributed import DistributedOptimizer

        optim = DistributedOptimizer(optim)
        optim.setup(dict(guide.named_parameters()))  # same start on every rank
    svi = SVI(problem.model, guide, optim, Trace_ELBO(), compile=args.compile)
    config = {"model": args.model, "guide": args.guide, "seed": args.seed, "steps": args.steps}

    resumed_from = None
    if args.resume:
        if os.path.exists(args.checkpoint):
            try:
                report = load_checkpoint(args.checkpoint, svi, map_location=device)
            except CheckpointMismatchError as err:
                _check_config(parser, args.checkpoint, _saved_config(args.checkpoint), config)
                parser.error(f"--resume: {err}")
            _check_config(parser, args.checkpoint, report.extra, config)
            _set_shard_steps(report.extra)
            resumed_from = svi.step_count
            say(f"resumed from {args.checkpoint} at step {svi.step_count}")
        else:
            say(f"no checkpoint at {args.checkpoint} yet: starting from step 0")

    def extra(_svi: Any) -> dict[str, Any]:
        return {"config": config, "shard_steps": _get_shard_steps(ctx)}

    callbacks: list[Any] = [lambda s, losses, step: s.optim.step()]  # the LR schedule
    checkpoint = None
    if args.checkpoint:
        checkpoint = Checkpoint(
            args.checkpoint, every=args.checkpoint_every, keep=args.keep, extra=extra
        )
        callbacks.append(checkpoint)
    say(
        f"training {problem.description} with {args.guide} on {device}"
        + (f" x {ctx.world_size} processes" if ctx is not None and ctx.world_size > 1 else "")
    )
    remaining = args.steps - svi.step_count
    if args.stop_after is not None:
        remaining = min(remaining, args.stop_after)
    start = time.perf_counter()
    if remaining > 0:
        svi.run(
            remaining,
            *problem.args,
            progress_bar=is_main and not args.no_progress,
            callbacks=callbacks,
            on_nan=args.on_nan,
        )
        if checkpoint is not None and checkpoint.last_saved_step != svi.step_count:
            checkpoint.save(svi)  # the final state, whatever the save schedule
    elapsed = time.perf_counter() - start
    losses = svi.losses.detach().cpu()
    store = ppl.get_param_store()
    params = {k: v.detach().cpu().clone() for k, v in store.named_parameters()}
    means = _posterior_means(problem, guide, args.samples)
    tail = losses[-max(len(losses) // 20, 1) :]
    say(
        f"done: {svi.step_count} steps ({remaining if remaining > 0 else 0} in "
        f"{elapsed:.1f} s), final avg. loss {float(tail.mean()) if len(tail) else math.nan:.4f}"
    )
    say("posterior means:")
    for name, value in means.items():
        truth = problem.truth.get(name)
        note = f"   (truth: {truth})" if truth is not None else ""
        say(f"  {name:>16s}: {_fmt(value)}{note}")
    if args.plot and is_main and len(losses) and _plot(losses, args.plot, problem.description):
        say(f"loss plot written to {args.plot}")
    if ctx is not None:
        from ppl.distributed import shutdown_distributed

        shutdown_distributed()
    return {
        "step": svi.step_count,
        "losses": losses,
        "params": params,
        "means": means,
        "resumed_from": resumed_from,
    }


def _saved_config(path: str) -> Any:
    """The ``extra`` of a checkpoint file (read only to explain a failed resume)."""
    from ppl.params.safe_file import safe_load

    return safe_load(path, "cpu", kind="ppl.checkpoint").get("extra")


def _check_config(
    parser: argparse.ArgumentParser, path: str, extra: Any, config: dict[str, Any]
) -> None:
    saved = extra.get("config", {}) if isinstance(extra, dict) else {}
    for key in ("model", "guide", "seed"):
        if key in saved and saved[key] != config[key]:
            parser.error(
                f"--resume: {path} was written with --{key} {saved[key]} but this run has "
                f"--{key} {config[key]}; pass the same options or start a new checkpoint file"
            )


def _get_shard_steps(ctx: Any) -> dict[str, int]:
    if ctx is None:
        return {}
    from ppl.distributed import get_shard_steps

    return get_shard_steps()


def _set_shard_steps(extra: Any) -> None:
    steps = extra.get("shard_steps") if isinstance(extra, dict) else None
    if steps:
        from ppl.distributed import set_shard_steps

        set_shard_steps(steps)


if __name__ == "__main__":
    main(sys.argv[1:])
