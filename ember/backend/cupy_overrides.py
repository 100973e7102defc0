"""The CUDA backend's forward overrides: the op forwards that cannot run as written on CuPy.

Reviewed against every forward in ``ember/ops`` (November 2026):

- ``index_adjoint``, ``scatter_add``, ``pad_adjoint`` call ``xp.add.at``; CuPy versions without
  ``ufunc.at`` get it through ``cupyx.scatter_add`` (the op bodies are reused unchanged).
- ``erf`` and ``gelu`` reach SciPy through ``ember.backend.special.erf``, which uses
  ``cupyx.scipy.special.erf`` for CuPy arrays.
- ``dropout_mask`` draws from ember's host generator; on CUDA it draws with cuRAND
  (``ember.cuda.manual_seed``), as PyTorch's CUDA generator is separate from its CPU one.
- ``eig`` (general eigendecomposition) is missing from CuPy: it runs on the host.
- ``conv2d``, ``conv_transpose2d``, ``conv2d_weight``: cuDNN forward, backward-data and
  backward-filter through its C API (``cudnn_ctypes.py``; CuPy 14 has no cuDNN bindings)
  when ``ember.backends.cudnn.enabled``; otherwise the im2col + cuBLAS kernels of
  ``conv_kernels.py`` (``as_strided`` exists in ``cupy.lib.stride_tricks``) after a
  one-time warning. bfloat16 convolutions run on cuDNN too (float32 compute).
- pooling, batch norm and softmax: single cuDNN calls (``cupy_dnn.py``) when cuDNN loads.
  Every cuDNN forward is ``guarded``: an op and dtype cuDNN refuses once (a status, or a
  function this cuDNN lacks) uses the CuPy kernels from then on, after one warning.
- ``matmul`` and ``linear`` of bfloat16 arrays: cuBLAS GEMMs with float32 accumulation
  (``cupy_blas.py``), since CuPy's own matmul multiplies bfloat16 in float32.
"""

from __future__ import annotations

import numpy as np

from ..ops import conv_kernels as K
from ..ops.registry import REGISTRY
from .layout import empty as _empty
from .layout import packed as _packed


class _AddWithAt:
    """``cupy.add`` plus ``.at`` (``cupyx.scatter_add``) for CuPy versions without it."""

    def __init__(self, add, scatter_add) -> None:
        self._add = add
        self.at = scatter_add

    def __call__(self, *args, **kwargs):
        return self._add(*args, **kwargs)


class _XPWithAt:
    """CuPy's namespace with ``add.at``: handed to forwards written against NumPy's."""

    def __init__(self, cp, scatter_add) -> None:
        self._cp = cp
        self.add = _AddWithAt(cp.add, scatter_add)

    def __getattr__(self, name):
        return getattr(self._cp, name)


def _on_host(op):
    """A forward that runs ``op``'s NumPy forward on host copies and uploads the results."""
    fwd = op.forward

    def forward(xp, *args, **attrs):
        host = [a.get() if hasattr(a, "get") and hasattr(a, "device") else a for a in args]
        out = fwd(np, *host, **attrs)
        if isinstance(out, tuple):
            return tuple(xp.asarray(o) for o in out)
        return xp.asarray(out)

    forward.__name__ = f"{op.name}_on_host"
    return forward


def install(backend) -> None:
    """Register the overrides on the CUDA backend."""
    cp = backend.cp
    if not hasattr(cp.add, "at"):
        import cupyx

        xp_at = _XPWithAt(cp, cupyx.scatter_add)
        for name in ("index_adjoint", "scatter_add", "pad_adjoint"):
            fwd = REGISTRY[name].forward
            backend.override(name)(_with_xp(fwd, xp_at))
    backend.override("eig")(_on_host(REGISTRY["eig"]))
    astype = REGISTRY["astype"].forward

    def _astype(xp, x, dtype):  # a dtype CuPy cannot hold: ember's error, not CuPy's
        from .. import dtypes as _dt

        backend.check_dtype(_dt.to_dtype(dtype).np, "astype")
        return astype(xp, x, dtype)

    backend.override("astype")(_astype)
    backend.override("dropout_mask")(_dropout_mask)
    backend.override("conv2d")(guarded("conv2d", _conv2d, K.conv2d))
    backend.override("conv_transpose2d")(guarded("conv_transpose2d", _conv_transpose2d,
                                                 K.conv_transpose2d))
    backend.override("conv2d_weight")(guarded("conv2d_weight", _conv2d_weight,
                                               K.conv2d_weight))
    cudnn_weight = backend.overrides["conv2d_weight"]

    @backend.override("conv2d_weight_bias")
    def _conv2d_weight_bias(xp, x, g, *args, **attrs):  # cuDNN's weight gradient, one sum
        return cudnn_weight(xp, x, g, *args, **attrs), K.channel_sum(xp, g)
    if getattr(backend, "bf16", False):
        _install_bf16(backend)
    from . import cupy_dnn

    cupy_dnn.install(backend)  # pooling, batch norm, softmax


