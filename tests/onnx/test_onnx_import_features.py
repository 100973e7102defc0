"""ONNX import of op features beyond the common case, each checked against onnxruntime:
ConvTranspose (1-d, output_shape, auto_pad, output_padding, asymmetric pads), MaxPool's
Indices output, AveragePool with dilations and large or asymmetric pads, BatchNormalization
in training mode, Pad with negative pads; and the clear errors for what ember lacks."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.onnx

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

RTOL, ATOL = 1e-5, 1e-5


def _model(op, x, params=(), consts=(), outputs=1, opset=17, **attrs):
    """A one-node model: ``x`` the graph input, ``params`` float initializers (which ember
    makes parameters), ``consts`` further initializers (shapes, pads)."""
    names = ["x"] + [f"p{i}" for i in range(len(params))] + [f"c{i}" for i in range(len(consts))]
    outs = [f"y{i}" for i in range(outputs)]
    node = helper.make_node(op, names, outs, **attrs)
    inits = [numpy_helper.from_array(a, f"p{i}") for i, a in enumerate(params)]
    inits += [numpy_helper.from_array(a, f"c{i}") for i, a in enumerate(consts)]
    ttype = helper.np_dtype_to_tensor_dtype(x.dtype)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", ttype, x.shape)],
                              [helper.make_empty_tensor_value_info(o) for o in outs],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


def _check(model, x):
    """ember's import equals onnxruntime (values, shapes, dtypes); returns ember's module."""
    want = _ort(model, x)
    module = ember.onnx.load(model)
    got = module(ember.from_numpy(x))
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = g.detach().numpy()
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
        else:
            np.testing.assert_array_equal(g, w)
    return module


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _check_adjoint(module, x):
    """For an op linear in ``x``: the gradient is the adjoint, <f(x), r> = <x, f^T(r)>."""
    xt = ember.from_numpy(x).requires_grad_()
    y = module(xt)
    r = _rand(*y.shape, seed=7)
    (y * ember.from_numpy(r)).sum().backward()
    lhs = float((y.detach().numpy().astype(np.float64) * r).sum())
    rhs = float((x.astype(np.float64) * xt.grad.numpy()).sum())
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs))


# ----------------------------------------------------------------------------- ConvTranspose


CONV_T = {
    "1d": ((2, 3, 5), (3, 2, 3), dict(strides=[2])),
    "1d_asym_pads_dil_outpad": ((1, 2, 6), (2, 3, 3),
                                dict(strides=[3], pads=[2, 0], dilations=[2],
                                     output_padding=[1])),
    "1d_same_upper": ((1, 2, 5), (2, 2, 4), dict(strides=[2], auto_pad="SAME_UPPER")),
    "2d_asym_pads": ((2, 2, 4, 3), (2, 3, 3, 2), dict(strides=[2, 1], pads=[0, 1, 2, 0])),
    "2d_asym_pads_group": ((1, 4, 3, 3), (4, 1, 3, 3),
                           dict(strides=[2, 2], pads=[1, 0, 0, 2], group=2)),
    "2d_output_padding": ((1, 2, 3, 4), (2, 2, 3, 3),
                          dict(strides=[3, 2], output_padding=[2, 1], pads=[1, 1, 0, 1])),
    "2d_same_upper": ((1, 1, 3, 3), (1, 2, 3, 3), dict(strides=[2, 2], auto_pad="SAME_UPPER")),
    "2d_same_lower": ((1, 1, 3, 3), (1, 2, 3, 3), dict(strides=[2, 2], auto_pad="SAME_LOWER")),
    "2d_same_upper_dil": ((1, 2, 4, 3), (2, 2, 2, 3),
                          dict(strides=[1, 2], dilations=[2, 1], auto_pad="SAME_UPPER")),
    "2d_valid": ((1, 2, 3, 4), (2, 2, 3, 2), dict(strides=[2, 1], auto_pad="VALID")),
    "2d_output_shape_crop": ((1, 1, 3, 3), (1, 2, 3, 3), dict(output_shape=[4, 3])),
    "2d_output_shape_strided": ((1, 2, 3, 3), (2, 1, 3, 3),
                                dict(strides=[3, 2], output_shape=[9, 6])),
    "2d_output_shape_same_upper": ((1, 1, 3, 3), (1, 2, 3, 3),
                                   dict(output_shape=[4, 3], auto_pad="SAME_UPPER")),
    "2d_kernel_shape": ((1, 1, 3, 3), (1, 2, 3, 3),
                        dict(strides=[3, 2], kernel_shape=[3, 3], output_padding=[1, 1],
                             output_shape=[10, 8])),
}


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("case", sorted(CONV_T))
def test_conv_transpose_matches_onnxruntime(case, bias):
    xs, ws, attrs = CONV_T[case]
    x, w = _rand(*xs), _rand(*ws, seed=1)
    params = [w]
    if bias:
        params.append(_rand(ws[1] * attrs.get("group", 1), seed=2))
    module = _check(_model("ConvTranspose", x, params, **attrs), x)
    if not bias:
        _check_adjoint(module, x)


def test_conv_transpose_weight_gradient_through_the_crop():
    # pads [0, 1, 2, 0]: ember computes the full output and slices it; the weight's gradient
    # equals PyTorch's on the same slice of its full output.
    torch = pytest.importorskip("torch")
    x, w, b = _rand(1, 2, 4, 3), _rand(2, 3, 3, 2, seed=1), _rand(3, seed=2)
    module = ember.onnx.load(_model("ConvTranspose", x, [w, b], strides=[2, 1],
                                    pads=[0, 1, 2, 0]))
    y = module(ember.from_numpy(x))
    r = _rand(*y.shape, seed=3)
    (y * ember.from_numpy(r)).sum().backward()
    tw = torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    full = torch.nn.functional.conv_transpose2d(torch.tensor(x), tw, tb, stride=(2, 1))
    ty = full[:, :, 0:full.shape[2] - 2, 1:]
    (ty * torch.tensor(r)).sum().backward()
    grads = {p.shape: p.grad.numpy() for p in module.parameters()}
    np.testing.assert_allclose(grads[w.shape], tw.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(grads[b.shape], tb.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_conv_transpose_kernel_shape_must_match_the_weight():
    x, w = _rand(1, 1, 3, 3), _rand(1, 1, 3, 3)
    module = ember.onnx.load(_model("ConvTranspose", x, [w], kernel_shape=[2, 2]))
    with pytest.raises(ValueError, match=r"kernel_shape \[2, 2\] does not match"):
        module(ember.from_numpy(x))


def test_conv_and_conv_transpose_3d_match_onnxruntime():
    x, w, b = _rand(1, 4, 3, 4, 3), _rand(4, 3, 2, 3, 2), _rand(6)
    _check(_model("ConvTranspose", x, [w, b], strides=[2, 1, 2], pads=[1, 0, 1, 0, 1, 0],
                  output_padding=[1, 0, 0], group=2), x)
    _check(_model("Conv", x, [_rand(6, 2, 2, 3, 2), b], strides=[1, 2, 1],
                  pads=[1, 0, 1, 0, 2, 1], dilations=[2, 1, 1], group=2), x)


# ----------------------------------------------------------------------------- MaxPool


MAX_POOL = {
    "default": dict(kernel_shape=[2, 2]),
    "strides": dict(kernel_shape=[3, 3], strides=[2, 2]),
    "pads": dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    "asym_pads": dict(kernel_shape=[3, 2], pads=[2, 0, 0, 1], strides=[1, 2]),
    "dilations": dict(kernel_shape=[2, 2], dilations=[2, 2], strides=[1, 1]),
    "ceil": dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    "ceil_pads_dil": dict(kernel_shape=[2, 3], strides=[2, 2], pads=[1, 0, 0, 1],
                          dilations=[1, 2], ceil_mode=1),
    "same_upper": dict(kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    "same_lower": dict(kernel_shape=[3, 2], strides=[2, 1], auto_pad="SAME_LOWER"),
    # (a last window that would start in the trailing pad: ONNX drops it)
    "ceil_trailing_pad": dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1],
                              ceil_mode=1),
}


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("case", sorted(MAX_POOL))
def test_max_pool_indices_match_onnxruntime(case, storage_order):
    x = _rand(2, 3, 7, 6)
    model = _model("MaxPool", x, outputs=2, storage_order=storage_order, **MAX_POOL[case])
    module = _check(model, x)
    # the Indices point at the maxima in the flat input
    y, idx = module(ember.from_numpy(x))
    flat = x.reshape(-1) if storage_order == 0 else x.transpose(0, 1, 3, 2).reshape(-1)
    np.testing.assert_array_equal(flat[idx.numpy()], y.numpy())


def test_max_pool_1d_indices_match_onnxruntime():
    x = _rand(2, 3, 9)
    _check(_model("MaxPool", x, outputs=2, kernel_shape=[3], strides=[2], pads=[1, 2]), x)


def test_max_pool_with_indices_still_differentiates():
    x = _rand(1, 2, 5, 5)
    module = ember.onnx.load(_model("MaxPool", x, outputs=2, kernel_shape=[2, 2],
                                    pads=[1, 0, 0, 1]))
    xt = ember.from_numpy(x).requires_grad_()
    y, idx = module(xt)
    y.sum().backward()
    want = np.zeros(x.size, np.float32)
    np.add.at(want, idx.numpy().reshape(-1), 1.0)
    np.testing.assert_array_equal(xt.grad.numpy().reshape(-1), want)


def test_pools_3d_match_onnxruntime():
    x = _rand(2, 3, 5, 4, 5)
    for attrs in (dict(kernel_shape=[2, 3, 2], strides=[2, 1, 2], pads=[1, 1, 0, 0, 1, 1]),
                  dict(kernel_shape=[3, 2, 2], pads=[1, 0, 1, 0, 1, 1], storage_order=1)):
        module = _check(_model("MaxPool", x, outputs=2, **attrs), x)
        # flat indices into the whole (N, C, D, H, W) input, as onnxruntime's
        want = _ort(_model("MaxPool", x, outputs=2, **attrs), x)[1]
        np.testing.assert_array_equal(module(ember.from_numpy(x))[1].numpy(), want)
    _check(_model("AveragePool", x, kernel_shape=[3, 2, 3], strides=[2, 2, 1],
                  pads=[1, 0, 1, 1, 0, 1], ceil_mode=1), x)
    _check(_model("AveragePool", x, kernel_shape=[2, 2, 2], count_include_pad=1,
                  pads=[1, 1, 1, 1, 1, 1]), x)


# ----------------------------------------------------------------------------- AveragePool


AVG_POOL = {
    "dilations": dict(kernel_shape=[2, 2], dilations=[2, 2]),
    "dilations_strides_pads": dict(kernel_shape=[3, 2], dilations=[2, 3], strides=[2, 1],
                                   pads=[1, 1, 2, 0]),
    "asym_pads": dict(kernel_shape=[3, 3], pads=[0, 1, 2, 2]),
    "large_pads": dict(kernel_shape=[3, 3], pads=[2, 2, 2, 2], strides=[2, 2]),
    "same_upper": dict(kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    "same_lower": dict(kernel_shape=[3, 2], strides=[2, 1], auto_pad="SAME_LOWER"),
    "ceil": dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    "ceil_asym_pads_dil": dict(kernel_shape=[2, 3], strides=[3, 2], pads=[1, 0, 0, 2],
                               dilations=[2, 1], ceil_mode=1),
    "symmetric": dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    "ceil_trailing_pad": dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1],
                              ceil_mode=1),
}


@pytest.mark.parametrize("include", [0, 1])
@pytest.mark.parametrize("case", sorted(AVG_POOL))
def test_average_pool_matches_onnxruntime(case, include):
    x = _rand(2, 3, 7, 8)
    module = _check(_model("AveragePool", x, opset=19, count_include_pad=include,
                           **AVG_POOL[case]), x)
    _check_adjoint(module, x)


@pytest.mark.parametrize("include", [0, 1])
def test_average_pool_1d_dilated_matches_onnxruntime(include):
    x = _rand(2, 3, 11)
    _check(_model("AveragePool", x, opset=19, count_include_pad=include, kernel_shape=[3],
                  dilations=[2], pads=[2, 1], strides=[2], ceil_mode=1), x)


# ----------------------------------------------------------------------------- BatchNormalization


@pytest.mark.parametrize("shape", [(4, 3, 5, 2), (6, 3), (2, 3, 7)])
def test_batch_norm_training_mode_matches_onnxruntime(shape):
    x = _rand(*shape) * 2.0 + 0.5
    c = shape[1]
    params = [_rand(c, seed=1), _rand(c, seed=2), _rand(c, seed=3),
              np.abs(_rand(c, seed=4)) + 0.5]
    model = _model("BatchNormalization", x, params, outputs=3, opset=15, training_mode=1,
                   momentum=0.8, epsilon=1e-3)
    _check(model, x)


def test_batch_norm_training_mode_gradient():
    torch = pytest.importorskip("torch")
    x = _rand(4, 3, 5, 2)
    scale, bias = _rand(3, seed=1), _rand(3, seed=2)
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    module = ember.onnx.load(_model("BatchNormalization", x, [scale, bias, mean, var],
                                    outputs=3, opset=15, training_mode=1))
    xt = ember.from_numpy(x).requires_grad_()
    y = module(xt)[0]
    r = _rand(*x.shape, seed=5)
    (y * ember.from_numpy(r)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.batch_norm(tx, None, None, torch.tensor(scale), torch.tensor(bias),
                                        training=True, eps=1e-5)
    (ty * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- Pad


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
@pytest.mark.parametrize("pads", [[-1, 2, 0, -2], [1, -1, -1, 2], [0, -2, -1, 0]])
def test_pad_with_negative_pads_matches_onnxruntime(mode, pads):
    x = _rand(5, 6)
    model = _model("Pad", x, consts=[np.array(pads, np.int64), np.array(1.5, np.float32)],
                   opset=18, mode=mode)
    _check(model, x)


def test_pad_with_negative_pads_on_chosen_axes():
    x = _rand(2, 5, 6)
    model = _model("Pad", x, consts=[np.array([-1, 2, 1, -3], np.int64),
                                     np.array(0.0, np.float32), np.array([1, -1], np.int64)],
                   opset=18)
    _check(model, x)
