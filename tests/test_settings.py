"""``ppl.settings``: Pyro's get/set/context/register registry over module variables."""

import sys

import pytest

import ppl
from ppl import settings

_TOLERANCE = 0.5


def _positive(value):
    if not value > 0:
        raise ValueError("tolerance must be positive")


@pytest.fixture
def tolerance():
    global _TOLERANCE
    _TOLERANCE = 0.5
    settings.register("test_tolerance", __name__, "_TOLERANCE", _positive)
    yield
    settings._REGISTRY.pop("test_tolerance")


def test_defaults_are_pyros():
    values = settings.get()
    assert list(values) == sorted(values)
    assert values["module_local_params"] is False
    for alias in (
        "validate_distributions_pyro",
        "validate_distributions_torch",
        "validate_infer",
        "validate_poutine",
    ):
        assert values[alias] is True


def test_validation_aliases_drive_ppls_flag():
    with settings.context(validate_poutine=False):
        assert ppl.is_validation_enabled() is False
        assert settings.get("validate_distributions_pyro") is False
    assert ppl.is_validation_enabled() is True


def test_register_get_set_and_validator(tolerance):
    module = sys.modules[__name__]
    assert settings.get("test_tolerance") == 0.5
    settings.set(test_tolerance=0.25)
    assert module._TOLERANCE == 0.25
    with pytest.raises(ValueError, match="positive"):
        settings.set(test_tolerance=-1.0)
    assert settings.get("test_tolerance") == 0.25


def test_set_refuses_everything_if_one_value_is_bad(tolerance):
    with pytest.raises(ValueError):
        settings.set(module_local_params=True, test_tolerance=0.0)
    assert settings.get("module_local_params") is False
    with pytest.raises(KeyError, match="unknown setting 'nope'"):
        settings.set(test_tolerance=1.0, nope=1)
    assert settings.get("test_tolerance") == 0.5


def test_set_as_context_manager_and_decorator(tolerance):
    with settings.set(test_tolerance=2.0):
        assert settings.get("test_tolerance") == 2.0
    assert settings.get("test_tolerance") == 0.5

    @settings.set(test_tolerance=3.0)
    def read():
        return settings.get("test_tolerance")

    assert settings.get("test_tolerance") == 0.5
    assert read() == 3.0
    assert settings.get("test_tolerance") == 0.5


def test_context_restores_after_errors(tolerance):
    with pytest.raises(RuntimeError):
        with settings.context(test_tolerance=4.0, module_local_params=True):
            assert settings.get()["module_local_params"] is True
            raise RuntimeError
    assert settings.get("test_tolerance") == 0.5
    assert settings.get("module_local_params") is False

    @settings.context(test_tolerance=5.0)
    def read():
        return settings.get("test_tolerance")

    assert read() == 5.0 and settings.get("test_tolerance") == 0.5


def test_register_as_decorator_and_dotted_names():
    class Holder:
        threshold = 10.0

    sys.modules[__name__].Holder = Holder
    try:

        @settings.register("test_threshold", __name__, "Holder.threshold")
        def _check(value):
            if not isinstance(value, float):
                raise TypeError("threshold must be a float")

        assert settings.get("test_threshold") == 10.0
        with settings.context(test_threshold=20.0):
            assert Holder.threshold == 20.0
        with pytest.raises(TypeError, match="float"):
            settings.set(test_threshold=3)
        assert Holder.threshold == 10.0
    finally:
        settings._REGISTRY.pop("test_threshold", None)
        del sys.modules[__name__].Holder


def test_bad_registrations_and_values():
    with pytest.raises(ValueError, match="identifier"):
        settings.register("not an alias", __name__, "_TOLERANCE")
    with pytest.raises(TypeError, match="modulename"):
        settings.register("x", 3, "_TOLERANCE")
    with pytest.raises(TypeError, match="bool"):
        settings.set(module_local_params=1)
    with pytest.raises(KeyError, match="unknown setting"):
        settings.get("missing")
