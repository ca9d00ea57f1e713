"""Hypothesis round trips ``fold(flatten(x)) == x`` for every pattern, free and not, f32/f64."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ppl.patterns import (
    NumericArrayPattern,
    NumericScalarPattern,
    NumericVectorPattern,
    PatternArray,
    PatternDict,
    PSDSymmetricMatrixPattern,
    SimplexArrayPattern,
)

DTYPES = st.sampled_from([torch.float32, torch.float64])
BOUNDS = st.sampled_from(
    [(-math.inf, math.inf), (0.0, math.inf), (-math.inf, 1.5), (-2.0, 3.0)]
)  # fmt: skip
SHAPES = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


@st.composite
def leaf_patterns(draw):
    kind = draw(st.sampled_from(["array", "vector", "scalar", "psd", "simplex"]))
    if kind in ("array", "vector", "scalar"):
        lb, ub = draw(BOUNDS)
        if kind == "array":
            return NumericArrayPattern(shape=draw(SHAPES), lb=lb, ub=ub)
        if kind == "vector":
            return NumericVectorPattern(length=draw(st.integers(1, 4)), lb=lb, ub=ub)
        return NumericScalarPattern(lb=lb, ub=ub)
    if kind == "psd":
        return PSDSymmetricMatrixPattern(
            size=draw(st.integers(1, 3)), diag_lb=draw(st.sampled_from([0.0, 0.5]))
        )
    return SimplexArrayPattern(simplex_size=draw(st.integers(2, 4)), array_shape=draw(SHAPES))


@st.composite
def patterns(draw):
    kind = draw(st.sampled_from(["leaf", "leaf", "array", "dict"]))
    if kind == "leaf":
        return draw(leaf_patterns())
    if kind == "array":
        return PatternArray(array_shape=draw(SHAPES), base_pattern=draw(leaf_patterns()))
    d = PatternDict()
    for i in range(draw(st.integers(1, 3))):
        d[f"k{i}"] = draw(leaf_patterns())
    return d


def free_vector(draw, n, dtype):
    vals = draw(st.lists(st.floats(-2.0, 2.0), min_size=n, max_size=n))
    return torch.tensor(vals, dtype=dtype)


def close(a, b, dtype):
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            close(a[k], b[k], dtype)
        return
    tol = 2e-3 if dtype == torch.float32 else 1e-9
    scale = max(1.0, a.abs().max().item() if a.numel() else 1.0)
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.allclose(a, b, rtol=0, atol=tol * scale), (a, b)


@settings(max_examples=80, deadline=None)
@given(pattern=patterns(), dtype=DTYPES, data=st.data())
def test_round_trips(pattern, dtype, data):
    free = free_vector(data.draw, pattern.flat_length(free=True), dtype)
    value = pattern.fold(free, free=True)
    ok, msg = pattern.validate_folded(value)
    assert ok, msg
    for is_free in (True, False):
        flat = pattern.flatten(value, free=is_free)
        assert flat.shape == (pattern.flat_length(is_free),) and flat.dtype == dtype
        close(pattern.fold(flat, free=is_free), value, dtype)
    # and free vectors themselves survive fold -> flatten
    close(pattern.flatten(value, free=True), free, dtype)
    assert len(pattern.flat_names(free=True)) == pattern.flat_length(free=True)
    assert len(pattern.flat_names(free=False)) == pattern.flat_length(free=False)


@settings(max_examples=25, deadline=None)
@given(pattern=leaf_patterns(), batch=st.integers(1, 3), dtype=DTYPES, data=st.data())
def test_batched_fold_equals_per_row_fold(pattern, batch, dtype, data):
    n = pattern.flat_length(free=True)
    free = torch.stack([free_vector(data.draw, n, dtype) for _ in range(batch)])
    batched = pattern.fold(free, free=True)
    for i in range(batch):
        close(batched[i], pattern.fold(free[i], free=True), dtype)
