"""JSON round trips through the pattern registry."""

import json

import pytest

from ppl.patterns import (
    NumericArrayPattern,
    NumericScalarPattern,
    NumericVectorPattern,
    PatternArray,
    PatternDict,
    PSDSymmetricMatrixPattern,
    SimplexArrayPattern,
    get_pattern_from_json,
    register_pattern_json,
)


def all_patterns():
    d = PatternDict(free_default=True)
    d["v"] = NumericVectorPattern(length=3, lb=0.0)
    d["m"] = PSDSymmetricMatrixPattern(size=2, diag_lb=0.1)
    inner = PatternDict()
    inner["s"] = NumericScalarPattern(ub=2.0)
    d["inner"] = inner
    return [
        NumericArrayPattern(shape=(2, 3), lb=-1.0, ub=1.0, free_default=False),
        NumericVectorPattern(length=4),
        NumericScalarPattern(lb=0.0, default_validate=False),
        PSDSymmetricMatrixPattern(size=3, diag_lb=0.5),
        SimplexArrayPattern(simplex_size=4, array_shape=(2, 1)),
        PatternArray(array_shape=(3,), base_pattern=SimplexArrayPattern(3, (2,))),
        d,
    ]


@pytest.mark.parametrize("pattern", all_patterns(), ids=lambda p: type(p).__name__)
def test_round_trip(pattern):
    text = pattern.to_json()
    back = get_pattern_from_json(text)
    assert back == pattern and type(back) is type(pattern)
    assert back.flat_length(True) == pattern.flat_length(True)
    assert type(pattern).from_json(text) == pattern


def test_dict_member_order_and_inequality():
    d = all_patterns()[-1]
    back = get_pattern_from_json(d.to_json())
    assert list(back.keys()) == ["v", "m", "inner"]
    assert NumericVectorPattern(2) != NumericVectorPattern(3)
    assert NumericVectorPattern(2) != NumericArrayPattern((2,))


def test_paragami_qualified_names_load():
    text = json.dumps(
        {"pattern": "paragami.psdmatrix_patterns.PSDSymmetricMatrixPattern", "size": 2,
         "diag_lb": 0.0, "default_validate": True}
    )  # fmt: skip
    assert get_pattern_from_json(text) == PSDSymmetricMatrixPattern(size=2)


def test_errors():
    with pytest.raises(ValueError, match="'pattern' entry"):
        get_pattern_from_json(json.dumps({"size": 2}))
    with pytest.raises(ValueError, match="pattern type 'Mystery' is not registered"):
        get_pattern_from_json(json.dumps({"pattern": "Mystery"}))
    with pytest.raises(
        ValueError, match="NumericVectorPattern.from_json got JSON for pattern 'PSD"
    ):
        NumericVectorPattern.from_json(PSDSymmetricMatrixPattern(2).to_json())

    class NumericArrayPattern(PSDSymmetricMatrixPattern):  # same name as a built-in
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_pattern_json(NumericArrayPattern)


def test_register_custom_pattern():
    class ScaledSimplex(SimplexArrayPattern):
        pass

    register_pattern_json(ScaledSimplex)
    p = ScaledSimplex(simplex_size=3, array_shape=(2,))
    assert type(get_pattern_from_json(p.to_json())) is ScaledSimplex
