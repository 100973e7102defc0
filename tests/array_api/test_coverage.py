"""Every function of the claimed standard version is tested differentially or listed (with
a reason) in ``ember.array_api._unsupported``."""

from __future__ import annotations

import array_api_strict as xs

import ember.array_api as ea
from ember.array_api import _unsupported

from . import (  # noqa: F401 - importing them registers what they cover
    test_creation_dtypes,
    test_elementwise,
    test_functions,
    test_linalg,
)
from ._harness import TESTED

# The function list of the 2024.12 standard (https://data-apis.org/array-api/2024.12/),
# main namespace, by section: 2023.12's and the functions 2024.12 added.
STANDARD_2024_12 = {
    "creation": "arange asarray empty empty_like eye from_dlpack full full_like linspace "
                "meshgrid ones ones_like tril triu zeros zeros_like",
    "data types": "astype can_cast finfo iinfo isdtype result_type",
    "element-wise": "abs acos acosh add asin asinh atan atan2 atanh bitwise_and "
                    "bitwise_left_shift bitwise_invert bitwise_or bitwise_right_shift "
                    "bitwise_xor ceil clip conj copysign cos cosh divide equal exp expm1 "
                    "floor floor_divide greater greater_equal hypot imag isfinite isinf isnan "
                    "less less_equal log log1p log2 log10 logaddexp logical_and logical_not "
                    "logical_or logical_xor maximum minimum multiply negative not_equal "
                    "positive pow real remainder round sign signbit sin sinh square sqrt "
                    "subtract tan tanh trunc",
    "indexing": "take",
    "inspection": "__array_namespace_info__",
    "linear algebra": "matmul matrix_transpose tensordot vecdot",
    "manipulation": "broadcast_arrays broadcast_to concat expand_dims flip moveaxis "
                    "permute_dims repeat reshape roll squeeze stack tile unstack",
    "searching": "argmax argmin nonzero searchsorted where",
    "set": "unique_all unique_counts unique_inverse unique_values",
    "sorting": "argsort sort",
    "statistical": "cumulative_sum max mean min prod std sum var",
    "utility": "all any",
    "added in 2024.12": "count_nonzero cumulative_prod diff nextafter reciprocal "
                        "take_along_axis",
}
LINALG_2024_12 = ("cholesky cross det diagonal eigh eigvalsh inv matmul matrix_norm "
                  "matrix_power matrix_rank matrix_transpose outer pinv qr slogdet solve svd "
                  "svdvals tensordot trace vecdot vector_norm").split()
FUNCTIONS = {n for names in STANDARD_2024_12.values() for n in names.split()} | {
    "linalg." + n for n in LINALG_2024_12}


def test_counts():
    assert len(FUNCTIONS) == 157  # 134 main-namespace functions and 23 in linalg
    assert ea.__array_api_version__ == "2024.12"


def test_the_list_matches_array_api_strict():
    """A typo in the list above would show here: strict implements every one."""
    for name in FUNCTIONS:
        module, _, fn = name.rpartition(".")
        assert hasattr(getattr(xs, module) if module else xs, fn), name


def test_every_function_is_tested_or_unsupported():
    unsupported = set(_unsupported.FUNCTIONS)
    assert not unsupported & TESTED
    assert TESTED == FUNCTIONS - unsupported, (
        f"untested: {sorted(FUNCTIONS - unsupported - TESTED)}; "
        f"not in the standard: {sorted(TESTED - FUNCTIONS)}")


def test_every_supported_function_exists():
    for name in FUNCTIONS - set(_unsupported.FUNCTIONS):
        module, _, fn = name.rpartition(".")
        assert callable(getattr(getattr(ea, module) if module else ea, fn)), name
    for name in _unsupported.FUNCTIONS:
        assert not hasattr(ea, name), name
    assert not hasattr(ea, "fft") and set(_unsupported.EXTENSIONS) == {"fft"}


def test_every_entry_has_a_reason():
    for table in (_unsupported.FUNCTIONS, _unsupported.EXTENSIONS, _unsupported.DTYPES,
                  _unsupported.DEVIATIONS):
        for name, reason in table.items():
            assert isinstance(reason, str) and len(reason) > 20, name
