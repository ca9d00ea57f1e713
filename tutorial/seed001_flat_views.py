"""Dealing with parameters: seed 001 (climin) in ppl.

Run: ``python tutorial/seed001_flat_views.py``

All parameters live in one flat tensor; ``empty_with_views`` hands out shaped views
that share its memory, ``shaped_from_flat`` rebuilds them for an existing vector,
gradients are written in place into views of a flat gradient, and initialisers fill
a flat vector in place. The seed uses MNIST-sized logistic regression
(784 inputs, 10 classes); we use synthetic data of the same shapes.

One difference from the seed's text: its gradient example unpacks
``d_flat, d_w, d_b = empty_with_views(tmpl)``, but climin (and ppl) return
``(flat, views)``, as in the seed's own first example -- so it reads
``d_flat, (d_w, d_b) = ...`` here.
"""

from __future__ import annotations

import torch

from ppl.params.flat import empty_with_views, randomize_normal, shaped_from_flat

torch.set_default_dtype(torch.float64)

tmpl = [(784, 10), 10]  # w is a matrix and b a vector


def predict(parameters: torch.Tensor, inpt: torch.Tensor) -> torch.Tensor:
    """Softmax regression: the class probabilities of each row of ``inpt``."""
    w, b = shaped_from_flat(parameters, tmpl)
    before_softmax = inpt @ w + b
    softmaxed = torch.exp(before_softmax - before_softmax.max(dim=1, keepdim=True).values)
    return softmaxed / softmaxed.sum(dim=1, keepdim=True)


def f_loss(parameters: torch.Tensor, inpt: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the one-hot ``targets``."""
    return -(targets * predict(parameters, inpt).log()).sum(1).mean()


def f_d_loss_wrt_pars(
    parameters: torch.Tensor, inpt: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """The flat gradient, written in place into shaped views of one flat tensor."""
    p = predict(parameters, inpt)
    d_flat, (d_w, d_b) = empty_with_views(tmpl, dtype=parameters.dtype)
    d_w[...] = inpt.T @ (p - targets) / inpt.shape[0]
    d_b[...] = (p - targets).mean(dim=0)
    return d_flat


def f_d_loss_wrt_pars_out(
    parameters: torch.Tensor, inpt: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Same, with ``out=`` instead of a temporary (the seed's memory-saving variant)."""
    p = predict(parameters, inpt)
    d_flat, (d_w, d_b) = empty_with_views(tmpl, dtype=parameters.dtype)
    torch.matmul(inpt.T, p - targets, out=d_w)
    d_w /= inpt.shape[0]
    torch.mean(p - targets, dim=0, out=d_b)
    return d_flat


def make_data(n: int = 500, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    inpt = torch.rand(n, 784, generator=g)
    true_w = torch.randn(784, 10, generator=g) * 0.1
    labels = (inpt @ true_w).argmax(1)
    return inpt, torch.nn.functional.one_hot(labels, 10).to(inpt.dtype)


def main() -> dict[str, object]:
    print("## Creating parameter sets")
    flat, (w, b) = empty_with_views(tmpl)
    print(f"flat: {tuple(flat.shape)}, w: {tuple(w.shape)}, b: {tuple(b.shape)}")
    flat.zero_()
    w[0, 0] = 1.5  # a write into a view shows in the flat vector ...
    flat[-1] = -2.0  # ... and a write into the flat vector shows in the views
    print(f"flat[0] = {flat[0].item()}, b[-1] = {b[-1].item()}")
    print(f"views share memory: {w.data_ptr() == flat.data_ptr()}")

    print("\n## Initializing parameters")
    gen = torch.Generator().manual_seed(0)
    randomize_normal(flat, 0, 0.1, generator=gen)
    print(f"mean {flat.mean().item():.4f}, std {flat.std().item():.4f} (target 0, 0.1)")

    print("\n## Calculating derivatives in place")
    inpt, targets = make_data()
    d_flat = f_d_loss_wrt_pars(flat, inpt, targets)
    d_flat_out = f_d_loss_wrt_pars_out(flat, inpt, targets)
    x = flat.clone().requires_grad_(True)
    (autograd_grad,) = torch.autograd.grad(f_loss(x, inpt, targets), x)
    err = (d_flat - autograd_grad).abs().max().item()
    err_out = (d_flat_out - autograd_grad).abs().max().item()
    print(f"hand-written flat gradient vs autograd: max abs diff {err:.2e}")
    print(f"out= variant vs autograd: max abs diff {err_out:.2e}")

    print("\n## Gradient descent on the flat vector")
    losses = []
    for _ in range(50):
        losses.append(f_loss(flat, inpt, targets).item())
        flat -= 0.03 * f_d_loss_wrt_pars(flat, inpt, targets)  # in place: w and b follow
    losses.append(f_loss(flat, inpt, targets).item())
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; b[:3] now {b[:3].numpy().round(4)}")
    return {"grad_err": err, "grad_err_out": err_out, "losses": losses, "flat": flat}


if __name__ == "__main__":
    main()
