"""Parameter containers: seed 000 (paragami's "Parameter containers") in ppl.

Run: ``python tutorial/seed000_patterns.py``

Every example of the seed runs here in torch with the same printed numbers. Two
inputs of the seed came from an unseeded random generator and are reconstructed:

* ``mean_true`` and the second MVN drawn by ``mvn_pattern.random()`` are read off
  the seed's printout (they are exact to the printed digits);
* the data ``x`` (1000 draws) is not printed, but the loss only depends on the data
  through its sum and scatter matrix (5 numbers) and the seed prints six numbers
  that depend on them (the loss and its 5-dim gradient). Solving for them gives
  ``SUM_X`` and ``SCATTER_X`` below, and :func:`make_data` builds 1000 points with
  exactly those statistics -- so the free loss ``219.81437116662...`` and the
  gradient ``[-59.66882221, 78.5304, -24.49767189, -12.36127117, 36.00719091]`` come
  out as in the seed.

At the end, beyond the seed: Hessians with ``torch.func``, and the MAP of a small
model found with ``torch.optim.LBFGS`` over the flattened ParamStore.
"""

from __future__ import annotations

import timeit
from collections import OrderedDict

import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints
from ppl.params.flat import flatten_grads, flatten_params, unflatten_params
from ppl.patterns import (
    FlattenFunctionInput,
    NumericArrayPattern,
    NumericVectorPattern,
    PatternArray,
    PatternDict,
    PSDSymmetricMatrixPattern,
    SimplexArrayPattern,
)

torch.set_default_dtype(torch.float64)  # paragami works in numpy float64

DIM = 2
NUM_OBS = 1000
MEAN_TRUE = [0.87367236, 0.21280422]  # np.random.random(2) in the seed's run
# sum_n (x_n - mean_true) and sum_n (x_n - mean_true)(x_n - mean_true)^T of the
# seed's data, solved from its printed loss and gradient (see the module docstring).
SUM_X = [-12.894695568999548, -26.71461778999956]
SCATTER_X = [[1139.9120496570445, 1038.758743526127], [1038.758743526127, 1130.6111776864273]]
# the free vector that mvn_pattern.random() drew in the seed's run
MVN2_FREE = [0.9666736, 0.24848757, 0.7820626, 0.71722798, 0.14226413]


