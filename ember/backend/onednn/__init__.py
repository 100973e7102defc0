"""oneDNN primitives for the CPU backend, through oneDNN's C API (the ``onednn`` extra).

NumPy has no convolution, so the CPU backend's own kernels build im2col columns and call
BLAS; the copies run on one core and the thin products of 32- and 64-channel layers reach
about half of the machine's peak. oneDNN (the library behind PyTorch's CPU convolutions)
has kernels JIT-compiled for the CPU at hand. When it is installed (``pip install
ember[onednn]``, the ``onednn-cpu-gomp`` wheel) the CPU backend runs these float32 forwards
through it: convolutions in 2-d and 3-d (forward, input gradient, also the transposed
convolutions, and weight gradient; ``_conv.py``), matmul and linear (``_matmul.py``), training
batch norm, max pooling and 3-d average pooling (``_pool_norm.py``), whole LSTM layers
(``_lstm.py``), ReLU and its gradient (``_eltwise.py``) and Adam's update (``_optim.py``);
everything else as before.

Activations are described to oneDNN as (N, C, H, W) with channels-last strides, ember's
layout for activations, so nothing is copied on the way in or out; weights are reordered into
the blocked layout oneDNN's kernel asks for on every call (they change every step), and the
weight gradient back into PyTorch's (O, C/G, kh, kw). A primitive is created once per problem
and cached (``_lib.cached``); a problem oneDNN does not implement falls back to the NumPy
kernels. ``ember.backends.onednn.enabled = False`` turns the path off. ``_openblas.py`` keeps
OpenBLAS's threads out of oneDNN's way (see ``single_blas``).

Example:
    >>> import numpy as np
    >>> from ember.backend import onednn
    >>> x = np.ones((1, 2, 4, 4), np.float32)
    >>> w = np.ones((3, 2, 3, 3), np.float32)
    >>> y = onednn.conv2d(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    >>> y is None or float(y[0, 0, 1, 1]) == 18.0  # None: oneDNN is not installed
    True
"""

from __future__ import annotations

import numpy as np

from ._conv import conv2d, conv2d_input_grad, conv2d_weight
from ._eltwise import relu, relu_backward
from ._lib import OneDNNError, active, load
from ._lstm import lstm_backward, lstm_forward
from ._matmul import matmul
from ._optim import adam_update, sgd_update
from ._openblas import single_blas
from ._pool_norm import avg_pool, batch_norm, batch_norm_backward, max_pool2d

__all__ = ["OneDNNError", "active", "adam_update", "avg_pool", "batch_norm",
           "batch_norm_backward", "conv2d",
           "conv2d_input_grad", "conv2d_weight", "install", "load", "lstm_backward",
           "lstm_forward", "matmul", "max_pool2d", "relu", "relu_backward", "sgd_update",
           "single_blas", "NATIVE"]

# ops that compose other primitives elsewhere and that the CPU backend runs as primitives of
# their own, through oneDNN, while it is active (``Backend.runs_natively``)
NATIVE = frozenset({"conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d"})


