"""Run one generator per chain in worker processes and merge what they yield.

Design notes
------------
* **Seeds, not shared state.** Every chain gets its own integer seed, drawn from the
  caller's generator before any chain starts (:func:`chain_seeds`); a worker seeds
  torch, ``random`` and numpy with it before running. A chain therefore draws the same
  numbers whether it runs in a worker or in the calling process, and whatever the
  other chains do.
* **Plain bytes on the queue.** Items are pickled by value in the worker and sent as
  bytes: torch's queue would otherwise share every small draw through its own shared
  memory segment (one file descriptor per tensor).
* **Jobs that cannot cross a process boundary run here.** With ``spawn`` or
  ``forkserver`` a job (a kernel holding a model, a hook) is pickled; if that fails in
  this process, or the worker cannot rebuild it (e.g. the model's module is not
  importable there), the chain is run in this process after the others, with a
  warning. With ``fork`` nothing is pickled on the way in.
* **Module aliases travel with the job.** A process that registered ppl's modules under
  other names (``sys.modules["pyro"] = ppl``, an import shim) has models whose modules
  import those names; a spawned worker registers the same aliases before rebuilding the
  job, so such models run there too.

Example:
    >>> import torch
    >>> from ppl.infer.mcmc.parallel import chain_seeds
    >>> _ = torch.manual_seed(0)
    >>> seeds = chain_seeds(3)
    >>> _ = torch.manual_seed(0)
    >>> len(seeds), seeds == chain_seeds(3)
    (4, True)
"""

from __future__ import annotations

import importlib
import pickle
import queue as queue_module
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.multiprocessing as mp

from ppl.rng import set_rng_seed

__all__ = ["chain_seeds", "run_in_processes"]

JobRunner = Callable[[Any], Iterator[Any]]


def chain_seeds(num_chains: int) -> list[int]:
    """``num_chains + 1`` seeds from torch's global generator: one per chain, one to resume.

    Drawn one at a time, so chain ``i`` gets the same seed whatever the number of chains.
    """
    return [int(torch.randint(0, 2**62, ())) for _ in range(num_chains + 1)]


def _module_aliases() -> dict[str, str]:
    """``{alias: real name}`` of ppl modules registered in ``sys.modules`` under other names."""
    aliases = {}
    for name, module in list(sys.modules.items()):
        real = getattr(module, "__name__", None)
        if isinstance(real, str) and real != name and real.split(".")[0] == "ppl":
            aliases[name] = real
    return aliases


def _worker(
    run_job: JobRunner,
    job: Any,
    chain: int,
    seed: int,
    out: Any,
    aliases: dict[str, str] | None = None,
) -> None:
    """Process target: rebuild the job, seed, run it, ship every item as pickled bytes."""
    try:
        for alias, real in (aliases or {}).items():
            if alias not in sys.modules:
                sys.modules[alias] = importlib.import_module(real)
        if isinstance(job, bytes):
            job = pickle.loads(job)
    except Exception:
        out.put((chain, "unpicklable", traceback.format_exc()))
        return
    try:
        set_rng_seed(seed)
        for item in run_job(job):
            out.put((chain, "item", pickle.dumps(item)))
    except BaseException as e:  # report, then let the main process raise it
        try:
            payload = pickle.dumps(e)
        except Exception:
            payload = pickle.dumps(RuntimeError(repr(e)))
        out.put((chain, "error", (payload, traceback.format_exc())))
        return
    out.put((chain, "done", None))


def run_in_processes(
    run_job: JobRunner,
    jobs: list[Any],
    seeds: list[int],
    mp_context: str | None = None,
    poll_seconds: float = 1.0,
) -> Iterator[tuple[Any, int]]:
    """Run ``run_job(jobs[i])`` in worker ``i`` (seeded with ``seeds[i]``); yield ``(item, i)``.

    Items of one chain arrive in order; items of different chains interleave. A job
    that cannot be sent to or rebuilt in a worker runs in this process at the end.

    Args:
        run_job: a module-level generator function (workers import it by name).
        jobs: one argument of ``run_job`` per chain.
        seeds: one seed per chain.
        mp_context: ``"fork"``, ``"spawn"``, ``"forkserver"`` or None (the platform's
            default start method).
        poll_seconds: how often to check that workers are still alive.

    Raises:
        the exception a worker raised (its traceback is added as a note), or
        RuntimeError if a worker died without reporting.
    """
    ctx = mp.get_context(mp_context)
    out = ctx.Queue()
    by_value = ctx.get_start_method() != "fork"
    processes: dict[int, Any] = {}
    local: list[int] = []
    aliases = _module_aliases() if by_value else {}
    for chain, job in enumerate(jobs):
        try:
            payload = pickle.dumps(job) if by_value else job
        except Exception as e:
            warnings.warn(
                f"MCMC chain {chain} cannot be sent to a {ctx.get_start_method()!r} worker "
                f"({type(e).__name__}: {e}); it runs in this process instead.",
                RuntimeWarning,
                stacklevel=3,
            )
            local.append(chain)
            continue
        proc = ctx.Process(  # type: ignore[attr-defined]
            target=_worker,
            args=(run_job, payload, chain, seeds[chain], out, aliases),
            daemon=True,
        )
        proc.start()
        processes[chain] = proc
    running = set(processes)
    try:
        while running:
            try:
                chain, kind, payload = out.get(timeout=poll_seconds)
            except queue_module.Empty:
                dead = [c for c in running if not processes[c].is_alive()]
                for c in dead:
                    if processes[c].exitcode not in (0, None) and out.empty():
                        raise RuntimeError(
                            f"MCMC worker of chain {c} died (exit code "
                            f"{processes[c].exitcode}) without reporting"
                        ) from None
                continue
            if kind == "item":
                yield pickle.loads(payload), chain
            elif kind == "done":
                running.discard(chain)
            elif kind == "unpicklable":
                warnings.warn(
                    f"MCMC chain {chain} could not be rebuilt in its worker process; it runs "
                    f"in this process instead. Worker traceback:\n{payload}",
                    RuntimeWarning,
                    stacklevel=3,
                )
                running.discard(chain)
                local.append(chain)
            else:
                error, tb = payload
                exc = pickle.loads(error)
                if hasattr(exc, "add_note"):
                    exc.add_note(f"raised in the worker process of chain {chain}:\n{tb}")
                raise exc
    finally:
        for proc in processes.values():
            proc.join(timeout=poll_seconds)
            if proc.is_alive():
                proc.terminate()
        out.close()
    for chain in sorted(local):
        set_rng_seed(seeds[chain])
        for item in run_job(jobs[chain]):
            yield item, chain
