"""ONNX quantisation and signal-processing ops against onnx's reference evaluator, onnxruntime
and numpy.fft: exact for integer outputs, tight tolerances for floats."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import ember
from ember.onnx.load import OnnxModule

_TYPES = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE,
          np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8, np.int16: TensorProto.INT16,
          np.int32: TensorProto.INT32, np.int64: TensorProto.INT64}


def _model(op, inputs, n_out=1, opset=21, constants=None, **attrs):
    """A one-node model: ``inputs`` (name -> array) are graph inputs, ``constants``
    initializers; a None input is left out (an empty name)."""
    constants = constants or {}
    names = [name if arr is not None else "" for name, arr in {**inputs, **constants}.items()]
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(k, _TYPES[v.dtype.type], v.shape)
         for k, v in inputs.items() if v is not None],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs],
        [numpy_helper.from_array(v, k) for k, v in constants.items() if v is not None])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _both(model, feeds):
    ref = ReferenceEvaluator(model).run(None, {k: v for k, v in feeds.items() if v is not None})
    got = OnnxModule(model)(*[ember.from_numpy(v) for v in feeds.values() if v is not None])
    got = got if isinstance(got, tuple) else (got,)
    return [g.detach().numpy() for g in got], ref


def _check_exact(model, feeds):
    got, ref = _both(model, feeds)
    for g, r in zip(got, ref, strict=True):
        assert g.dtype == r.dtype and g.shape == r.shape
        np.testing.assert_array_equal(g, r)


HALVES = np.array([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 126.5, 127.5, -128.5, -129.5,
                   254.5, 255.5, 300.0, -300.0], np.float32)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16])
def test_quantize_rounds_half_to_even_and_saturates(dtype):
    zp = np.array(0 if dtype != np.uint8 else 3, dtype)
    model = _model("QuantizeLinear", {"x": HALVES}, constants={"s": np.float32(1.0), "z": zp})
    _check_exact(model, {"x": HALVES})
    got = OnnxModule(model)(ember.from_numpy(HALVES)).detach().numpy()
    if dtype == np.int8:
        assert list(got[:8]) == [-4, -2, -2, 0, 0, 2, 2, 4]
        assert list(got[8:12]) == [126, 127, -128, -128]


def test_quantize_output_dtype_without_zero_point():
    x = np.linspace(-70000, 70000, 13).astype(np.float32)
    model = _model("QuantizeLinear", {"x": x}, constants={"s": np.float32(3.0)},
                   output_dtype=TensorProto.INT16)
    _check_exact(model, {"x": x})


def test_quantize_dequantize_per_axis():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32) * 50
    scale = np.array([0.5, 0.25, 1.0, 2.0], np.float32)
    zp = np.array([0, 10, -5, 127], np.int8)
    q = _model("QuantizeLinear", {"x": x}, constants={"s": scale, "z": zp}, axis=1)
    _check_exact(q, {"x": x})
    xi = rng.integers(-128, 128, size=(2, 4, 3)).astype(np.int8)
    d = _model("DequantizeLinear", {"x": xi}, constants={"s": scale, "z": zp}, axis=-2)
    _check_exact(d, {"x": xi})


@pytest.mark.parametrize("shape,axis,block", [((6, 4), 0, 2), ((6, 4), 1, 3), ((5, 4), 0, 2)])
def test_blocked_quantisation(shape, axis, block):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=shape) * 40).astype(np.float32)
    blocks = list(shape)
    blocks[axis] = -(-shape[axis] // block)
    scale = rng.uniform(0.2, 2.0, size=blocks).astype(np.float32)
    zp = rng.integers(0, 40, size=blocks).astype(np.uint8)
    q = _model("QuantizeLinear", {"x": x}, constants={"s": scale, "z": zp}, axis=axis,
               block_size=block)
    _check_exact(q, {"x": x})
    xi = rng.integers(0, 256, size=shape).astype(np.uint8)
    d = _model("DequantizeLinear", {"x": xi}, constants={"s": scale, "z": zp}, axis=axis,
               block_size=block)
    _check_exact(d, {"x": xi})


def test_dequantize_int32():
    x = np.array([-2**31, -5, 0, 7, 2**31 - 1, 123456789], np.int32)
    model = _model("DequantizeLinear", {"x": x}, constants={"s": np.float32(0.001),
                                                             "z": np.int32(3)})
    _check_exact(model, {"x": x})


def test_unsupported_quantised_type_is_not_implemented():
    x = np.zeros(3, np.float32)
    model = _model("QuantizeLinear", {"x": x}, constants={"s": np.float32(1.0)},
                   output_dtype=TensorProto.INT32)
    with pytest.raises(NotImplementedError):
        OnnxModule(model)(ember.from_numpy(x))


def test_dynamic_quantize_linear():
    rng = np.random.default_rng(2)
    for x in [rng.normal(size=(3, 5)).astype(np.float32) * 4,
              np.array([1.0, 2.5, 3.0], np.float32), np.zeros(4, np.float32)]:
        _check_exact(_model("DynamicQuantizeLinear", {"x": x}, n_out=3), {"x": x})


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_matmul_integer_and_qlinear_matmul(dtype):
    rng = np.random.default_rng(3)
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max + 1
    a = rng.integers(lo, hi, size=(2, 3, 64)).astype(dtype)
    b = rng.integers(lo, hi, size=(64, 5)).astype(dtype)
    azp, bzp = np.array(hi - 1, dtype), np.array(lo, dtype)  # large products: no overflow
    _check_exact(_model("MatMulInteger", {"a": a, "b": b}, constants={"az": azp, "bz": bzp}),
                 {"a": a, "b": b})
    consts = {"as": np.float32(0.02), "az": azp, "b": b, "bs": np.float32(0.03), "bz": bzp,
              "ys": np.float32(7.0), "yz": np.array(lo + 5, dtype)}
    model = _model("QLinearMatMul", {"a": a}, constants=consts)
    _check_exact(model, {"a": a})


def test_conv_integer_and_qlinear_conv():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, size=(1, 2, 6, 6)).astype(np.uint8)
    w = rng.integers(-128, 128, size=(3, 2, 3, 3)).astype(np.int8)
    xz = np.array(128, np.uint8)
    attrs = {"pads": [1, 1, 1, 1], "strides": [2, 1]}
    _check_exact(_model("ConvInteger", {"x": x}, constants={"w": w.astype(np.uint8) + 0,
                                                              "xz": xz}, **attrs), {"x": x})
    consts = {"xs": np.float32(0.05), "xz": xz, "w": w,
              "ws": np.array([0.01, 0.02, 0.03], np.float32), "wz": np.zeros(3, np.int8),
              "ys": np.float32(0.5), "yz": np.array(100, np.uint8),
              "B": np.array([-500, 0, 1000], np.int32)}
    _check_exact(_model("QLinearConv", {"x": x}, constants=consts, **attrs), {"x": x})


def test_gradient_through_dequantize_and_matmul():
    rng = np.random.default_rng(5)
    wq = rng.integers(-128, 128, size=(4, 3)).astype(np.int8)
    w_node = helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["w"], axis=1)
    mm = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph(
        [w_node, mm], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(wq, "wq"),
         numpy_helper.from_array(np.array([0.1, 0.2, 0.3], np.float32), "s"),
         numpy_helper.from_array(np.array([1, -2, 0], np.int8), "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    x = ember.tensor(rng.normal(size=(2, 4)).astype(np.float32), requires_grad=True)
    y = OnnxModule(model)(x)
    g = rng.normal(size=(2, 3)).astype(np.float32)
    (y * ember.tensor(g)).sum().backward()
    w = (wq.astype(np.float32) - np.array([1, -2, 0])) * np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(x.grad.numpy(), g @ w.T, rtol=1e-5, atol=1e-6)


def _dft_model(shape, opset=20, with_length=False, axis=None, **attrs):
    inputs = {"x": np.zeros(shape, np.float64)}
    if with_length:
        inputs["n"] = np.array(0, np.int64)
    elif opset >= 20:
        inputs["n"] = None
    if opset >= 20:
        inputs["axis"] = np.array(axis, np.int64)
    elif axis is not None:
        attrs["axis"] = axis
    return _model("DFT", inputs, opset=opset, **attrs), list(inputs)


def _run_dft(x, length=None, axis=1, opset=20, **attrs):
    model, names = _dft_model(x.shape, opset, length is not None, axis, **attrs)
    feeds = {"x": x, "n": None if length is None else np.array(length, np.int64),
             "axis": np.array(axis, np.int64)}
    args = [ember.from_numpy(feeds[k]) for k in names if feeds[k] is not None]
    return OnnxModule(model)(*args).detach().numpy()


def _complex(y):
    return y[..., 0] + 1j * y[..., 1]


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("length", [None, 6, 12])
def test_dft_forward_matches_numpy(opset, length):
    rng = np.random.default_rng(6)
    real = rng.normal(size=(2, 9, 3, 1))
    got = _run_dft(real, length, axis=1, opset=opset)
    np.testing.assert_allclose(_complex(got), np.fft.fft(real[..., 0], n=length, axis=1),
                               rtol=1e-10, atol=1e-10)
    cplx = rng.normal(size=(2, 3, 8, 2))
    got = _run_dft(cplx, length, axis=-2 if opset >= 20 else 2, opset=opset)
    np.testing.assert_allclose(_complex(got), np.fft.fft(_complex(cplx), n=length, axis=2),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("length", [None, 7, 8])
def test_dft_onesided_and_inverse_match_numpy(length):
    rng = np.random.default_rng(7)
    real = rng.normal(size=(3, 10, 1))
    got = _run_dft(real, length, axis=1, onesided=1)
    np.testing.assert_allclose(_complex(got), np.fft.rfft(real[..., 0], n=length, axis=1),
                               rtol=1e-10, atol=1e-10)
    cplx = rng.normal(size=(3, 10, 2))
    got = _run_dft(cplx, length, axis=1, inverse=1)
    np.testing.assert_allclose(_complex(got), np.fft.ifft(_complex(cplx), n=length, axis=1),
                               rtol=1e-10, atol=1e-10)
    half = rng.normal(size=(3, 6, 2))
    got = _run_dft(half, length, axis=1, inverse=1, onesided=1)
    assert got.shape[-1] == 1
    np.testing.assert_allclose(got[..., 0], np.fft.irfft(_complex(half), n=length, axis=1),
                               rtol=1e-10, atol=1e-10)


def test_dft_gradient_matches_numpy():
    """The gradient of sum(w * DFT(x)) is the adjoint transform of w."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(1, 8, 2))
    w = rng.normal(size=(1, 8, 2))
    model, _ = _dft_model(x.shape, 20, False, 1)
    xt = ember.tensor(x, requires_grad=True)
    y = OnnxModule(model)(xt, ember.tensor(np.array(1, np.int64)))
    (y * ember.tensor(w)).sum().backward()
    # L = Re(conj(W) . F x) with F symmetric: dL/dRe(x) = Re(G), dL/dIm(x) = -Im(G) for
    # G = F conj(W)
    g = np.fft.fft(np.conj(_complex(w)), axis=1)
    np.testing.assert_allclose(xt.grad.numpy()[..., 0], g.real, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy()[..., 1], -g.imag, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("onesided", [0, 1])
def test_stft_matches_reference(onesided):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 40, 1)).astype(np.float32)
    window = np.hanning(10).astype(np.float32)
    consts = {"step": np.array(4, np.int64), "w": window, "len": np.array(10, np.int64)}
    got, ref = _both(_model("STFT", {"x": x}, opset=17, constants=consts, onesided=onesided),
                     {"x": x})
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5, atol=1e-5)
    assert got[0].shape == (2, 8, 6 if onesided else 10, 2)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_onnx_windows(op, periodic):
    for dtype in (TensorProto.FLOAT, TensorProto.DOUBLE):
        model = _model(op, {}, opset=17, constants={"size": np.array(9, np.int64)},
                       periodic=periodic, output_datatype=dtype)
        got, ref = _both(model, {})
        assert got[0].dtype == ref[0].dtype
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-6, atol=1e-7)


def test_mel_weight_matrix():
    consts = {"bins": np.array(8, np.int64), "n": np.array(64, np.int64),
              "rate": np.array(16000, np.int64), "lo": np.array(20.0, np.float32),
              "hi": np.array(7000.0, np.float32)}
    got, ref = _both(_model("MelWeightMatrix", {}, opset=17, constants=consts), {})
    assert got[0].shape == (33, 8)
    np.testing.assert_array_equal(got[0], ref[0])
