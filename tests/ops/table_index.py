"""Op table rows for indexing (basic, integer and boolean indices, ``__setitem__``, gather,
scatter_add, index_select, take_along_dim, masked_fill, one_hot, topk, kthvalue, scatter,
scatter_reduce, masked_select, bucketize) and products (matmul in its
1-d/2-d/batched/broadcast combinations, dot, outer, add_n)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as tF

import ember

from .harness import ALL, FLOAT, OpInfo, S


def _x(rng, *shape):
    return rng.standard_normal(shape)


def _torch_index(index):
    """An index with NumPy arrays turned into torch tensors."""
    items = index if isinstance(index, tuple) else (index,)
    out = tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in items)
    return out if isinstance(index, tuple) else out[0]


def _ember_index(index):
    """An index with NumPy arrays turned into ember tensors (both spellings are accepted)."""
    items = index if isinstance(index, tuple) else (index,)
    out = tuple(ember.tensor(i) if isinstance(i, np.ndarray) else i for i in items)
    return out if isinstance(index, tuple) else out[0]


_I = np.array
BASIC = [  # name, shape, index
    ("int", (3, 4), 1), ("neg_int", (3, 4), -1), ("slice", (3, 4), (slice(None), slice(1, 3))),
    ("step", (4, 5), (slice(None, None, 2), slice(1, None, 3))),
    ("ellipsis", (2, 3, 4), (Ellipsis, 1)), ("none", (3, 4), (None, 0, slice(None), None)),
    ("int_of_1d", (4,), 2),
]
ADVANCED = [
    ("list", (4, 3), [0, 2, 2]), ("array_dim1", (3, 4), (slice(None), _I([3, 0, 3, 1]))),
    ("array_2d", (4, 3), _I([[0, 1], [3, 3]])), ("pair", (3, 4), (_I([0, 2, 2]), _I([1, 3, 1]))),
    ("int_and_array", (3, 4), (1, _I([0, 0, 2]))), ("negative", (3, 4), _I([-1, 0])),
    ("separated", (3, 2, 4), (_I([0, 2]), slice(None), _I([1, 3]))),
    ("bool_rows", (3, 4), _I([True, False, True])),
    ("bool_full", (2, 3), _I([[True, False, True], [False, False, True]])),
    ("bool_dim1", (2, 4), (slice(None), _I([False, True, True, False]))),
]


def _index_samples(cases, tensor_index=False):
    def samples(rng):
        return [S(_x(rng, *shape), name=n + ("_tensor" if tensor_index else ""),
                  index=_ember_index(i) if tensor_index else i) for n, shape, i in cases]

    return samples


def _getitem_torch(x, index):
    return x[_torch_index(_as_numpy(index))]


def _as_numpy(index):
    """An index with ember tensors and lists turned into NumPy arrays."""
    items = index if isinstance(index, tuple) else (index,)
    out = tuple(np.asarray(i.data) if isinstance(i, ember.Tensor) else
                _I(i) if isinstance(i, list) else i for i in items)
    return out if isinstance(index, tuple) else out[0]


def _setitem(lib):
    def call(x, v, index):
        y = x * 1
        y[index if lib is ember else _torch_index(index)] = v
        return y

    return call


def _setitem_samples(rng):
    return [
        S(_x(rng, 3, 4), _x(rng, 4), name="row", index=1),
        S(_x(rng, 3, 4), _x(rng, 3, 1), name="bcast_slice", index=(slice(None), slice(1, 3))),
        S(_x(rng, 3, 4), _x(rng), name="0d_value", index=(0, 2)),
        S(_x(rng, 3, 4), _x(rng, 2, 4), name="int_array", index=_I([2, 0])),
        S(_x(rng, 3, 4), _x(rng, 3), name="bool_mask", index=_I(
            [[True, False, True, False], [False, False, True, False], [False] * 4])),
    ]


def _gather_samples(rng):
    return [
        S(_x(rng, 3, 4), 1, _I([[0, 3, 3], [1, 1, 0], [2, 0, 1]]), name="d1_repeat"),
        S(_x(rng, 3, 4), 0, _I([[2, 0, 1, 1], [0, 0, 2, 1]]), name="d0"),
        S(_x(rng, 3, 4), -1, _I([[1], [0]]), name="neg_smaller"),
        S(_x(rng, 2, 3, 2), 1, _I([[[2, 0]], [[1, 1]]]), name="3d"),
    ]


def _scatter_add_samples(rng):
    return [
        S(_x(rng, 3, 4), 0, _I([[2, 0, 1, 1], [0, 0, 2, 1]]), _x(rng, 2, 4), name="d0_repeat"),
        S(_x(rng, 3, 4), 1, _I([[0, 3], [1, 1], [2, 2]]), _x(rng, 3, 2), name="d1"),
        S(_x(rng, 3, 4), -1, _I([[1], [0]]), _x(rng, 2, 3), name="src_larger",
          torch_grad=False),
    ]


def _take_along_samples(rng):
    return [
        S(_x(rng, 3, 4), _I([[0, 3], [1, 1], [2, 2]]), name="d1", dim=1),
        S(_x(rng, 3, 4), _I([[2, 0, 1, 1]]), name="bcast_index", dim=0),
        S(_x(rng, 3, 1), _I([[0], [0], [0]]), name="same", dim=-1),
        S(_x(rng, 2, 3), _I([[5, 0], [2, 2]]), name="flat", dim=None),
    ]


def _index_select_samples(rng):
    return [S(_x(rng, 3, 4), 1, _I([3, 0, 3]), name="d1"),
            S(_x(rng, 3, 4), 0, _I([2]), name="d0"),
            S(_x(rng, 3, 4), -2, _I([1, 1, 0, 2]), name="neg"),
            S(_x(rng, 3, 4), 1, _I(2), name="0d_index")]


def _masked_fill_samples(rng):
    return [S(_x(rng, 2, 3), _x(rng, 2, 3) > 0, name="same", value=-2.0),
            S(_x(rng, 2, 3), _x(rng, 2, 1) > 0, name="bcast_mask", value=0.5),
            S(_x(rng, 2, 3), _x(rng) > -9, name="0d_mask", value=1.0)]


def _distinct(rng, *shape):
    """Values without ties in any float dtype (PyTorch orders tied values arbitrarily)."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) - 5) * 0.25