def make_data(mean: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``NUM_OBS`` points whose sum and scatter about ``mean`` are the seed's."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(NUM_OBS, DIM, generator=g)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(z.T @ z)).T  # now z^T z = I exactly
    d = torch.tensor(SUM_X)
    centred_scatter = torch.tensor(SCATTER_X) - torch.outer(d, d) / NUM_OBS
    return mean + d / NUM_OBS + z @ torch.linalg.cholesky(centred_scatter).T


def as_numpy(value: object) -> object:
    """Tensors (also inside dicts) as numpy arrays, so printouts look like the seed's."""
    if isinstance(value, dict):
        return type(value)((k, as_numpy(v)) for k, v in value.items())
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return value


def get_normal_log_prob(x: torch.Tensor, sigma: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """Log density of each row of ``x`` under N(mu, sigma), up to a constant."""
    centred = x - mu
    quad = torch.einsum("ni,ij,nj->n", centred, torch.linalg.inv(sigma), centred)
    return -0.5 * (quad + torch.linalg.slogdet(sigma)[1])


def get_loss(x: torch.Tensor, sigma: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    return -1 * torch.sum(get_normal_log_prob(x, sigma, mu))


def make_mvn_pattern() -> PatternDict:
    mvn_pattern = PatternDict(free_default=True)
    mvn_pattern["mean"] = NumericVectorPattern(length=DIM)
    mvn_pattern["cov"] = PSDSymmetricMatrixPattern(size=DIM)
    return mvn_pattern


def true_mvn_par() -> dict[str, torch.Tensor]:
    return {
        "mean": torch.tensor(MEAN_TRUE),
        "cov": 0.1 * torch.eye(DIM) + torch.full((DIM, DIM), 1.0),
    }


def section_dicts() -> dict[str, object]:
    print("## Parameter dictionaries")
    mvn_pattern = make_mvn_pattern()
    par = true_mvn_par()
    print(f"\nA dictionary of MVN parameters:\n{as_numpy(par)}")
    mvn_par_free = mvn_pattern.flatten(par)
    print(f"\nA flat representation:\n{mvn_par_free.numpy()}")
    folded = mvn_pattern.fold(mvn_par_free)
    print(f"\nFolding recovers the original parameters:\n{as_numpy(folded)}")

    x = make_data(par["mean"])
    get_free_loss = FlattenFunctionInput(
        lambda mvn_par: get_loss(x=x, sigma=mvn_par["cov"], mu=mvn_par["mean"]),
        patterns=mvn_pattern,
        free=True,
    )
    free_loss = get_free_loss(mvn_par_free)
    original_loss = get_loss(x, par["cov"], par["mean"])
    print(f"\nFree loss:\t{free_loss.item()}")
    print(f"Original loss:\t{original_loss.item()}")

    flat = mvn_par_free.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(get_free_loss(flat), flat)
    print(f"\nGradient of the free loss:\n{grad.numpy()}")
    hess = torch.func.hessian(get_free_loss)(mvn_par_free)
    print(f"Hessian of the free loss (torch.func), eigenvalues:\n{torch.linalg.eigvalsh(hess)}")
    return {
        "pattern": mvn_pattern,
        "free": mvn_par_free,
        "folded": folded,
        "free_loss": free_loss,
        "original_loss": original_loss,
        "grad": grad,
        "hessian": hess,
    }


def section_nested() -> dict[str, object]:
    print("\n## Pattern dictionaries containing pattern dictionaries")
    mvn_pattern = make_mvn_pattern()
    mvns_pattern = PatternDict(free_default=True)
    mvns_pattern["mvn1"] = mvn_pattern
    mvns_pattern["mvn2"] = mvn_pattern
    mvns_pattern["ez"] = SimplexArrayPattern(array_shape=(1,), simplex_size=2)

    mvns_par = {
        "mvn1": true_mvn_par(),
        # the seed's mvn_pattern.random(): the fold of a uniform free vector; we fold
        # the vector its run drew so the numbers match (random() itself works too)
        "mvn2": mvn_pattern.fold(torch.tensor(MVN2_FREE)),
        "ez": torch.tensor([[0.3, 0.7]]),
    }
    print(f"Folded mvns_par:\n{as_numpy(mvns_par)}")
    free = mvns_pattern.flatten(mvns_par)
    print(f"\nFree mvns_par:\n{free.numpy()}")
    fresh = mvn_pattern.random(torch.Generator().manual_seed(1))
    print(f"\nA fresh random value:\n{as_numpy(fresh)}")
    member_free = mvns_pattern["mvn1"].flatten(true_mvn_par())
    print(f"\nA flat representation of true_mvn_par:\n{member_free.numpy()}")
    return {"pattern": mvns_pattern, "par": mvns_par, "free": free, "member_free": member_free}


def section_locking() -> dict[str, object]:
    print("\n## Locking parameter dictionaries")
    example_pattern = PatternDict(free_default=True)
    lengths = []
    example_pattern["par1"] = NumericVectorPattern(length=2)
    lengths.append(example_pattern.flat_length())
    print(f"The flat length of example_pattern with par1:\t\t\t{lengths[-1]}")
    example_pattern["par2"] = NumericVectorPattern(length=3)
    lengths.append(example_pattern.flat_length())
    print(f"The flat length of example_pattern with par1 and par2:\t\t{lengths[-1]}")
    example_pattern["par1"] = NumericVectorPattern(length=10)
    lengths.append(example_pattern.flat_length())
    print(f"The flat length of example_pattern with new par1 and par2:\t{lengths[-1]}")

    example_pattern.lock()
    errors = []
    try:
        example_pattern["par3"] = NumericVectorPattern(length=4)
    except ValueError as err:
        errors.append(str(err))
        print(f"Adding a new pattern failed with the following error:\n{err}")
    try:
        example_pattern["par1"] = NumericVectorPattern(length=4)
    except ValueError as err:
        errors.append(str(err))
        print(f"\nChanging an existing pattern failed with the following error:\n{err}")
    return {"lengths": lengths, "errors": errors}


def section_arrays() -> dict[str, object]:
    print("\n## Parameter arrays")
    num_components = 4
    prob_true = torch.arange(1, num_components + 1, dtype=torch.get_default_dtype())
    prob_true = prob_true / prob_true.sum()
    g = torch.Generator().manual_seed(0)
    k_true = torch.multinomial(prob_true, NUM_OBS, replacement=True, generator=g)
    means_true = torch.stack([torch.full((DIM,), float(k)) for k in range(num_components)])
    covs_true = torch.stack([0.1 * (k + 1) * torch.eye(DIM) for k in range(num_components)])
    # y ~ N(means_true[k_true], covs_true[k_true]), vectorized (the seed plots it)
    chol = torch.linalg.cholesky(covs_true[k_true])
    y = means_true[k_true] + (chol @ torch.randn(NUM_OBS, DIM, 1, generator=g)).squeeze(-1)
    print(f"Mixture data: {tuple(y.shape)}, component counts {torch.bincount(k_true).tolist()}")

    mix_pattern = PatternDict(free_default=True)
    mix_pattern["prob"] = SimplexArrayPattern(array_shape=(1,), simplex_size=num_components)
    mix_pattern["means"] = NumericArrayPattern(shape=(num_components, DIM))
    mix_pattern["covs"] = PatternArray(
        array_shape=(num_components,), base_pattern=PSDSymmetricMatrixPattern(size=DIM)
    )
    true_mix_par = {"means": means_true, "covs": covs_true, "prob": prob_true.unsqueeze(0)}
    true_mix_free = mix_pattern.flatten(true_mix_par)
    folded = mix_pattern.fold(true_mix_free)
    print(
        "Folding recovers the true mixture parameters:\n"
        f"{as_numpy(OrderedDict((k, v.round(decimals=12)) for k, v in folded.items()))}"
    )

    example_pattern = PatternDict()
    example_pattern["a"] = NumericVectorPattern(length=2)
    error = ""
    try:
        PatternArray(array_shape=(2,), base_pattern=example_pattern)
    except NotImplementedError as err:
        error = str(err)
        print(f"Attempting to create a PatternArray of PatternDicts failed with the error:\n{err}")
    return {"pattern": mix_pattern, "par": true_mix_par, "folded": folded, "error": error}


def section_timing(test_times: int = 10) -> dict[str, float]:
    print("\n## PatternArray vs SimplexArrayPattern")
    array_shape = (50, 10)
    test_array = PatternArray(
        array_shape=array_shape,
        base_pattern=SimplexArrayPattern(array_shape=(1,), simplex_size=5),
    )
    test_simplex = SimplexArrayPattern(array_shape=array_shape, simplex_size=5)
    simplex_val = test_simplex.random(torch.Generator().manual_seed(0))
    simplex_array_val = simplex_val.unsqueeze(2)
    # best of 5 rounds of `test_times` calls (the machine may be busy; the seed timed once)
    simplex_time = min(
        timeit.repeat(lambda: test_simplex.flatten(simplex_val, free=True), number=test_times)
    )
    array_time = min(
        timeit.repeat(lambda: test_array.flatten(simplex_array_val, free=True), number=test_times)
    )
    a = test_simplex.flatten(simplex_val, free=True)
    b = test_array.flatten(simplex_array_val, free=True)
    print(f"Array time:\t{array_time}\nSimplex time:\t{simplex_time}")
    print(f"Same free vector: {torch.equal(a, b)}; ratio {array_time / simplex_time:.2f}x")
    return {"array_time": array_time, "simplex_time": simplex_time}


def model(y: torch.Tensor) -> None:
    """y_i ~ N(mu, sigma); priors mu ~ N(0, 10), sigma ~ LogNormal(0, 1); MAP by params."""
    mu = ppl.param("mu", torch.tensor(0.0))
    sigma = ppl.param("sigma", torch.tensor(1.0), constraint=constraints.positive)
    log_prior = dist.Normal(0.0, 10.0).log_prob(mu) + dist.LogNormal(0.0, 1.0).log_prob(sigma)
    ppl.factor("prior", log_prior)
    with ppl.plate("data", len(y)):
        ppl.sample("y", dist.Normal(mu, sigma), obs=y)


def section_map() -> dict[str, object]:
    print("\n## MAP with torch.optim.LBFGS over the flattened ParamStore")
    ppl.clear_param_store()
    g = torch.Generator().manual_seed(0)
    y = 3.0 + 2.0 * torch.randn(50, generator=g)

    def neg_log_joint() -> torch.Tensor:
        return -poutine.trace(model).get_trace(y).log_prob_sum()

    neg_log_joint()  # creates the params
    store = ppl.get_param_store()
    vec, layout = flatten_params(store)  # unconstrained: [mu, log(sigma)]
    x = vec.clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x],
        max_iter=100,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        unflatten_params(x.detach(), layout, store)  # write the flat point into the store
        for leaf in dict(store.named_parameters()).values():
            leaf.grad = None
        loss = neg_log_joint()
        loss.backward()  # gradients reach the store's leaves through ppl.param
        x.grad = flatten_grads(layout, store)
        return loss.detach()

    loss = opt.step(closure)
    unflatten_params(x.detach(), layout, store)
    mu, sigma = store["mu"].detach(), store["sigma"].detach()
    closure()  # gradient at the optimum
    grad_norm = flatten_grads(layout, store).norm()
    n = len(y)
    mu_given_sigma = (y.sum() / sigma**2) / (n / sigma**2 + 1 / 100.0)
    print(f"layout: {layout}")
    print(f"MAP: mu = {mu.item():.6f}, sigma = {sigma.item():.6f}, -log joint = {loss.item():.6f}")
    print(f"|gradient| at the optimum = {grad_norm.item():.2e}")
    print(f"check: argmax_mu p(mu | sigma, y) = {mu_given_sigma.item():.6f}")
    return {"mu": mu, "sigma": sigma, "grad_norm": grad_norm, "mu_given_sigma": mu_given_sigma}


def main() -> None:
    section_dicts()
    section_nested()
    section_locking()
    section_arrays()
    section_timing()
    section_map()


if __name__ == "__main__":
    main()
