"""Bad input raises a clear error that names the op, the shapes and what to do."""

from __future__ import annotations

import re

import pytest

import ember
from ember.errors import DTypeError, EmberIndexError, ShapeError

A = ember.ones(2, 3)
B = ember.ones(4)


@pytest.mark.parametrize("name,fn", [
    ("add", lambda: A + B), ("sub", lambda: ember.sub(A, B)), ("mul", lambda: A * B),
    ("div", lambda: A / B), ("pow", lambda: A ** B), ("maximum", lambda: ember.maximum(A, B)),
    ("minimum", lambda: ember.minimum(A, B)), ("remainder", lambda: A % B),
    ("eq", lambda: A == B), ("lt", lambda: A < B), ("logical_and", lambda: ember.logical_and(
        A > 0, B > 0)), ("where", lambda: ember.where(A > 0, A, B)),
])
def test_broadcast_error_names_op_and_shapes(name, fn):
    with pytest.raises(ShapeError, match=rf"^{name}: .*\(2, ?3\).*\(4,\)") as info:
        fn()
    assert "broadcast" in str(info.value)


def test_broadcast_error_int_tensors():
    with pytest.raises(ShapeError, match=r"add: .*\(2, ?3\).*\(4,\)"):
        ember.zeros(2, 3, dtype="int64") + ember.zeros(4, dtype="int32")


@pytest.mark.parametrize("a,b,inner", [
    ((2, 3), (2, 3), "3 != 2"), ((3,), (4,), "3 != 4"), ((2, 2, 3), (4, 2), "3 != 4"),
    ((5,), (3, 2), "5 != 3"), ((2, 3), (4,), "3 != 4"),
])
def test_matmul_inner_dimension_mismatch(a, b, inner):
    with pytest.raises(ShapeError, match=rf"matmul: inner dimensions differ: "
                                         rf"{re.escape(str(a))} @ {re.escape(str(b))} "
                                         rf"\({inner}\)"):
        ember.ones(*a) @ ember.ones(*b)


def test_matmul_0d_operand():
    with pytest.raises(ShapeError, match=r"matmul: both operands need at least 1 dimension"):
        ember.matmul(ember.tensor(2.0), ember.ones(3))


def test_dot_needs_vectors():
    with pytest.raises(ShapeError, match=r"dot: expects two 1-d tensors, got \(2, 3\)"):
        ember.dot(A, B)


@pytest.mark.parametrize("fn,pattern", [
    (lambda: A[5], r"get_item: index 5 is out of bounds for axis 0 with size 2"),
    (lambda: A[:, -4], r"get_item: index -4 is out of bounds for axis 1 with size 3"),
    (lambda: A[[0, 3]], r"index: index 3 is out of bounds for axis 0 with size 2"),
    (lambda: A[ember.tensor([0, 3])], r"index: index 3 is out of bounds"),
    (lambda: ember.gather(A, 1, ember.tensor([[5]])), r"gather: index out of range for dim 1 "
                                                       r"of size 3"),
    (lambda: ember.index_select(A, 0, ember.tensor([2])), r"index_select: index 2 is out of "
                                                          r"range for dim 0 of size 2"),
    (lambda: ember.scatter_add(A, 0, ember.tensor([[5, 0, 0]]), ember.ones(1, 3)),
     r"scatter_add: index 5 is out of bounds"),
    (lambda: ember.one_hot(ember.tensor([3]), 2), r"one_hot: class values must lie in \[0, 2\)"),
])
def test_index_out_of_range(fn, pattern):
    with pytest.raises(EmberIndexError, match=pattern) as info:
        fn()
    assert isinstance(info.value, IndexError)


def test_setitem_index_out_of_range():
    x = ember.zeros(2, 3)
    with pytest.raises(IndexError, match=r"index 4 is out of bounds"):
        x[4] = 1.0


def test_float_index_is_rejected():
    with pytest.raises(EmberIndexError, match=r"must be integer or bool, got float32"):
        A[ember.tensor([0.0, 1.0])]


