"""Random number generator state of every source ppl draws from, as plain data.

Sources: torch's CPU generator, every visible CUDA device, Python's ``random`` and
numpy's legacy global generator. :func:`get_rng_state` returns only tensors, ints
and lists, so it can go into a checkpoint that loads with
``torch.load(weights_only=True)``.

Example:
    >>> state = get_rng_state()
    >>> a = torch.rand(2)
    >>> set_rng_state(state)
    >>> bool((torch.rand(2) == a).all())
    True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch


def set_rng_seed(rng_seed: int) -> None:
    """Seed torch (CPU and CUDA), Python's ``random`` and numpy with one integer."""
    torch.manual_seed(rng_seed)
    random.seed(rng_seed)
    np.random.seed(rng_seed % 2**32)


def get_rng_state() -> dict[str, Any]:
    """The state of every generator, as tensors and plain Python data."""
    version, keys, gauss = random.getstate()
    kind, np_keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": {"version": version, "keys": list(keys), "gauss": gauss},
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned (CUDA states only where present)."""
    torch.set_rng_state(state["torch"].cpu())
    py = state["python"]
    random.setstate((py["version"], tuple(py["keys"]), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state(
        (
            npst["kind"],
            npst["keys"].cpu().numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["cached_gaussian"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        n = min(len(cuda_states), torch.cuda.device_count())
        for device in range(n):
            torch.cuda.set_rng_state(cuda_states[device], device)


class RngSnapshot(NamedTuple):
    """torch's generators (CPU, and every CUDA device once CUDA is in use), cheaply.

    Used to replay one step with the same draws (0.7 us on the CPU), unlike
    :func:`get_rng_state`, which also covers Python and numpy for checkpoints.

    Example:
        >>> snap = RngSnapshot.take()
        >>> a = torch.rand(1)
        >>> snap.restore()
        >>> bool(torch.rand(1) == a)
        True
    """

    cpu: torch.Tensor
    cuda: list[torch.Tensor] | None

    @classmethod
    def take(cls) -> RngSnapshot:
        """The current state (CUDA only if CUDA was initialised)."""
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        return cls(torch.get_rng_state(), cuda)

    def restore(self) -> None:
        """Put the generators back to this state."""
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)

    @contextmanager
    def replay(self) -> Iterator[None]:
        """Inside the block the generators are back at this state; after it, they are
        where they were before it (the replay uses up no draws of the run)."""
        after = RngSnapshot.take()
        self.restore()
        try:
            yield
        finally:
            after.restore()


@contextmanager
def rng_neutral() -> Iterator[None]:
    """Run a block without using up draws of the run around it.

    Every generator (torch CPU and CUDA, Python's ``random``, numpy's) is put back
    where it was when the block ends. For one-off work whose draws must not shift the
    run's random stream, such as a guide's lazy setup: the run then draws the same
    numbers whether the setup happened before a checkpoint or after a resume.

    Example:
        >>> with rng_neutral():
        ...     _ = torch.rand(3)
        >>> state = get_rng_state()
        >>> with rng_neutral():
        ...     _ = torch.rand(3)
        >>> bool(torch.equal(get_rng_state()["torch"], state["torch"]))
        True
    """
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
