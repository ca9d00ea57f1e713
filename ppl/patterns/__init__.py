"""paragami-style parameter patterns in torch.

A pattern maps a constrained, structured parameter (a bounded array, a PSD matrix,
an array of simplexes, a dict or array of those) to a flat vector and back, either
entry by entry (``free=False``) or through an unconstrained reparameterisation
(``free=True``) suited to optimisers, Hessians and sensitivity analysis. The free
vectors equal paragami's, number for number.

Modules: ``base`` (the abstract pattern), ``numeric``, ``psd``, ``simplex``,
``pattern_dict``, ``pattern_array``, ``functions`` (wrappers), ``registry`` (JSON).

Example:
    >>> import torch
    >>> from ppl.patterns import PatternDict, NumericVectorPattern, PSDSymmetricMatrixPattern
    >>> mvn = PatternDict(free_default=True)
    >>> mvn["mean"] = NumericVectorPattern(length=2)
    >>> mvn["cov"] = PSDSymmetricMatrixPattern(size=2)
    >>> par = {"mean": torch.tensor([0.87367236, 0.21280422], dtype=torch.float64),
    ...        "cov": torch.tensor([[1.1, 1.0], [1.0, 1.1]], dtype=torch.float64)}
    >>> mvn.flatten(par)
    tensor([ 0.8737,  0.2128,  0.0477,  0.9535, -0.8280], dtype=torch.float64)
"""

from ppl.patterns.base import ArrayPattern, Pattern
from ppl.patterns.functions import (
    FlattenFunctionInput,
    FlattenFunctionInputAndOutput,
    FlattenFunctionOutput,
    FoldFunctionInput,
    FoldFunctionInputAndOutput,
    FoldFunctionOutput,
)
from ppl.patterns.numeric import NumericArrayPattern, NumericScalarPattern, NumericVectorPattern
from ppl.patterns.pattern_array import PatternArray
from ppl.patterns.pattern_dict import PatternDict
from ppl.patterns.psd import PSDSymmetricMatrixPattern
from ppl.patterns.registry import get_pattern_from_json, register_pattern_json
from ppl.patterns.simplex import SimplexArrayPattern

__all__ = [
    "ArrayPattern",
    "FlattenFunctionInput",
    "FlattenFunctionInputAndOutput",
    "FlattenFunctionOutput",
    "FoldFunctionInput",
    "FoldFunctionInputAndOutput",
    "FoldFunctionOutput",
    "NumericArrayPattern",
    "NumericScalarPattern",
    "NumericVectorPattern",
    "PSDSymmetricMatrixPattern",
    "Pattern",
    "PatternArray",
    "PatternDict",
    "SimplexArrayPattern",
    "get_pattern_from_json",
    "register_pattern_json",
]
