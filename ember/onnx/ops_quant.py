"""ONNX quantisation ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
QLinearMatMul, QLinearConv, MatMulInteger and ConvInteger.

The spec is onnx's reference implementation (``onnx/reference/ops/op_*.py``). Quantised
values are ember's uint8, int8 and int16 (int32 too as a DequantizeLinear input); float8,
int4 and uint16 have no ember dtype and raise NotImplementedError. Rounding is half to even
(``ember.round``), and values are clamped to the target range before the cast, so nothing
wraps. Integer products and convolutions are computed on float64, exact for every sum below
2**53 (an int8 x int8 dot product would need some 2**38 terms to leave that range), then cast
to int32 as ONNX specifies.

DequantizeLinear is differentiable in its scale (and downstream, as any float op).
QuantizeLinear is not: rounding has zero gradient almost everywhere, and ONNX defines no
straight-through estimator (PyTorch's fake-quant uses one; ONNX's semantics do not).
"""

from __future__ import annotations

from .. import dtypes as _dt
from .. import ops as E
from .ops import IMPL, _dtype_of_onnx, onnx_op

_RANGES = {_dt.uint8: (0, 255), _dt.int8: (-128, 127), _dt.int16: (-32768, 32767),
           _dt.int32: (-2**31, 2**31 - 1)}


def _quant_dtype(dtype, op: str):
    if dtype not in _RANGES or dtype == _dt.int32 and op != "DequantizeLinear":
        raise NotImplementedError(f"{op}: quantised type {dtype.name} is not supported")
    return dtype


def _param_like(v, shape, axis: int, block_size: int):
    """A scale or zero point broadcastable to ``shape``: a scalar, one value per index of
    ``axis`` (per-axis), or one per block of ``block_size`` along ``axis`` (blocked)."""
    if v.ndim == 0:
        return v
    if v.numel() == 1:
        return E.reshape(v, ())
    axis = axis % len(shape)
    if not block_size:
        dims = [1] * len(shape)
        dims[axis] = v.numel()
        return E.reshape(v, dims)
    v = E.repeat_interleave(v, block_size, dim=axis)
    if v.shape[axis] != shape[axis]:  # the last block is shorter
        index = [slice(None)] * v.ndim
        index[axis] = slice(0, shape[axis])
        v = v[tuple(index)]
    return v


def _saturate(q, dtype):
    """``q`` (a float tensor of whole numbers) clamped to ``dtype``'s range and cast."""
    lo, hi = _RANGES[dtype]
    return E.astype(E.clamp(q, lo, hi), dtype)


@onnx_op("QuantizeLinear")
def _quantize_linear(m, n, x, scale, zero_point=None):
    axis, block = n.attrs.get("axis", 1), n.attrs.get("block_size", 0)
    if zero_point is not None:
        dtype = zero_point.dtype
    elif n.attrs.get("output_dtype"):
        dtype = _dtype_of_onnx(n.attrs["output_dtype"])
    else:
        dtype = _dt.uint8
    _quant_dtype(dtype, "QuantizeLinear")
    if n.attrs.get("precision"):
        work = _dtype_of_onnx(n.attrs["precision"])
        x, scale = E.astype(x, work), E.astype(scale, work)
    elif scale.dtype != x.dtype:
        scale = E.astype(scale, x.dtype)
    q = E.astype(E.round(x / _param_like(scale, x.shape, axis, block)), _dt.float64)
    if zero_point is not None:
        q = q + E.astype(_param_like(zero_point, x.shape, axis, block), _dt.float64)
    return _saturate(q, dtype)


@onnx_op("DequantizeLinear")
def _dequantize_linear(m, n, x, scale, zero_point=None):
    axis, block = n.attrs.get("axis", 1), n.attrs.get("block_size", 0)
    _quant_dtype(x.dtype, "DequantizeLinear")
    out = _dtype_of_onnx(n.attrs["output_dtype"]) if n.attrs.get("output_dtype") \
        else scale.dtype
    # float32 holds every 8- and 16-bit difference exactly, so one rounding happens, in the
    # product, as in the reference; an int32 input is rounded to float32 first, as there.
    work = _dt.float64 if x.dtype == _dt.int32 or scale.dtype == _dt.float64 else _dt.float32
    dx = E.astype(x, _dt.float32) if x.dtype == _dt.int32 else x
    dx = E.astype(dx, work)
    if zero_point is not None:
        dx = dx - E.astype(_param_like(zero_point, x.shape, axis, block), work)
    y = dx * E.astype(_param_like(scale, x.shape, axis, block), work)
    return y if y.dtype == out else E.astype(y, out)