def install(backend) -> None:
    """Register the oneDNN forwards of conv2d, conv_transpose2d, conv2d_weight(_bias), conv3d,
    conv_transpose3d, conv3d_weight, matmul,
    linear, lstm, lstm_grad, max_pool2d, max_pool2d_grad, max_pool3d, max_pool3d_grad,
    avg_pool3d, avg_pool3d_grad, batch_norm, batch_norm_backward,
    relu and relu_backward on the CPU backend; each falls back to the NumPy kernel for what
    oneDNN does not run."""
    from ...ops import conv_kernels as K
    from ...ops import pool_kernels as PK
    from ...ops.elementwise import Relu, ReluBackward
    from ...ops.layer_ops import Linear
    from ...ops.lstm import Lstm, LstmGrad
    from ...ops.normalization import BatchNorm, BatchNormBackward

    # the NumPy fallbacks that call BLAS hold OpenBLAS as any BLAS-using forward does (the
    # backend leaves these overridden forwards unwrapped: oneDNN's own path needs no hold)
    np_conv2d, np_conv_transpose2d = single_blas(K.conv2d), single_blas(K.conv_transpose2d)
    np_conv2d_weight, np_matmul = single_blas(K.conv2d_weight), single_blas(np.matmul)
    np_linear, np_lstm, np_lstm_grad = (single_blas(Linear.forward), single_blas(Lstm.forward),
                                        single_blas(LstmGrad.forward))
    np_conv3d, np_conv_transpose3d = single_blas(K.conv3d), single_blas(K.conv_transpose3d)
    np_conv3d_weight = single_blas(K.conv3d_weight)
    np_batch_norm = single_blas(BatchNorm.forward)
    np_batch_norm_backward = single_blas(BatchNormBackward.forward)

    @backend.override("conv2d")
    def _conv2d(xp, x, w, b, stride, padding, dilation, groups):
        y = conv2d(x, w, b, stride, padding, dilation, groups)
        return np_conv2d(xp, x, w, b, stride, padding, dilation, groups) if y is None else y

    @backend.override("conv_transpose2d")
    def _conv_transpose2d(xp, x, w, b, stride, padding, output_padding, dilation, groups):
        _, _, kh, kw = w.shape
        hw = tuple((size - 1) * s - p[0] - p[1] + d * (k - 1) + 1 + op
                   for size, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation,
                                                   (kh, kw), output_padding))
        y = None
        if min(p for pair in padding for p in pair) >= 0 and min(hw) > 0:
            y = conv2d_input_grad(x, w, hw, stride, padding, dilation, groups)
        if y is None:
            return np_conv_transpose2d(xp, x, w, b, stride, padding, output_padding, dilation,
                                       groups)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    @backend.override("conv3d")
    def _conv3d(xp, x, w, b, stride, padding, dilation, groups):
        y = conv2d(x, w, b, stride, padding, dilation, groups)
        return np_conv3d(xp, x, w, b, stride, padding, dilation, groups) if y is None else y

    @backend.override("conv_transpose3d")
    def _conv_transpose3d(xp, x, w, b, stride, padding, output_padding, dilation, groups):
        size = tuple((i - 1) * s - p[0] - p[1] + d * (k - 1) + 1 + op
                     for i, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation,
                                                  w.shape[2:], output_padding))
        y = None
        if min(size) > 0:
            y = conv2d_input_grad(x, w, size, stride, padding, dilation, groups)
        if y is None:
            return np_conv_transpose3d(xp, x, w, b, stride, padding, output_padding, dilation,
                                       groups)
        if b is not None:
            y += b.reshape(1, -1, 1, 1, 1)
        return y

    @backend.override("conv3d_weight")
    def _conv3d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups):
        dw = conv2d_weight(x, g, kernel_size, stride, padding, dilation, groups)
        if dw is None:
            return np_conv3d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups)
        return dw

    @backend.override("matmul")
    def _matmul(xp, a, b):
        out = matmul(a, b)
        # NumPy multiplies bfloat16 (ml_dtypes) in float32 and returns float32
        return np_matmul(a, b).astype(a.dtype, copy=False) if out is None else out

    @backend.override("relu")
    def _relu(xp, x):
        y = relu(x)
        return Relu.forward(xp, x) if y is None else y

    @backend.override("relu_backward")
    def _relu_backward(xp, g, x):
        y = relu_backward(g, x)
        return ReluBackward.forward(xp, g, x) if y is None else y

    @backend.override("linear")
    def _linear(xp, x, weight, bias):
        y = matmul(x.reshape(-1, x.shape[-1]), np.ascontiguousarray(weight).T, bias)
        if y is None:
            return np_linear(xp, x, weight, bias)
        return y.reshape(x.shape[:-1] + weight.shape[:1])

    @backend.override("lstm")
    def _lstm(xp, x, w_ih, w_hh, bias, h0, c0, reverse, axis, save=False):
        r = lstm_forward(x, w_ih, w_hh, bias, h0, c0, reverse, axis, save)
        if r is None:
            return np_lstm(xp, x, w_ih, w_hh, bias, h0, c0, reverse, axis, save)
        return r

    @backend.override("lstm_grad")
    def _lstm_grad(xp, g_out, g_hn, g_cn, x, w_ih, w_hh, bias, h0, c0, out, h_n, c_n, saved,
                   reverse, axis):
        if saved.dtype == np.uint8:  # a oneDNN forward's workspace
            return lstm_backward(g_out, g_hn, g_cn, x, w_ih, w_hh, bias, h0, c0, out, h_n,
                                 c_n, saved, reverse, axis)
        return np_lstm_grad(xp, g_out, g_hn, g_cn, x, w_ih, w_hh, bias, h0, c0, out, h_n, c_n,
                            saved, reverse, axis)

    def _override_max_pool(name, numpy_forward, numpy_grad):
        """oneDNN's max pooling (2-d or 3-d) for ``name`` and its gradient, falling back to
        the NumPy kernels where oneDNN declines."""

        @backend.override(name)
        def _max_pool(xp, x, kernel, stride, padding, dilation, ceil_mode):
            size, pads = PK._geometry(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
            y = max_pool2d(x, size, kernel, stride, pads, dilation)
            if y is None:
                return numpy_forward(xp, x, kernel, stride, padding, dilation, ceil_mode)
            return y

        @backend.override(name + "_grad")
        def _max_pool_grad(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode):
            size, pads = PK._geometry(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
            dx = None
            if g.dtype == np.float32:
                dx = max_pool2d(x, size, kernel, stride, pads, dilation, grad=g, out=out)
            if dx is None:
                return numpy_grad(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode)
            return dx

    _override_max_pool("max_pool2d", PK.max_pool2d, PK.max_pool2d_grad)
    _override_max_pool("max_pool3d", PK.max_pool3d, PK.max_pool3d_grad)

    def _avg_pads(size, kernel, stride, padding, ceil_mode, count_include_pad):
        """(output size, oneDNN's paddings), or None where a ceil-mode window reaches past
        the padded input while the padding counts (PyTorch then divides by less than the
        whole kernel, oneDNN would not)."""
        out, pads = PK._geometry(size, kernel, stride, padding, (1,) * len(size), ceil_mode)
        if count_include_pad and any(after > p for (_, after), p in zip(pads, padding)):
            return None
        return out, pads

    @backend.override("avg_pool3d")
    def _avg_pool3d(xp, x, kernel, stride, padding, ceil_mode, count_include_pad):
        geometry = _avg_pads(x.shape[2:], kernel, stride, padding, ceil_mode, count_include_pad)
        y = None
        if geometry is not None:
            y = avg_pool(x, geometry[0], kernel, stride, geometry[1], count_include_pad)
        if y is None:
            return PK.avg_pool3d(xp, x, kernel, stride, padding, ceil_mode, count_include_pad)
        return y

    @backend.override("avg_pool3d_grad")
    def _avg_pool3d_grad(xp, g, input_size, kernel, stride, padding, ceil_mode,
                         count_include_pad):
        geometry = _avg_pads(input_size, kernel, stride, padding, ceil_mode, count_include_pad)
        dx = None
        if geometry is not None:
            dx = avg_pool(g, input_size, kernel, stride, geometry[1], count_include_pad,
                          backward=True)
        if dx is None:
            return PK.avg_pool3d_grad(xp, g, input_size, kernel, stride, padding, ceil_mode,
                                      count_include_pad)
        return dx

    @backend.override("batch_norm")
    def _batch_norm(xp, x, weight, bias, eps):
        r = batch_norm(x, weight, bias, eps)
        return np_batch_norm(xp, x, weight, bias, eps) if r is None else r

    @backend.override("batch_norm_backward")
    def _batch_norm_backward(xp, g, x, weight, mean, var, eps):
        r = batch_norm_backward(g, x, weight, mean, var, eps)
        if r is None:
            return np_batch_norm_backward(xp, g, x, weight, mean, var, eps)
        return r

    @backend.override("conv2d_weight")
    def _conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups):
        dw = conv2d_weight(x, g, kernel_size, stride, padding, dilation, groups)
        if dw is None:
            return np_conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups)
        return dw

    @backend.override("conv2d_weight_bias")
    def _conv2d_weight_bias(xp, x, g, kernel_size, stride, padding, dilation, groups):
        r = conv2d_weight(x, g, kernel_size, stride, padding, dilation, groups, bias=True)
        if r is None:
            return (np_conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups),
                    K.channel_sum(xp, g))
        return r
