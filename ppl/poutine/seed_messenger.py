"""``seed``: run code under a fixed random seed, restoring the outer RNG state after.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> draw = lambda: ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> bool(ppl.poutine.seed(draw, rng_seed=0)() == ppl.poutine.seed(draw, rng_seed=0)())
    True
"""

from __future__ import annotations

from types import TracebackType

from ..rng import get_rng_state, set_rng_seed, set_rng_state
from .messenger import Messenger, make_handler


class SeedMessenger(Messenger):
    """Seeds torch, Python ``random`` and numpy with ``rng_seed`` on entry; restores on exit."""

    def __init__(self, rng_seed: int) -> None:
        super().__init__()
        if not isinstance(rng_seed, int):
            raise TypeError(f"seed: rng_seed must be an int, got {type(rng_seed).__name__}")
        self.rng_seed = rng_seed
        self._saved: dict | None = None

    def __enter__(self) -> SeedMessenger:
        self._saved = get_rng_state()
        set_rng_seed(self.rng_seed)
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        if self._saved is not None:
            set_rng_state(self._saved)
            self._saved = None


seed = make_handler(SeedMessenger)
