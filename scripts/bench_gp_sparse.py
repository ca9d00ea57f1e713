"""Benchmark: sparse GP regression (VFE, M inducing points) against the exact GP.

On N noisy samples of a smooth function (RBF kernel with known hyperparameters, so
both models answer the same question), it reports

* the largest absolute difference of the predictive means on a test grid, relative
  to the output scale (the standard deviation of y); it must stay below 5%;
* the wall time of one training step (log marginal likelihood + gradient) and of one
  prediction, for both models, and the exact / sparse time ratios.

Prints a small table; exits with status 1 if the accuracy check fails. Not a timed
test; run on an idle machine:

    python scripts/bench_gp_sparse.py --n 2000 --m 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` in seconds over ``repeats`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="training points")
    parser.add_argument("--m", type=int, default=20, help="inducing points")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import ppl
    import ppl.poutine as poutine
    from ppl.contrib.gp.kernels import RBF
    from ppl.contrib.gp.models import GPRegression, SparseGPRegression

    ppl.set_rng_seed(0)
    dtype = torch.float64
    X = torch.rand(args.n, dtype=dtype) * 10
    y = torch.sin(X) + 0.5 * torch.cos(0.5 * X) + 0.2 * torch.randn(args.n, dtype=dtype)
    Xtest = torch.linspace(0, 10, 200, dtype=dtype)
    Xu = torch.linspace(0, 10, args.m, dtype=dtype)

    def kernel() -> RBF:
        return RBF(1, torch.tensor(1.0, dtype=dtype), torch.tensor(1.0, dtype=dtype))

    noise = torch.tensor(0.04, dtype=dtype)
    ppl.clear_param_store()
    exact = GPRegression(X, y, kernel(), noise=noise)
    ppl.clear_param_store()
    sparse = SparseGPRegression(X, y, kernel(), Xu, noise=noise, approx="VFE")

    def step(gp) -> Callable[[], object]:
        def run() -> None:
            ppl.clear_param_store()
            gp.zero_grad()
            tr = poutine.trace(gp.model).get_trace()
            (-tr.log_prob_sum()).backward()

        return run

    def predict(gp) -> Callable[[], object]:
        def run() -> torch.Tensor:
            ppl.clear_param_store()
            with torch.no_grad():
                return gp(Xtest)[0]

        return run

    mean_exact, mean_sparse = predict(exact)(), predict(sparse)()
    rel_diff = float((mean_exact - mean_sparse).abs().max() / y.std())
    rows = []
    for label, make in (("train step", step), ("predict", predict)):
        t_exact = best_time(make(exact), args.repeats)
        t_sparse = best_time(make(sparse), args.repeats)
        rows.append((label, t_exact, t_sparse))

    print(f"N={args.n} M={args.m} (VFE), float64, {args.threads} thread(s)")
    print(f"max |mean_exact - mean_sparse| / std(y) = {rel_diff:.4f}  (must be < 0.05)")
    print(f"{'':12s} {'exact s':>10s} {'sparse s':>10s} {'exact/sparse':>13s}")
    for label, t_exact, t_sparse in rows:
        print(f"{label:12s} {t_exact:10.4f} {t_sparse:10.4f} {t_exact / t_sparse:13.1f}")
    return 0 if rel_diff < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