def _topk_samples(rng):
    return [S(_distinct(rng, 3, 5), 2, name="last"),
            S(_distinct(rng, 4, 3), 3, name="d0_smallest", dim=0, largest=False),
            S(_distinct(rng, 2, 3, 4), 1, name="3d_mid", dim=1),
            S(_distinct(rng, 6), 6, name="all"),
            S(_distinct(rng, 3, 4), 0, name="k0")]


_SCATTER_INDEX = _I([[2, 0, 1, 1], [0, 1, 2, 0]])  # no repeats: PyTorch keeps any one
_REPEAT_INDEX = _I([[2, 0, 1, 1], [0, 0, 2, 1], [2, 0, 1, 1]])


def _scatter_samples(rng):
    return [S(_x(rng, 3, 4), 0, _SCATTER_INDEX, _x(rng, 2, 4), name="d0"),
            S(_x(rng, 3, 4), 1, _I([[3, 0], [1, 2], [0, 1]]), _x(rng, 3, 2), name="d1"),
            S(_x(rng, 3, 4), -1, _I([[1], [0]]), _x(rng, 2, 3), name="src_larger",
              torch_grad=False)]


def _scatter_reduce_samples(rng):
    return [S(_x(rng, 3, 4), 0, _REPEAT_INDEX, _x(rng, 3, 4), name=f"{r}_{inc}", reduce=r,
              include_self=inc)
            for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)]


MATMUL_SHAPES = [
    ("vv", (3,), (3,)), ("mv", (2, 3), (3,)), ("vm", (3,), (3, 4)), ("mm", (2, 3), (3, 4)),
    ("bmm", (2, 2, 3), (2, 3, 4)), ("batched_m", (2, 2, 3), (3, 4)),
    ("m_batched", (2, 3), (2, 3, 2)), ("bv", (2, 2, 3), (3,)), ("vb", (3,), (2, 3, 4)),
    ("bcast_batch", (2, 1, 2, 3), (3, 3, 2)), ("one_vs_two", (1, 2, 3), (2, 3, 2)),
]


def _matmul_samples(rng):
    return [S(_x(rng, *a), _x(rng, *b), name=n) for n, a, b in MATMUL_SHAPES]


