"""Cost declarations: FLOPs and bytes of ops against hand-computed values, and the same
numbers seen through the profiler (specs taken from the real arguments)."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.ops.registry import REGISTRY, backward_cost, einsum_flops

F32 = np.dtype("float32")
F64 = np.dtype("float64")


def cost(name, outs, ins, **attrs):
    spec = [None if s is None else (s[0], s[1]) for s in ins]
    return REGISTRY[name].cost([(o[0], o[1]) for o in outs], spec, attrs)


def one_forward(fn, *args):
    with ember.profiler.profile(peaks={"gflops": 1, "gbs": 1}) as prof:
        fn(*args)
    fwd = [e for e in prof.events if e.phase == "forward"]
    assert len(fwd) == 1, fwd
    return fwd[0]


def test_matmul_2d_and_batched():
    # (8, 32) @ (32, 16): 8*16 outputs, each 32 multiplies and 32 adds
    assert cost("matmul", [((8, 16), F32)], [((8, 32), F32), ((32, 16), F32)]) == (
        2 * 8 * 16 * 32, 4 * (8 * 32 + 32 * 16 + 8 * 16))
    # batched (5, 3, 4) @ (4, 6) -> (5, 3, 6)
    assert cost("matmul", [((5, 3, 6), F64)], [((5, 3, 4), F64), ((4, 6), F64)]) == (
        2 * 5 * 3 * 6 * 4, 8 * (60 + 24 + 90))
    e = one_forward(ember.matmul, ember.randn(8, 32), ember.randn(32, 16))
    assert (e.name, e.flops, e.bytes) == ("matmul", 8192, 4 * (256 + 512 + 128))


def test_matmul_vector():
    assert cost("matmul", [((3,), F32)], [((3, 5), F32), ((5,), F32)])[0] == 2 * 3 * 5


def test_conv2d_with_and_without_bias_stride_groups():
    # x (2, 4, 9, 9), w (6, 2, 3, 3), groups 2, stride 2 -> out (2, 6, 4, 4)
    x, w, b = ember.randn(2, 4, 9, 9), ember.randn(6, 2, 3, 3), ember.randn(6)
    e = one_forward(lambda: F.conv2d(x, w, b, stride=2, groups=2))
    n_out = 2 * 6 * 4 * 4
    assert e.flops == n_out * (2 * 2 * 3 * 3 + 1)
    assert e.bytes == 4 * (2 * 4 * 81 + 6 * 2 * 9 + 6 + n_out)
    e = one_forward(lambda: F.conv2d(x, w, None, stride=2, groups=2))
    assert e.flops == n_out * 2 * 2 * 3 * 3
    assert e.bytes == 4 * (2 * 4 * 81 + 6 * 2 * 9 + n_out)


def test_conv2d_backward_products():
    x = ember.randn(2, 3, 8, 8, requires_grad=True)
    w = ember.randn(5, 3, 3, 3, requires_grad=True)
    b = ember.randn(5, requires_grad=True)
    with ember.profiler.profile(peaks={"gflops": 1, "gbs": 1}) as prof:
        F.conv2d(x, w, b).sum().backward()
    bwd = {e.name: e for e in prof.events if e.phase == "backward"}
    n_out = 2 * 5 * 6 * 6
    # input and weight gradients: one product of the forward's size each; bias: a sum
    assert bwd["conv2d"].flops == 2 * (n_out * 2 * 27) + n_out


def test_conv_transpose2d_and_weight_grad():
    # x (1, 4, 5, 5), w (4, 3, 3, 3): each input element scatters 3*3*3 products
    assert cost("conv_transpose2d", [((1, 3, 7, 7), F32)],
                [((1, 4, 5, 5), F32), ((4, 3, 3, 3), F32), None])[0] == 2 * 100 * 27
    # weight gradient (O, C, kh, kw) = (5, 3, 3, 3) from g (2, 5, 6, 6)
    assert cost("conv2d_weight", [((5, 3, 3, 3), F32)],
                [((2, 3, 8, 8), F32), ((2, 5, 6, 6), F32)])[0] == 2 * 135 * 2 * 36


def test_pooling():
    x = ember.randn(2, 3, 8, 8)
    e = one_forward(lambda: F.max_pool2d(x, 2))
    assert e.flops == 2 * 3 * 4 * 4 * 4
    assert e.bytes == 4 * (2 * 3 * 64 + 2 * 3 * 16)
    e = one_forward(lambda: F.avg_pool2d(x, 3, stride=1))
    assert e.flops == 2 * 3 * 6 * 6 * 9


def test_pooling3d_primitives():
    # max_pool3d / avg_pool3d of (2, 3, 4, 6, 6) with a 2x3x3 window: kd·kh·kw per output
    x, y = ((2, 3, 4, 6, 6), F32), ((2, 3, 2, 2, 2), F32)
    for op in ("max_pool3d", "avg_pool3d"):
        assert cost(op, [y], [x], kernel=(2, 3, 3))[0] == 2 * 3 * 8 * 18
    assert cost("avg_pool3d_grad", [x], [y], kernel=(2, 3, 3))[0] == 2 * 3 * 8 * 18


def test_elementwise_with_broadcast():
    a, b = ember.randn(4, 5), ember.randn(5)
    e = one_forward(ember.add, a, b)
    assert (e.flops, e.bytes) == (20, 4 * (20 + 5 + 20))
    e = one_forward(ember.exp, ember.randn(3, 7, dtype=ember.float64))
    assert (e.flops, e.bytes) == (21, 8 * 42)


def test_reductions():
    x = ember.randn(6, 10)
    e = one_forward(lambda: x.sum(dim=1))
    assert (e.flops, e.bytes) == (60, 4 * (60 + 6))
    e = one_forward(lambda: x.mean())
    assert (e.flops, e.bytes) == (60, 4 * 61)
    e = one_forward(lambda: x.amax(dim=0))
    assert (e.flops, e.bytes) == (60, 4 * 70)


def test_views_are_free_and_copies_move_bytes():
    x = ember.randn(4, 6)
    e = one_forward(lambda: x.reshape(6, 4))
    assert (e.flops, e.bytes) == (0, 0)
    e = one_forward(lambda: ember.cat([x, x]))
    assert (e.flops, e.bytes) == (0, 4 * (24 + 24 + 48))


def test_linear_softmax_embedding_einsum():
    x, w, b = ember.randn(7, 5), ember.randn(3, 5), ember.randn(3)
    e = one_forward(lambda: F.linear(x, w, b))
    assert e.flops == 7 * 3 * (2 * 5 + 1)
    e = one_forward(lambda: F.softmax(x, dim=1))
    assert e.flops == 5 * 35
    table = ember.randn(10, 4)
    idx = ember.tensor([1, 2, 3], dtype=ember.int64)
    e = one_forward(lambda: F.embedding(idx, table))
    assert (e.flops, e.bytes) == (0, 3 * 8 + 2 * 3 * 4 * 4)
    assert einsum_flops("ij,jk->ik", [(4, 5), (5, 6)]) == 2 * 4 * 5 * 6
    assert einsum_flops("bij,bjk->bik", [(2, 4, 5), (2, 5, 6)]) == 2 * 2 * 4 * 5 * 6
    assert einsum_flops("...ij,...jk->...ik", [(3, 4, 5), (3, 5, 6)]) == 2 * 3 * 4 * 5 * 6
    assert einsum_flops("ij->ji", [(4, 5)]) == 20


def test_decomposition_counts():
    # LU solve of a 4x4 system with 2 right-hand sides: 2/3 n^3 + 2 n^2 k
    assert cost("solve", [((4, 2), F64)], [((4, 4), F64), ((4, 2), F64)])[0] == round(
        2 / 3 * 64 + 2 * 16 * 2)
    assert cost("inv", [((3, 10, 10), F64)], [((3, 10, 10), F64)])[0] == 3 * 2 * 1000


def test_backward_cost_default_counts_needed_inputs():
    specs = [((8, 32), F32), ((32, 16), F32)]
    out = [((8, 16), F32)]
    both = backward_cost(REGISTRY["matmul"], out, specs, {}, (True, True))
    one = backward_cost(REGISTRY["matmul"], out, specs, {}, (False, True))
    assert both[0] == 2 * 8192 and one[0] == 8192
    assert one[1] == 4 * (128 + 256 + 512 + 512)


def test_every_registered_op_declares_a_callable_cost():
    for name, op in REGISTRY.items():
        assert callable(op.cost), name


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4)])
def test_default_cost_counts_outputs(shape):
    n = int(np.prod(shape))
    assert cost("neg", [(shape, F32)], [(shape, F32)]) == (n, 8 * n)
