"""Creation functions against PyTorch: dtype inference, filled tensors, ranges, identity,
``*_like``, and random sampling with seeded reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.errors import AutogradError, DTypeError

from .harness import assert_close


def _same(e, t):
    """Same dtype name, shape and values (bit for bit for integers)."""
    assert e.dtype.name == str(t.dtype).removeprefix("torch."), (e.dtype, t.dtype)
    assert tuple(e.shape) == tuple(t.shape)
    want = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
    assert_close(np.asarray(e.data).astype(want.dtype), want, "float64")


@pytest.mark.parametrize("data", [
    1.0, 1, True, -7, 2**40, [1.0, 2], [1, 2], [True, False], [[1, 2.5], [3, 4]], [],
    [1, True], [[[]]], np.float64(1.5), np.float32(2.0), np.int32(3), np.array([1, 2], np.int32),
    np.array([1.0, 2.0]), np.array([1, 0], np.uint8), np.array([True]), (1.0, 2.0),
    [np.float32(1.0), np.float32(2.0)], np.array(3.5, np.float16),
], ids=repr)
def test_tensor_dtype_inference(data):
    _same(ember.tensor(data), torch.tensor(data))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "int8", "int32", "uint8",
                                   "bool"])
@pytest.mark.parametrize("data", [[1.0, -2.7, 0.0], 3.7, [[1, 2], [3, 0]]], ids=repr)
def test_tensor_explicit_dtype(data, dtype):
    if dtype == "uint8" and data == [1.0, -2.7, 0.0]:
        data = [1.0, 2.7, 0.0]  # casting negative floats to uint8 is undefined in C
    _same(ember.tensor(data, dtype=dtype), torch.tensor(data, dtype=getattr(torch, dtype)))


def test_tensor_from_tensors_keeps_their_dtype():
    a = ember.tensor([ember.tensor(1.0, dtype="float64"), ember.tensor(2.0, dtype="float64")])
    assert a.dtype is ember.float64
    assert ember.tensor([ember.tensor(1), ember.tensor(2)]).dtype is ember.int64


def test_tensor_copies_and_from_numpy_shares():
    arr = np.arange(3.0)
    t, shared = ember.tensor(arr), ember.from_numpy(arr)
    arr[0] = 9.0
    assert t.tolist() == [0.0, 1.0, 2.0] and shared.tolist() == [9.0, 1.0, 2.0]
    assert ember.tensor(t).data is not t.data
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray"):
        ember.from_numpy([1.0])
    with pytest.raises(TypeError, match="cannot make a tensor from data of type"):
        ember.tensor(["a", "b"])


def test_requires_grad_only_for_floats():
    assert ember.tensor([1.0], requires_grad=True).requires_grad
    assert ember.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(AutogradError, match="only floating-point tensors can require grad"):
        ember.tensor([1, 2], requires_grad=True)


FILLED = [  # (ember call, torch call) with the same arguments
    ("zeros", (2, 3), {}), ("zeros", ((2, 3),), {}), ("zeros", ([2, 3],), {"dtype": "int32"}),
    ("zeros", ((),), {}), ("zeros", (0, 3), {}), ("ones", (3,), {"dtype": "bool"}),
    ("ones", (2, 2), {"dtype": "bfloat16"}), ("ones", (1,), {"dtype": "float16"}),
    ("full", ((2,), 3), {}), ("full", ((2,), 3.5), {}), ("full", ((2, 1), True), {}),
    ("full", ((2,), 3), {"dtype": "float64"}), ("full", ((2,), float("nan")), {}),
    ("arange", (5,), {}), ("arange", (1, 4), {}), ("arange", (0, 1, 0.25), {}),
    ("arange", (5.0,), {}), ("arange", (10, 0, -3), {}), ("arange", (0, 5), {"dtype": "float64"}),
    ("arange", (-1.0, 1.0, 0.1), {}), ("arange", (1, 2.5, 0.5), {"dtype": "int32"}),
    ("arange", (3,), {"dtype": "float16"}),
    ("linspace", (0, 1, 5), {}), ("linspace", (-2, 2, 1), {}), ("linspace", (0, 1, 0), {}),
    ("linspace", (0, 10, 4), {"dtype": "int64"}), ("linspace", (1, 2, 3), {"dtype": "float64"}),
    ("eye", (3,), {}), ("eye", (2, 4), {}), ("eye", (3,), {"dtype": "int64"}), ("eye", (0,), {}),
]


@pytest.mark.parametrize("name,args,kwargs", FILLED, ids=lambda v: repr(v))
def test_filled_and_ranges(name, args, kwargs):
    tkw = {k: getattr(torch, v) if k == "dtype" else v for k, v in kwargs.items()}
    _same(getattr(ember, name)(*args, **kwargs), getattr(torch, name)(*args, **tkw))


@pytest.mark.parametrize("dtype", [None, "float64", "int32", "bool"])
@pytest.mark.parametrize("like", ["float64", "int64", "float16"])
def test_like_functions(like, dtype):
    x = ember.ones(2, 3, dtype=like)
    tx = torch.ones(2, 3, dtype=getattr(torch, like))
    td = getattr(torch, dtype) if dtype else None
    _same(ember.zeros_like(x, dtype=dtype), torch.zeros_like(tx, dtype=td))
    _same(ember.ones_like(x, dtype=dtype), torch.ones_like(tx, dtype=td))
    _same(ember.full_like(x, 7, dtype=dtype), torch.full_like(tx, 7, dtype=td))
    e = ember.empty_like(x, dtype=dtype)
    t = torch.empty_like(tx, dtype=td)
    assert e.dtype.name == str(t.dtype)[6:] and e.shape == tuple(t.shape)
    e2 = ember.empty(4, 1, dtype=dtype)
    assert e2.shape == (4, 1) and e2.dtype.name == (dtype or "float32")


def test_full_like_float_value_in_int_tensor_truncates():
    _same(ember.full_like(ember.ones(2, dtype="int64"), 2.7),
          torch.full_like(torch.ones(2, dtype=torch.int64), 2.7))


RANDOM = [
    ("rand", lambda: ember.rand(2, 3)), ("rand_tuple", lambda: ember.rand((4,))),
    ("randn", lambda: ember.randn(3, dtype="float64")), ("randn_0d", lambda: ember.randn(())),
    ("randint", lambda: ember.randint(0, 5, (3, 2))), ("randint_high", lambda: ember.randint(
        7, size=(4,))), ("normal", lambda: ember.normal(2.0, 0.5, (3,))),
    ("uniform", lambda: ember.uniform(-1.0, 1.0, (2, 2))), ("randperm", lambda: ember.randperm(6)),
    ("normal_tensor", lambda: ember.normal(ember.zeros(2, 3), ember.ones(3))),
]


@pytest.mark.parametrize("name,fn", RANDOM, ids=[r[0] for r in RANDOM])
def test_manual_seed_reproducibility(name, fn):
    ember.manual_seed(1234)
    a = fn()
    b = fn()
    ember.manual_seed(1234)
    c = fn()
    assert np.array_equal(a.numpy(), c.numpy())
    assert a.numel() <= 1 or not np.array_equal(a.numpy(), b.numpy())
    g = ember.Generator().manual_seed(1234)
    state = ember.get_rng_state()
    d = fn()
    ember.set_rng_state(state)
    assert np.array_equal(d.numpy(), fn().numpy())
    assert g.initial_seed() == 1234


def test_generator_argument_is_independent_of_the_global_one():
    g1, g2 = ember.Generator(seed=7), ember.Generator(seed=7)
    ember.manual_seed(0)
    a = ember.randn(5, generator=g1)
    ember.randn(5)
    assert np.array_equal(a.numpy(), ember.randn(5, generator=g2).numpy())
    assert not np.array_equal(ember.randn(5, generator=g1).numpy(), a.numpy())


def test_random_distributions():
    ember.manual_seed(0)
    u = ember.rand(20000).numpy()
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.std() - 12 ** -0.5) < 0.01
    n = ember.randn(20000, dtype="float64").numpy()
    assert n.dtype == np.float64 and abs(n.mean()) < 0.03 and abs(n.std() - 1.0) < 0.03
    m = ember.normal(3.0, 0.5, (20000,)).numpy()
    assert abs(m.mean() - 3.0) < 0.02 and abs(m.std() - 0.5) < 0.02
    v = ember.uniform(-2.0, 1.0, (20000,)).numpy()
    assert v.min() >= -2.0 and v.max() < 1.0 and abs(v.mean() + 0.5) < 0.03
    r = ember.randint(-3, 4, (5000,))
    assert r.dtype is ember.int64 and set(np.unique(r.numpy())) == set(range(-3, 4))
    assert ember.randint(0, 5, (3,), dtype="int32").dtype is ember.int32
    assert sorted(ember.randperm(7).tolist()) == list(range(7))
    t = ember.normal(ember.tensor([[0.0], [100.0]], dtype="float64"), 1e-3, size=None)
    assert t.dtype is ember.float64 and t.shape == (2, 1)
    assert abs(t.numpy()[1, 0] - 100.0) < 0.01


def test_random_dtype_and_requires_grad():
    assert ember.rand(2, dtype="float16").dtype is ember.float16
    assert ember.randn(2, dtype="bfloat16").dtype is ember.bfloat16
    assert ember.rand(2, requires_grad=True).requires_grad
    for fn in (lambda: ember.rand(3, dtype="int64"), lambda: ember.randn(2, dtype="bool"),
               lambda: ember.normal(0.0, 1.0, (2,), dtype="int32")):
        with pytest.raises(DTypeError, match=r"(rand|randn|normal): samples real numbers"):
            fn()