INDEX = [
    OpInfo("getitem_basic", lambda x, index: x[index], lambda x, index: x[index],
           _index_samples(BASIC), dtypes=ALL),
    OpInfo("getitem_negative_step", lambda x: x[::-1, 1::-2], None,
           lambda rng: [S(_x(rng, 3, 4), name="2d")],
           ref=lambda x: x[::-1, 1::-2]),
    OpInfo("getitem_advanced", lambda x, index: x[index], _getitem_torch,
           _index_samples(ADVANCED), dtypes=ALL),
    OpInfo("getitem_tensor_index", lambda x, index: x[index], _getitem_torch,
           _index_samples(ADVANCED[1:], tensor_index=True)),
    OpInfo("setitem", _setitem(ember), _setitem(torch), _setitem_samples, dtypes=FLOAT),
    OpInfo("gather", ember.gather, torch.gather, _gather_samples, dtypes=ALL),
    OpInfo("gather_method", lambda x, d, i: x.gather(d, i), lambda x, d, i: x.gather(d, i),
           lambda rng: _gather_samples(rng)[:1]),
    OpInfo("scatter_add", ember.scatter_add, lambda x, d, i, s: torch.scatter_add(
        x, d, i, s), _scatter_add_samples, dtypes=ALL),
    OpInfo("index_select", ember.index_select, torch.index_select, _index_select_samples,
           dtypes=ALL),
    OpInfo("take_along_dim", ember.take_along_dim, torch.take_along_dim, _take_along_samples,
           dtypes=ALL),
    OpInfo("masked_fill", ember.masked_fill, lambda x, m, value: x.masked_fill(m, value),
           _masked_fill_samples, dtypes=FLOAT),
    OpInfo("topk", ember.topk, torch.topk, _topk_samples),
    OpInfo("topk_method", lambda x, k: x.topk(k, largest=False), lambda x, k: x.topk(
        k, largest=False), lambda rng: [S(_distinct(rng, 2, 5), 3, name="2d")]),
    OpInfo("kthvalue", ember.kthvalue, torch.kthvalue, lambda rng: [
        S(_distinct(rng, 3, 5), 2, name="last"),
        S(_distinct(rng, 4, 3), 4, name="d0_keepdim", dim=0, keepdim=True)]),
    OpInfo("scatter", ember.scatter, torch.scatter, _scatter_samples, dtypes=ALL),
    OpInfo("scatter_value", lambda x, d, i: x.scatter(d, i, 2.0),
           lambda x, d, i: x.scatter(d, i, 2.0),
           lambda rng: [S(_x(rng, 3, 4), 0, _REPEAT_INDEX, name="repeat")]),
    OpInfo("scatter_reduce", ember.scatter_reduce, torch.scatter_reduce,
           _scatter_reduce_samples, tol={"float16": (5e-3, 5e-3)}),
    OpInfo("masked_select", ember.masked_select, torch.masked_select, lambda rng: [
        S(_x(rng, 3, 4), _x(rng, 3, 4) > 0, name="same"),
        S(_x(rng, 3, 4), _x(rng, 1, 4) > 0, name="bcast_mask")], dtypes=ALL),
    OpInfo("bucketize", ember.bucketize, torch.bucketize, lambda rng: [
        S(_x(rng, 3, 4), np.sort(_x(rng, 5)), name="left"),
        S(_I([[1.0, 2.5], [3.0, 0.0]]), _I([1.0, 2.0, 3.0]), name="right_ties", right=True)],
           grad=False),
    OpInfo("one_hot", ember.one_hot, tF.one_hot, lambda rng: [
        S(_I([0, 3, 1, 1]), name="1d", num_classes=5),
        S(_I([[0, 2], [1, 0]]), name="2d_inferred"),
        S(_I(2), name="0d", num_classes=3)], grad=False),
]

PRODUCTS = [
    OpInfo("matmul", ember.matmul, torch.matmul, _matmul_samples,
           dtypes=FLOAT + ("int32", "int64")),
    OpInfo("matmul_operator", lambda a, b: a @ b, lambda a, b: a @ b,
           lambda rng: _matmul_samples(rng)[3:5]),
    OpInfo("dot", ember.dot, torch.dot, lambda rng: [S(_x(rng, 4), _x(rng, 4), name="1d")],
           dtypes=FLOAT),
    OpInfo("outer", ember.outer, torch.outer, lambda rng: [
        S(_x(rng, 3), _x(rng, 2), name="1d")], dtypes=FLOAT + ("int64",)),
    OpInfo("add_n", lambda *xs: ember.add_n(list(xs)), lambda *xs: sum(xs[1:], xs[0]),
           lambda rng: [S(_x(rng, 2, 3), _x(rng, 2, 3), _x(rng, 2, 3), name="three"),
                        S(_x(rng, 2), name="one")], dtypes=FLOAT + ("int64",)),
]