@onnx_op("DynamicQuantizeLinear")
def _dynamic_quantize_linear(m, n, x):
    x = E.astype(x, _dt.float32) if x.dtype != _dt.float32 else x
    hi = E.clamp(E.amax(x), min=0.0)
    lo = E.clamp(E.amin(x), max=0.0)
    width = E.where(hi == lo, E.ones_like(hi), hi - lo)
    scale = width / 255.0
    zero = E.round(E.clamp(0.0 - lo / scale, 0.0, 255.0))
    q = E.astype(E.round(x / scale) + zero, _dt.float64)
    return _saturate(q, _dt.uint8), scale, E.astype(zero, _dt.uint8)


def _centred(v, zero_point, per_row: bool = False):
    """``v - zero_point`` on float64 (exact); a 1-d zero point of a row-quantised matrix
    applies along its rows (the second-last axis)."""
    v = E.astype(v, _dt.float64)
    if zero_point is None:
        return v
    z = E.astype(zero_point, _dt.float64)
    if per_row and z.ndim == 1 and z.numel() > 1:
        z = E.reshape(z, (-1, 1))
    return v - z


def _int32(v):
    return E.astype(v, _dt.int32)


def _requantize(acc, multiplier, zero_point, dtype):
    """``round(acc * multiplier + zero_point)`` saturated to ``dtype``; the multiplier
    (``a_scale * b_scale / y_scale``) is formed in the scales' dtype, as the reference does."""
    y = acc * E.astype(multiplier, _dt.float64)
    if zero_point is not None:
        y = y + E.astype(zero_point, _dt.float64)
    return _saturate(E.round(y), dtype)


@onnx_op("MatMulInteger")
def _matmul_integer(m, n, a, b, a_zero_point=None, b_zero_point=None):
    for v in (a, b):
        _quant_dtype(v.dtype, "MatMulInteger")
    return _int32(E.matmul(_centred(a, a_zero_point, per_row=True), _centred(b, b_zero_point)))


@onnx_op("QLinearMatMul")
def _qlinear_matmul(m, n, a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
                    y_zero_point=None):
    dtype = y_zero_point.dtype if y_zero_point is not None else a.dtype
    _quant_dtype(dtype, "QLinearMatMul")
    if a_scale.ndim == 1 and a_scale.numel() > 1:
        a_scale = E.reshape(a_scale, (-1, 1))
    acc = E.matmul(_centred(a, a_zero_point, per_row=True), _centred(b, b_zero_point))
    return _requantize(acc, a_scale * b_scale / y_scale, y_zero_point, dtype)


def _integer_conv(m, n, x, x_zero_point, w, w_zero_point, bias=None):
    """The convolution of the centred integers, on float64 with ONNX Conv's attributes;
    padding adds zeros after centring, that is the zero point before it."""
    wz = w_zero_point
    if wz is not None and wz.ndim == 1 and wz.numel() > 1:
        wz = E.reshape(wz, (-1,) + (1,) * (w.ndim - 1))
    return IMPL["Conv"](m, n, _centred(x, x_zero_point), _centred(w, wz),
                        None if bias is None else E.astype(bias, _dt.float64))


@onnx_op("ConvInteger")
def _conv_integer(m, n, x, w, x_zero_point=None, w_zero_point=None):
    for v in (x, w):
        _quant_dtype(v.dtype, "ConvInteger")
    return _int32(_integer_conv(m, n, x, x_zero_point, w, w_zero_point))


@onnx_op("QLinearConv")
def _qlinear_conv(m, n, x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
                  y_zero_point=None, bias=None):
    dtype = y_zero_point.dtype if y_zero_point is not None else x.dtype
    _quant_dtype(dtype, "QLinearConv")
    acc = _integer_conv(m, n, x, x_zero_point, w, w_zero_point, bias)
    if w_scale.ndim == 1 and w_scale.numel() > 1:
        w_scale = E.reshape(w_scale, (-1,) + (1,) * (acc.ndim - 2))
    return _requantize(acc, x_scale * w_scale / y_scale, y_zero_point, dtype)