@pytest.mark.parametrize("fn", [
    lambda: ember.zeros(2, dtype="float33"), lambda: A.to("flaot32"),
    lambda: ember.tensor([1.0], dtype="complex64"), lambda: ember.arange(3, dtype="int128"),
    lambda: ember.astype(A, "half_float"),
])
def test_unknown_dtype_string(fn):
    with pytest.raises(DTypeError, match=r"unknown dtype '\w+'; choose one of bool, uint8"):
        fn()


@pytest.mark.parametrize("shape,pattern", [
    ((4, 2), r"cannot reshape \(2, 3\) \(6 elements\) into \(4, 2\) \(8 elements\)"),
    ((-1, 4), r"cannot reshape \(2, 3\) \(6 elements\) into \(-1, 4\)"),
    ((-1, -1), r"only one dimension can be -1"),
    ((0, -1), r"cannot reshape \(2, 3\)"),
])
def test_reshape_incompatible_size(shape, pattern):
    with pytest.raises(ShapeError, match=rf"reshape: {pattern}"):
        A.reshape(*shape)


@pytest.mark.parametrize("mode,pad,limit", [
    ("reflect", (3, 0), 2), ("reflect", (0, 5), 2), ("symmetric", (4, 0), 3),
    ("circular", (0, 4), 3),
])
def test_pad_larger_than_input(mode, pad, limit):
    with pytest.raises(ShapeError, match=rf"pad: {mode} padding of \({pad[0]}, {pad[1]}\) on "
                                         rf"dim 1 needs each side <= {limit} for a dimension "
                                         rf"of size 3 \(shape \(2, 3\)\)"):
        ember.pad(A, pad, mode=mode)


def test_pad_bad_arguments():
    with pytest.raises(ValueError, match=r"pad: unknown mode 'wrap'; choose one of constant"):
        ember.pad(A, (1, 1), mode="wrap")
    with pytest.raises(ShapeError, match=r"pad: pad must hold \(left, right\) pairs"):
        ember.pad(A, (1, 1, 1))
    with pytest.raises(ShapeError, match=r"for at most 2 dimensions"):
        ember.pad(A, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"pad: negative padding"):
        ember.pad(A, (-1, 1))


@pytest.mark.parametrize("fn,pattern", [
    (lambda: ember.cat([A, B]), r"concat: tensor 1 has shape \(4,\), tensor 0 has \(2, 3\)"),
    (lambda: ember.stack([A, B]), r"stack: all tensors must have the same shape"),
    (lambda: ember.broadcast_to(A, (3, 3)), r"broadcast_to: cannot broadcast \(2, 3\) to "
                                            r"\(3, 3\)"),
    (lambda: ember.broadcast_to(B, (-1, 4)), r"broadcast_to: -1 \(keep the size\) is not "
                                             r"allowed in a new leading dimension"),
    (lambda: ember.flatten(ember.ones(2, 3, 4), 2, 1), r"flatten: start_dim 2 comes after "
                                                        r"end_dim 1"),
    (lambda: ember.sum(A, 2), r"sum: dim 2 is out of range for a tensor with 2 dimension"),
    (lambda: ember.amax(A, (0, -3)), r"amax: dim -3 is out of range"),
    (lambda: A.transpose(0, 2), r"transpose: dim 2 is out of range"),
    (lambda: A.permute(0, 0), r"permute: \(0, 0\) is not a permutation"),
    (lambda: ember.split(A, [1, 1], dim=1), r"split: sizes \[1, 1\] add up to 2, but dim 1 "
                                            r"has size 3"),
    (lambda: ember.add_n([A, B]), r"add_n: all tensors must have the same shape"),
    (lambda: ember.outer(A, B), r"outer: expects two 1-d tensors"),
    (lambda: A.repeat(2), r"repeat: give at least 2 repeat counts"),
    (lambda: ember.gather(A, 1, ember.ones(2, dtype="int64")), r"gather: index has 1 "
                                                                r"dimensions"),
])
def test_shape_errors(fn, pattern):
    with pytest.raises(ShapeError, match=pattern):
        fn()


def test_bad_rounding_mode():
    with pytest.raises(ValueError, match=r"div: rounding_mode must be None, 'floor' or 'trunc'"):
        ember.div(A, 2.0, rounding_mode="round")


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match=r"clamp: give at least one of min and max"):
        ember.clamp(A)
