"""What ``ember.array_api`` deliberately does not support, with the reason for each entry.

``tests/array_api/test_coverage.py`` reads these tables: every function of the claimed
standard version is either tested against array-api-strict or listed here.
"""

from __future__ import annotations

#: functions of the claimed version (2024.12) that ember does not provide
FUNCTIONS: dict[str, str] = {
    "imag": "defined for complex input only, and ember has no complex dtypes",
}

#: extensions of the claimed version that ember does not provide
EXTENSIONS: dict[str, str] = {
    "fft": "ember has no complex dtypes, which every transform but rfft's input needs",
}

#: dtypes of the standard that ember does not have
DTYPES: dict[str, str] = {
    "uint16": "ember's dtypes are PyTorch's core set, whose only unsigned type is uint8",
    "uint32": "ember's dtypes are PyTorch's core set, whose only unsigned type is uint8",
    "uint64": "ember's dtypes are PyTorch's core set, whose only unsigned type is uint8",
    "complex64": "ember has no complex dtypes (no complex autograd either)",
    "complex128": "ember has no complex dtypes (no complex autograd either)",
}

#: behaviours that differ from the standard, where ember keeps its own rule
DEVIATIONS: dict[str, str] = {
    "sum/prod/cumulative_sum/trace of uint8": "the standard asks for uint64 (the unsigned type "
    "as wide as the default integer); ember has no uint64 and accumulates in int64",
    "default floating dtype": "float32 (ember's, as in PyTorch), which the standard allows; "
    "array-api-strict's is float64",
    "mixed-kind promotion": "int and float operands promote to the float (PyTorch's rule); "
    "the standard leaves this unspecified and array-api-strict raises",
    "operators on a 0-d and an n-d tensor of one kind": "x + y etc. keep PyTorch's rule (the "
    "n-d operand's dtype: float32 vector + float64 0-d is float32); the namespace's functions "
    "(xp.add ...) follow the standard (float64)",
    "array.size": "Tensor.size is PyTorch's method (x.size() is the shape), not the standard's "
    "attribute; use math.prod(x.shape) or x.numel()",
}
