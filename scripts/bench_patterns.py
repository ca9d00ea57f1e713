"""Benchmark: PatternArray of simplexes vs SimplexArrayPattern (seed 000's timing).

Run: ``python scripts/bench_patterns.py [--array-shape 50 10] [--simplex-size 5]``

Seed 000 timed 10 free flattens of a (50, 10) array of 5-simplexes: paragami's
``PatternArray`` (a Python loop over the 500 elements) took ~200x as long as the
equivalent ``SimplexArrayPattern``. ppl's ``PatternArray`` folds all elements in one
batched call, so the two should be within a small factor. For reference the script
also times an element-by-element loop written with ppl patterns (what paragami does)
and, when ``paragami`` imports, paragami itself on the same values.

Timings are the best of ``--repeat`` rounds of ``--number`` calls, reported per call.
"""

from __future__ import annotations

import argparse
import itertools
import timeit
from collections.abc import Callable

import torch

from ppl.patterns import PatternArray, SimplexArrayPattern


def best_per_call(fn: Callable[[], object], number: int, repeat: int) -> float:
    fn()  # warm up
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def run(array_shape: tuple[int, ...], simplex_size: int, number: int, repeat: int) -> dict:
    simplex = SimplexArrayPattern(simplex_size=simplex_size, array_shape=array_shape)
    base = SimplexArrayPattern(simplex_size=simplex_size, array_shape=(1,))
    array = PatternArray(array_shape=array_shape, base_pattern=base)
    value = simplex.random(torch.Generator().manual_seed(0), dtype=torch.float64)
    array_value = value.unsqueeze(len(array_shape))
    free = simplex.flatten(value, free=True)
    assert torch.equal(free, array.flatten(array_value, free=True))

    def loop_flatten() -> torch.Tensor:
        cells = itertools.product(*(range(s) for s in array_shape))
        return torch.cat([base.flatten(array_value[ix], free=True) for ix in cells])

    assert torch.allclose(loop_flatten(), free)
    rows: dict[str, float] = {
        "ppl SimplexArrayPattern.flatten": best_per_call(
            lambda: simplex.flatten(value, free=True), number, repeat
        ),
        "ppl PatternArray.flatten": best_per_call(
            lambda: array.flatten(array_value, free=True), number, repeat
        ),
        "ppl per-element loop (paragami's method)": best_per_call(loop_flatten, number, repeat),
        "ppl SimplexArrayPattern.fold": best_per_call(
            lambda: simplex.fold(free, free=True), number, repeat
        ),
        "ppl PatternArray.fold": best_per_call(lambda: array.fold(free, free=True), number, repeat),
    }
    try:
        import paragami  # type: ignore[import-not-found]
    except Exception as err:  # paragami does not import on numpy 2
        print(f"paragami not available ({type(err).__name__}: {err}); skipping its timings")
    else:
        p_simplex = paragami.SimplexArrayPattern(simplex_size=simplex_size, array_shape=array_shape)
        p_array = paragami.PatternArray(
            array_shape=array_shape,
            base_pattern=paragami.SimplexArrayPattern(simplex_size=simplex_size, array_shape=(1,)),
        )
        np_value = value.numpy()
        np_array_value = array_value.numpy()
        rows["paragami SimplexArrayPattern.flatten"] = best_per_call(
            lambda: p_simplex.flatten(np_value, free=True), number, repeat
        )
        rows["paragami PatternArray.flatten"] = best_per_call(
            lambda: p_array.flatten(np_array_value, free=True), number, repeat
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--array-shape", type=int, nargs="+", default=[50, 10])
    parser.add_argument("--simplex-size", type=int, default=5)
    parser.add_argument("--number", type=int, default=10, help="calls per round (seed: 10)")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best is kept")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = tuple(args.array_shape)
    print(
        f"array_shape={shape}, simplex_size={args.simplex_size}, best of {args.repeat} x "
        f"{args.number} calls, torch {torch.__version__}, {args.threads} thread(s)"
    )
    rows = run(shape, args.simplex_size, args.number, args.repeat)
    ref = rows["ppl SimplexArrayPattern.flatten"]
    width = max(map(len, rows))
    for name, sec in rows.items():
        print(f"{name:<{width}}  {sec * 1e6:10.1f} us/call  {sec / ref:7.2f}x")


if __name__ == "__main__":
    main()
