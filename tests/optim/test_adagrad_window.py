"""AdagradWindow (PyMC's adagrad_window): the update against the formula, state, errors."""

import math

import pytest
import torch

import ppl
from ppl.optim import AdagradWindow, adagrad_window
from ppl.optim.adagrad_window import AdagradWindow as TorchAdagradWindow


def test_update_sums_the_last_n_win_squared_gradients():
    w = torch.zeros(3, requires_grad=True)
    opt = TorchAdagradWindow([w], lr=0.5, eps=0.1, n_win=2)
    grads = [torch.tensor([1.0, -2.0, 0.5]) * k for k in (1.0, 2.0, 3.0, 4.0)]
    expected = torch.zeros(3, dtype=torch.float64)
    window: list[torch.Tensor] = []
    for g in grads:
        w.grad = g.clone()
        opt.step()
        window = (window + [g.double() ** 2])[-2:]  # the ring buffer holds the last two
        expected -= 0.5 * g.double() / torch.sqrt(sum(window) + 0.1)
    assert torch.allclose(w.detach().double(), expected, atol=1e-6)


def test_first_step_of_pymc_defaults():
    w = torch.zeros(1, requires_grad=True)
    opt = TorchAdagradWindow([w])  # lr 1e-3, eps 0.1, n_win 10
    w.grad = torch.tensor([2.0])
    opt.step()
    assert float(w) == pytest.approx(-1e-3 * 2.0 / math.sqrt(4.0 + 0.1))


def test_wrapper_steps_store_params_and_round_trips_its_state():
    ppl.clear_param_store()
    x = ppl.param("x", torch.tensor([1.0, 2.0]))
    optim = adagrad_window(learning_rate=0.1, epsilon=0.0, n_win=3)
    assert isinstance(optim, AdagradWindow)
    loss = (x**2).sum()
    loss.backward()
    optim.step(dict(ppl.get_param_store().named_parameters()))
    # g = 2x, window sum = g^2: the step is lr * sign(g)
    assert torch.allclose(ppl.param("x").detach(), torch.tensor([0.9, 1.9]))
    state = optim.state_dict()
    fresh = adagrad_window(learning_rate=0.1, epsilon=0.0, n_win=3)
    fresh.load_state_dict(state)
    assert fresh.state_dict()["state"]["x"]["step"] == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [({"lr": 0.0}, "lr must be > 0"), ({"eps": -1.0}, "eps must be >= 0"), ({"n_win": 0}, "n_win")],
)
def test_bad_arguments_name_the_option(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TorchAdagradWindow([torch.zeros(1, requires_grad=True)], **kwargs)
