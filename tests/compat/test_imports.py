"""The import lines and names a Pyro script uses exist in ppl under the same paths."""

import importlib
import importlib.util

import pytest

# Names Pyro's introductory tutorials use, by module (Pyro path with "pyro" -> "ppl").
PYRO_NAMES = {
    "ppl": [
        "sample", "param", "plate", "module", "factor", "deterministic", "markov",
        "get_param_store", "clear_param_store", "set_rng_seed", "enable_validation",
        "validation_enabled", "poutine", "distributions", "optim", "infer", "nn",
    ],
    "ppl.poutine": [
        "trace", "replay", "block", "condition", "do", "substitute", "seed", "scale", "mask",
        "uncondition", "lift", "infer_config", "escape", "broadcast", "markov", "Trace",
    ],
    "ppl.distributions": [
        "Normal", "Beta", "Bernoulli", "Binomial", "Categorical", "Dirichlet", "Gamma",
        "HalfCauchy", "HalfNormal", "LogNormal", "MultivariateNormal", "Poisson", "Uniform",
        "Exponential", "StudentT", "Delta", "ImproperUniform", "Unit", "MixtureSameFamily",
        "LKJCholesky", "TransformedDistribution", "TorchDistribution", "constraints",
        "transforms",
    ],
    "ppl.distributions.constraints": [
        "positive", "real", "simplex", "interval", "unit_interval", "lower_cholesky",
        "positive_definite", "greater_than", "boolean", "nonnegative_integer",
    ],
    "ppl.optim": [
        "Adam", "SGD", "ClippedAdam", "AdamW", "RMSprop", "Adagrad", "ExponentialLR", "StepLR",
        "MultiStepLR", "ReduceLROnPlateau", "OneCycleLR", "PyroOptim", "PyroLRScheduler",
    ],
    "ppl.infer.svi": ["SVI"],
    "ppl.infer.trace_elbo": ["Trace_ELBO", "JitTrace_ELBO"],
    "ppl.infer.trace_mean_field_elbo": ["TraceMeanField_ELBO"],
    "ppl.infer.predictive": ["Predictive"],
    "ppl.infer.autoguide": [
        "AutoDelta", "AutoNormal", "AutoDiagonalNormal", "AutoMultivariateNormal",
        "AutoLowRankMultivariateNormal", "AutoLaplaceApproximation", "AutoGuideList",
        "AutoCallable", "AutoGuide", "AutoContinuous", "init_to_median", "init_to_mean",
        "init_to_sample", "init_to_value", "init_to_feasible", "init_to_uniform",
    ],
    "ppl.nn": ["PyroModule", "PyroParam", "PyroSample", "PyroModuleList", "pyro_method"],
    "ppl.params.param_store": ["ParamStoreDict"],
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(PYRO_NAMES))
def test_pyro_names_exist(module_name):
    module = importlib.import_module(module_name)
    missing = [n for n in PYRO_NAMES[module_name] if not hasattr(module, n)]
    assert missing == [], f"{module_name} lacks Pyro names {missing}"


def test_import_ppl_as_pyro_lines_run():
    namespace: dict = {}
    exec(
        "import ppl as pyro\n"
        "import ppl.distributions as dist\n"
        "from ppl import poutine\n"
        "from ppl.distributions import constraints\n"
        "from ppl.infer.svi import SVI\n"
        "from ppl.infer.trace_elbo import Trace_ELBO\n"
        "from ppl.infer.predictive import Predictive\n"
        "from ppl.infer.autoguide import AutoNormal\n"
        "from ppl.optim import Adam, ClippedAdam\n"
        "from ppl.nn import PyroModule, PyroSample\n"
        "svi_cls = pyro.infer.svi.SVI\n",
        namespace,
    )
    assert namespace["svi_cls"] is namespace["SVI"]
    assert namespace["pyro"].optim.Adam is namespace["Adam"]
    assert namespace["dist"].constraints is namespace["constraints"]


@pytest.mark.skipif(importlib.util.find_spec("pyro") is None, reason="pyro-ppl not installed")
@pytest.mark.parametrize("module_name", sorted(PYRO_NAMES))
def test_the_name_list_is_pyros(module_name):
    """Keep the list above honest: every name is also in Pyro at the same path."""
    module = importlib.import_module("pyro" + module_name[len("ppl") :])
    assert [n for n in PYRO_NAMES[module_name] if not hasattr(module, n)] == []


def test_from_ppl_infer_import_svi_trace_elbo_predictive():
    from ppl.infer import SVI, Predictive, Trace_ELBO
    from ppl.infer.predictive import Predictive as Predictive_
    from ppl.infer.svi import SVI as SVI_
    from ppl.infer.trace_elbo import Trace_ELBO as Trace_ELBO_

    assert (SVI, Trace_ELBO, Predictive) == (SVI_, Trace_ELBO_, Predictive_)
    import ppl as pyro

    assert (
        pyro.infer.SVI is SVI and pyro.infer.TraceMeanField_ELBO.__name__ == "TraceMeanField_ELBO"
    )