def _install_bf16(backend) -> None:
    """``matmul``/``linear`` forwards that send bfloat16 operands to cuBLAS (cupy_blas)."""
    from .cupy_blas import linear_bf16, matmul_bf16

    matmul, linear = REGISTRY["matmul"].forward, REGISTRY["linear"].forward

    def _matmul(xp, a, b):
        if a.dtype.name == "bfloat16" and b.dtype.name == "bfloat16":
            return matmul_bf16(xp, a, b)
        return matmul(xp, a, b)

    def _linear(xp, x, weight, bias):
        if x.dtype.name == "bfloat16" and weight.dtype.name == "bfloat16":
            return linear_bf16(xp, x, weight, bias)
        return linear(xp, x, weight, bias)

    backend.override("matmul")(_matmul)
    backend.override("linear")(_linear)


REFUSED: set = set()  # (op, dtype) cuDNN refused once (e.g. bfloat16 on an older cuDNN)


def guarded(name: str, fn, plain):
    """``fn`` as an op forward that falls back to ``plain`` for good, with a warning, for the
    first argument's dtype once cuDNN refuses a call (an unsupported configuration, or a
    function missing from this cuDNN)."""

    def forward(xp, *args, **attrs):
        key = (name, args[0].dtype.name)
        if key not in REFUSED:
            try:
                return fn(xp, *args, **attrs)
            except (RuntimeError, AttributeError) as exc:
                from .cupy_backend import warn_once

                REFUSED.add(key)
                warn_once(f"cudnn-{key}", f"ember: cuDNN refused {name} in {key[1]} "
                          f"({type(exc).__name__}: {exc}); using the CuPy kernels for it")
        return plain(xp, *args, **attrs)

    forward.__name__ = f"{name}_cudnn"
    return forward


def via_float32(fn):
    """``fn`` (an op forward) run on float32 copies of bfloat16 arguments, its floating outputs
    cast back: for the plain batch norm kernels, whose reductions (einsum) CuPy's partial
    bfloat16 support may lack."""

    def forward(xp, *args, **attrs):
        if not any(getattr(a, "dtype", None) is not None and a.dtype.name == "bfloat16"
                   for a in args):
            return fn(xp, *args, **attrs)
        bf = next(a.dtype for a in args if getattr(a, "dtype", None) is not None and
                  a.dtype.name == "bfloat16")
        up = [a.astype("float32") if getattr(a, "dtype", None) is not None and
              a.dtype.name == "bfloat16" else a for a in args]
        out = fn(xp, *up, **attrs)
        if isinstance(out, tuple):
            return tuple(o.astype(bf) for o in out)
        return out.astype(bf)

    forward.__name__ = getattr(fn, "__name__", "forward") + "_via_float32"
    return forward


def _with_xp(fwd, xp_at):
    def forward(xp, *args, **attrs):
        return fwd(xp_at, *args, **attrs)

    return forward


def _dropout_mask(xp, x, shape, p):
    if p >= 1:
        return xp.zeros(shape, dtype=x.dtype)
    u = xp.random.random(shape, dtype=xp.float32)
    return (u >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))


