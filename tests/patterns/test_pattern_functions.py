"""Function wrappers: Flatten/Fold FunctionInput/Output with paragami's argnums/retnums."""

import pytest
import torch

from ppl.patterns import (
    FlattenFunctionInput,
    FlattenFunctionInputAndOutput,
    FlattenFunctionOutput,
    FoldFunctionInput,
    FoldFunctionInputAndOutput,
    FoldFunctionOutput,
    NumericVectorPattern,
    PSDSymmetricMatrixPattern,
)

F64 = torch.float64
PSD = PSDSymmetricMatrixPattern(size=2)
POS = NumericVectorPattern(length=2, lb=0.0)
MAT = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=F64)


def fun(offset, mat, kwoffset=3.0):
    return torch.linalg.slogdet(mat + offset + kwoffset)[1]


def test_flatten_input_with_argnums_and_kwargs():
    flat_fun = FlattenFunctionInput(fun, patterns=PSD, free=True, argnums=1)
    free = PSD.flatten(MAT, free=True)
    assert flat_fun(2.0, free, kwoffset=1.0).item() == pytest.approx(fun(2.0, MAT, 1.0).item())
    nonfree = FlattenFunctionInput(fun, patterns=PSD, free=False, argnums=1)
    assert nonfree(2.0, MAT.reshape(-1)).item() == pytest.approx(fun(2.0, MAT).item())


def test_fold_input_is_the_inverse():
    def flat_fun(offset, flat):
        return fun(offset, PSD.fold(flat, free=True))

    folded_fun = FoldFunctionInput(flat_fun, patterns=PSD, free=True, argnums=1)
    assert folded_fun(2.0, MAT).item() == pytest.approx(fun(2.0, MAT).item(), abs=1e-12)


def test_multiple_patterns_and_free_flags():
    def f(a, scale, b):
        return (a * b).sum() + torch.logdet(scale)

    wrapped = FlattenFunctionInput(f, patterns=[POS, PSD], free=[True, False], argnums=[2, 1])
    a = torch.tensor([1.0, 2.0], dtype=F64)
    b_free = torch.zeros(2, dtype=F64)  # folds to [1, 1]
    out = wrapped(a, MAT.reshape(-1), b_free)
    assert out.item() == pytest.approx(3.0 + torch.logdet(MAT).item())


def test_gradients_and_hessians_through_wrapper():
    f = FlattenFunctionInput(lambda m: torch.logdet(m) + m.sum(), patterns=PSD, free=True)
    free = PSD.flatten(MAT, free=True).requires_grad_(True)
    (g,) = torch.autograd.grad(f(free), free)
    h = torch.func.hessian(f)(free.detach())
    eps = 1e-6
    fd = torch.stack([
        (f(free.detach() + eps * e) - f(free.detach() - eps * e)) / (2 * eps)
        for e in torch.eye(3, dtype=F64)
    ])  # fmt: skip
    assert torch.allclose(g, fd, atol=1e-6)
    fd_h = torch.stack([
        (torch.func.grad(f)(free.detach() + eps * e) - torch.func.grad(f)(free.detach() - eps * e))
        / (2 * eps)
        for e in torch.eye(3, dtype=F64)
    ])  # fmt: skip
    assert torch.allclose(h, fd_h, atol=1e-5)


def test_output_wrappers_single_and_tuple():
    f = FlattenFunctionOutput(lambda s: s * torch.eye(2, dtype=F64), patterns=PSD, free=True)
    assert torch.allclose(
        f(torch.tensor(torch.e, dtype=F64)), torch.tensor([0.5, 0.0, 0.5], dtype=F64)
    )

    def two(x):
        return "label", x, torch.zeros(3, dtype=F64)

    g = FoldFunctionOutput(two, patterns=[POS, PSD], free=[True, True], retnums=[1, 2])
    label, pos, mat = g(torch.zeros(2, dtype=F64))
    assert label == "label" and torch.equal(pos, torch.ones(2, dtype=F64))
    assert torch.equal(mat, torch.eye(2, dtype=F64))


def test_input_and_output_wrappers():
    fold_both = FoldFunctionInputAndOutput(lambda v: v + 1, POS, True, 0, POS, True)
    assert torch.allclose(fold_both(torch.ones(2)), torch.full((2,), torch.e))
    flat_both = FlattenFunctionInputAndOutput(lambda x: 2 * x, POS, True, 0, POS, True)
    assert torch.allclose(flat_both(torch.zeros(2)), torch.full((2,), 0.6931472))
    assert "argnums=[0]" in repr(FlattenFunctionInput(fun, PSD, True))
    assert "retnums=[0]" in repr(FoldFunctionOutput(fun, PSD, True))


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: FlattenFunctionInput(fun, [PSD, POS], True, argnums=[0]), ValueError,
         "argnums must be the same length as patterns"),
        (lambda: FlattenFunctionInput(fun, [PSD, POS], True, argnums=[1, 1]), ValueError,
         "must not contain duplicated values"),
        (lambda: FlattenFunctionInput(fun, [PSD, POS], [True], argnums=[0, 1]), ValueError,
         "free must be one bool or one per pattern: 2 patterns, 1 free flags"),
        (lambda: FlattenFunctionInput(fun, PSD, True, argnums=-1), ValueError, "non-negative"),
        (lambda: FlattenFunctionInput(fun, "psd", True), TypeError, "must be Pattern objects"),
        (lambda: FoldFunctionOutput(3, PSD, True), TypeError, "original_fun must be callable"),
        (lambda: FlattenFunctionInput(5, PSD, True), TypeError, "original_fun must be callable"),
    ],
)  # fmt: skip
def test_construction_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_call_errors():
    f = FlattenFunctionInput(fun, PSD, True, argnums=1)
    with pytest.raises(ValueError, match="argnums includes 1 but the call got only 1"):
        f(torch.zeros(3))
    with pytest.raises(ValueError, match="expected a flat vector of length 3, got shape \\(4,\\)"):
        f(2.0, torch.zeros(4))
    g = FlattenFunctionOutput(lambda: torch.eye(2), PSD, True, retnums=1)
    with pytest.raises(ValueError, match="returned one value but retnums=\\[1\\]"):
        g()
    h = FoldFunctionOutput(lambda: (torch.zeros(3),), [PSD, PSD], True)
    with pytest.raises(ValueError, match="retnums includes 1 but the function returned only 1"):
        h()
