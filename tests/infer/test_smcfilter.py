"""SMCFilter against the Kalman filter, systematic resampling and SMCState's rules."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer import SMCFilter
from ppl.infer.smcfilter import SMCFailed, SMCState, _systematic_sample

Q, R = 0.5, 1.0  # transition and observation variances of the random walk


class RandomWalk:
    """z_0 ~ N(0, 1), z_t ~ N(z_{t-1}, Q), y_t ~ N(z_t, R); the model writes the state."""

    def __init__(self, is_model=True, widen=1.0):
        self.is_model = is_model
        self.widen = widen

    def init(self, state):
        self.t = 0
        z = ppl.sample("z_0", dist.Normal(0.0, self.widen))
        if self.is_model:
            state["z"] = z

    def step(self, state, y=None):
        self.t += 1
        z = ppl.sample(f"z_{self.t}", dist.Normal(state["z"], self.widen * Q**0.5))
        if self.is_model:
            state["z"] = z
            ppl.sample(f"y_{self.t}", dist.Normal(z, R**0.5), obs=y)


def kalman(ys):
    """Exact filtering means and variances of the random walk."""
    mean, var = 0.0, 1.0
    out = []
    for y in ys.tolist():
        var_pred = var + Q
        gain = var_pred / (var_pred + R)
        mean, var = mean + gain * (y - mean), (1 - gain) * var_pred
        out.append((mean, var))
    return out


def test_linear_gaussian_filter_matches_kalman_within_mc_error():
    ys = torch.tensor([0.5, 1.2, 0.9, 2.0, 1.4, 2.5, 2.2, 3.0])
    num = 2000
    smc = SMCFilter(
        RandomWalk(), RandomWalk(False, widen=1.3), num_particles=num, max_plate_nesting=0
    )
    smc.init()
    for y, (mean, var) in zip(ys, kalman(ys)):
        smc.step(y)
        empirical = smc.get_empirical()["z"]
        # resampling and weights cost efficiency; the ESS of the weighted particles
        # bounds it from above, so allow a generous factor on the standard error
        w = empirical.log_weights.softmax(-1)
        ess = float(1 / (w**2).sum())
        se = math.sqrt(var / min(ess, num / 4))
        assert abs(float(empirical.mean) - mean) < 4 * se
        assert float(empirical.variance) == pytest.approx(var, rel=0.25)


@pytest.mark.parametrize("size", [1, 5, 17])
def test_systematic_sample_counts_are_within_one_of_expected(size):
    probs = torch.randn(size).exp()
    probs /= probs.sum()
    for _ in range(20):
        index = _systematic_sample(probs)
        counts = torch.bincount(index, minlength=size).double()
        assert index.shape == (size,)
        assert bool(((counts - size * probs.double()).abs() < 1 + 1e-6).all())
        assert bool((index[1:] >= index[:-1]).all())  # sorted


def test_resampling_happens_below_the_ess_threshold_and_resets_weights():
    smc = SMCFilter(RandomWalk(), RandomWalk(False), num_particles=50, max_plate_nesting=0)
    smc.init()
    smc.step(torch.tensor(25.0))  # a surprising observation: ESS collapses
    assert torch.equal(smc.state._log_weights, torch.zeros(50))
    lazy = SMCFilter(RandomWalk(), RandomWalk(False), 50, 0, ess_threshold=1e-9)
    lazy.init()
    lazy.step(torch.tensor(25.0))
    assert float(lazy.state._log_weights.std()) > 0


def test_state_rules_and_argument_errors():
    state = SMCState(3)
    with pytest.raises(ValueError, match="leading dim 3"):
        state["z"] = torch.zeros(4)
    with pytest.raises(TypeError, match="only tensors"):
        state["z"] = 1.0
    with state._lock(), pytest.raises(RuntimeError, match="guide cannot write"):
        state["z"] = torch.zeros(3)
    with pytest.raises(ValueError, match="ess_threshold"):
        SMCFilter(RandomWalk(), RandomWalk(False), 10, 0, ess_threshold=0.0)
    with pytest.raises(ValueError, match="num_particles"):
        SMCState(0)
    smc = SMCFilter(RandomWalk(), RandomWalk(), num_particles=10, max_plate_nesting=0)
    with pytest.raises(RuntimeError, match="guide cannot write"):
        smc.init()


def test_impossible_observation_raises_smc_failed():
    class Bounded:
        def __init__(self, is_model):
            self.is_model = is_model

        def init(self, state):
            z = ppl.sample("z", dist.Uniform(0.0, 1.0))
            if self.is_model:
                state["z"] = z

        def step(self, state, y=None):
            if self.is_model:
                ppl.sample("y", dist.Uniform(state["z"] - 0.1, state["z"] + 0.1), obs=y)

    ppl.enable_validation(False)  # an out-of-support observation is the point here
    smc = SMCFilter(Bounded(True), Bounded(False), num_particles=20, max_plate_nesting=0)
    smc.init()
    with pytest.raises(SMCFailed, match="'y'"):
        smc.step(torch.tensor(5.0))