# --------------------------------------------------------------------------- cuDNN convolution
def _cudnn(x):
    """cuDNN (``cudnn_ctypes``) when it should serve this call, else None (fallback kernels)."""
    from ..backends import cudnn as flags

    if not flags.enabled or x.dtype.name not in ("float16", "bfloat16", "float32",
                                                 "float64") or \
            x.ndim != 4:
        return None
    lib = flags._module()
    if lib is None:
        from .cupy_backend import warn_once

        warn_once("cudnn", "ember: cuDNN is not available "
                  f"({flags.why_unavailable()}); convolutions use im2col + cuBLAS, which is "
                  "slower. Install cuDNN for your CUDA version (pip install "
                  "nvidia-cudnn-cu12 or -cu13) to speed them up")
    return lib


def _symmetric(padding):
    """``(ph, pw)`` when every padding pair is symmetric (what cuDNN takes), else None."""
    if all(a == b for a, b in padding):
        return tuple(int(a) for a, _ in padding)
    return None


def _channels_last(x) -> bool:
    """True for an (N, C, H, W) array whose memory is (N, H, W, C) (channels-last)."""
    return x.ndim == 4 and not x.flags.c_contiguous and \
        x.transpose(0, 2, 3, 1).flags.c_contiguous


def _filter(xp, w, nhwc: bool):
    """The filter's memory as cuDNN reads it: (O, C/G, kh, kw) or (O, kh, kw, C/G)."""
    return xp.ascontiguousarray(w.transpose(0, 2, 3, 1) if nhwc else w)


def _run(lib, xp, kind, a, b, out, w_shape, nhwc, pad, stride, dilation, groups):
    from ..backends import cudnn as flags

    lib.run(xp, kind, a, b, out, tuple(w_shape), nhwc, pad, tuple(stride), tuple(dilation),
            int(groups), bool(flags.benchmark), bool(flags.deterministic))


def _conv2d(xp, x, w, b, stride, padding, dilation, groups):
    lib = _cudnn(x)
    pad = _symmetric(padding)
    if lib is None or pad is None:
        return K.conv2d(xp, x, w, b, stride, padding, dilation, groups)
    nhwc = _channels_last(x)
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho = K.out_size(h, kh, stride[0], padding[0], dilation[0])
    wo = K.out_size(wd, kw, stride[1], padding[1], dilation[1])
    y = _empty(xp, (n, o, ho, wo), x.dtype, nhwc)
    _run(lib, xp, "fwd", _packed(xp, x, nhwc), _filter(xp, w.astype(x.dtype, copy=False), nhwc),
         y, w.shape, nhwc, pad, stride, dilation, groups)
    if b is not None:
        y += b.astype(x.dtype, copy=False).reshape(1, -1, 1, 1)
    return y


def _conv_transpose2d(xp, x, w, b, stride, padding, output_padding, dilation, groups):
    lib = _cudnn(x)
    pad = _symmetric(padding)
    if lib is None or pad is None:
        return K.conv_transpose2d(xp, x, w, b, stride, padding, output_padding, dilation,
                                  groups)
    nhwc = _channels_last(x)
    n, _, h, wd = x.shape
    _, cg, kh, kw = w.shape
    hi = (h - 1) * stride[0] - 2 * pad[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    wi = (wd - 1) * stride[1] - 2 * pad[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    y = _empty(xp, (n, cg * groups, hi, wi), x.dtype, nhwc)
    _run(lib, xp, "bwd_data", _filter(xp, w.astype(x.dtype, copy=False), nhwc),
         _packed(xp, x, nhwc), y, w.shape, nhwc, pad, stride, dilation, groups)
    if b is not None:
        y += b.astype(x.dtype, copy=False).reshape(1, -1, 1, 1)
    return y


def _conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups):
    lib = _cudnn(x)
    pad = _symmetric(padding)
    if lib is None or pad is None:
        return K.conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups)
    nhwc = _channels_last(x)
    o, c = g.shape[1], x.shape[1]
    kh, kw = kernel_size
    w_shape = (o, c // groups, kh, kw)
    gw = xp.empty((o, kh, kw, c // groups) if nhwc else w_shape, dtype=x.dtype)
    _run(lib, xp, "bwd_filter", _packed(xp, x, nhwc),
         _packed(xp, g.astype(x.dtype, copy=False), nhwc), gw, w_shape, nhwc, pad, stride,
         dilation, groups)
    return xp.ascontiguousarray(gw.transpose(0, 3, 1, 2)) if nhwc else gw
