"""ember's op table: one ``OpInfo`` per op (and per op variant), gathered from the family files.

The generic tests in ``test_op_table.py`` and ``test_dtypes.py`` run every row: forward
against PyTorch (or NumPy), float64 gradcheck, gradients against PyTorch on contiguous and
non-contiguous inputs, double backward, and dtype coverage.
"""

from __future__ import annotations

from .table_elementwise import ELEMENTWISE
from .table_index import INDEX, PRODUCTS
from .table_reduce import REDUCE
from .table_resample import RESAMPLE
from .table_sampling import SAMPLING
from .table_shape import SHAPE

OP_TABLE = ELEMENTWISE + REDUCE + SHAPE + INDEX + PRODUCTS + RESAMPLE + SAMPLING

_names = [op.name for op in OP_TABLE]
assert len(_names) == len(set(_names)), "op table names must be unique"


def cases(pred=lambda op, sample: True):
    """``pytest.param(op, sample)`` for every sample of every op where ``pred`` holds."""
    import pytest

    return [pytest.param(op, s, id=f"{op.name}-{s.name}")
            for op in OP_TABLE for s in op.sample_list() if pred(op, s)]
