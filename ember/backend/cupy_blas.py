"""bfloat16 matrix products on CUDA: cuBLAS ``GemmEx`` with float32 accumulation.

CuPy 14 holds bfloat16 (ml_dtypes) arrays, but its ``matmul`` converts bfloat16 operands to
float32 and multiplies in float32 (no bfloat16 tensor-core GEMM), and its batched or
broadcast bfloat16 products fail (cupy/cupy PR #10317, open in 2026). ember therefore calls
cuBLAS itself, through CuPy's own cuBLAS binding and handle: ``cublasGemmEx`` for one
product and ``cublasGemmStridedBatchedEx`` for a batch, with bfloat16 (``CUDA_R_16BF``)
inputs and output, ``CUBLAS_COMPUTE_32F`` (float32 accumulation, as PyTorch) and the
tensor-op algorithm choice.

cuBLAS is column-major: the row-major ``C = A @ B`` is computed as ``C^T = B^T A^T``, so the
operands swap places and a row-major matrix is passed untransposed with its row length as the
leading dimension. A transposed view (``weight.T`` in ``linear``) is passed as the original
memory with ``CUBLAS_OP_T``, so no copy is made.
"""

from __future__ import annotations

import numpy as np

CUDA_R_16BF = 14
CUBLAS_COMPUTE_32F = 68
CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99
CUBLAS_OP_N, CUBLAS_OP_T = 0, 1

_ONE = np.ones(1, np.float32)
_ZERO = np.zeros(1, np.float32)


def _operand(xp, a):
    """``(array, op, ld)`` describing the row-major (..., r, c) matrices ``a`` for cuBLAS:
    the array whose memory is passed, whether cuBLAS must transpose it, its leading dimension.
    """
    item = a.itemsize
    r, c = a.shape[-2:]
    s_r, s_c = a.strides[-2:]
    if not _batch_packed(a, r * c * item):
        return xp.ascontiguousarray(a), CUBLAS_OP_N, c
    if (s_c == item or c == 1) and (s_r == c * item or r == 1):
        return a, CUBLAS_OP_N, c
    if (s_r == item or r == 1) and (s_c == r * item or c == 1):
        return a, CUBLAS_OP_T, r  # memory of a C-contiguous (c, r): a transposed view
    a = xp.ascontiguousarray(a)
    return a, CUBLAS_OP_N, c


def _batch_packed(a, size: int) -> bool:
    """Whether the leading (batch) axes of ``a`` step over whole matrices, in order."""
    want = size
    for n, s in zip(reversed(a.shape[:-2]), reversed(a.strides[:-2])):
        if n != 1 and s != want:
            return False
        want *= n
    return True


def _batch(xp, a, shape: tuple):
    """``a`` broadcast to batch ``shape`` as (batch, r, c) memory and its batch stride in
    elements (0 when one matrix serves the whole batch)."""
    if a.ndim == 2:
        return a, 0
    if a.shape[:-2] != shape:
        a = xp.ascontiguousarray(xp.broadcast_to(a, shape + a.shape[-2:]))
    return a, a.shape[-2] * a.shape[-1]


def _cublas(cp):
    """CuPy's cuBLAS binding and the current device's handle (the one CuPy's own GEMMs use,
    so ember's calls queue on the same stream)."""
    try:
        from cupy_backends.cuda.libs import cublas
    except ImportError:  # older layouts keep it under cupy.cuda
        cublas = cp.cuda.cublas
    return cublas, cp.cuda.device.get_cublas_handle()


def matmul_bf16(cp, a, b, cublas=None, handle=None):
    """``a @ b`` for bfloat16 CuPy arrays (NumPy's matmul rules), on cuBLAS, float32 sums.

    ``cublas`` (CuPy's ``cupy_backends.cuda.libs.cublas``) and ``handle`` are looked up when
    not given (tests pass a recording stand-in).
    """
    if a.ndim < 2 or b.ndim < 2:  # vectors: no GEMM to speak of; float32 products
        f = np.float32
        return cp.matmul(a.astype(f), b.astype(f)).astype(a.dtype)
    if cublas is None:
        cublas, handle = _cublas(cp)
    m, k = a.shape[-2:]
    k2, n = b.shape[-2:]
    if k != k2:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({k} != {k2})")
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    out = cp.empty(batch + (m, n), dtype=a.dtype)
    if out.size == 0:
        return out
    if k == 0:
        out[...] = 0
        return out
    a, sa = _batch(cp, a, batch)
    b, sb = _batch(cp, b, batch)
    a, op_a, lda = _operand(cp, a)
    b, op_b, ldb = _operand(cp, b)
    count = int(np.prod(batch)) if batch else 1
    one, zero = _ONE.ctypes.data, _ZERO.ctypes.data
    # C^T (n x m, column-major) = op(B)^T-memory times op(A)^T-memory
    if count == 1:
        cublas.gemmEx(handle, op_b, op_a, n, m, k, one, b.data.ptr, CUDA_R_16BF, ldb,
                      a.data.ptr, CUDA_R_16BF, lda, zero, out.data.ptr, CUDA_R_16BF, n,
                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT_TENSOR_OP)
    else:
        cublas.gemmStridedBatchedEx(
            handle, op_b, op_a, n, m, k, one, b.data.ptr, CUDA_R_16BF, ldb, sb,
            a.data.ptr, CUDA_R_16BF, lda, sa, zero, out.data.ptr, CUDA_R_16BF, n, m * n,
            count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT_TENSOR_OP)
    return out


def linear_bf16(cp, x, weight, bias, cublas=None, handle=None):
    """``x @ weight.T + bias`` for bfloat16 CuPy arrays (``weight.T`` passed transposed)."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
    y = matmul_bf16(cp, x2, weight.T, cublas, handle)
    if bias is not None:
        y += bias.astype(y.dtype, copy=False)
    return y.reshape(lead + weight.shape[:1]) if x.ndim != 2 else y


def probe(cp) -> str:
    """"" when this CuPy holds bfloat16 arrays and multiplies them on cuBLAS correctly, else
    why not (names the CuPy version needed)."""
    try:
        import ml_dtypes
    except ImportError:
        return "ml_dtypes is not installed (pip install ml_dtypes)"
    bf = np.dtype(ml_dtypes.bfloat16)
    try:
        a = cp.asarray(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=bf))
        cp.zeros(2, dtype=bf)
    except Exception as exc:  # noqa: BLE001 - TypeError/ValueError from an older CuPy
        return (f"CuPy {cp.__version__} has no bfloat16 arrays ({type(exc).__name__}); "
                "bfloat16 on CUDA needs CuPy >= 14 with ml_dtypes installed")
    try:
        got = matmul_bf16(cp, a, a.T).get().astype(np.float32)
    except Exception as exc:  # noqa: BLE001 - cuBLAS refused (e.g. a GPU before sm_80)
        return (f"bfloat16 GEMM failed on this GPU with CuPy {cp.__version__} "
                f"({type(exc).__name__}: {exc})")
    if not np.array_equal(got, np.array([[5.0, 11.0], [11.0, 25.0]], np.float32)):
        return f"bfloat16 GEMM gave wrong results with CuPy {cp.__version__}: {got.tolist()}"
    return ""
