"""bfloat16 GEMMs on CUDA (ember/backend/cupy_blas.py), checked on the CPU: a stand-in for
cuBLAS that reads and writes memory exactly as cuBLAS's documented column-major ``GemmEx`` /
``GemmStridedBatchedEx`` do (op, leading dimension, batch stride, alpha/beta pointers), fed
NumPy arrays that carry a device-style ``.data.ptr``. A wrong operand order, transpose flag,
leading dimension or stride gives a wrong product here as it would on the GPU."""

from __future__ import annotations

import ctypes
import types

import ml_dtypes
import numpy as np
import pytest

from ember.backend import cupy_blas as B

BF = np.dtype(ml_dtypes.bfloat16)


class Dev(np.ndarray):
    """A NumPy array with CuPy's ``.data.ptr``."""

    @property
    def data(self):  # noqa: D401 - CuPy's attribute
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0])


def _dev(a):
    return np.asarray(a).view(Dev)


class FakeCp:
    """The CuPy functions cupy_blas uses, on ``Dev`` arrays."""

    @staticmethod
    def empty(shape, dtype):
        return _dev(np.empty(shape, dtype))

    @staticmethod
    def ascontiguousarray(a):
        return _dev(np.ascontiguousarray(a))

    @staticmethod
    def broadcast_to(a, shape):
        return _dev(np.broadcast_to(a, shape))

    @staticmethod
    def matmul(a, b):
        return _dev(np.matmul(a, b))

    @staticmethod
    def asarray(a):
        return _dev(np.array(a))

    zeros = staticmethod(lambda n, dtype: _dev(np.zeros(n, dtype)))
    __version__ = "14.0.0"


def _read(ptr, dtype, count):
    buf = (ctypes.c_char * (count * np.dtype(dtype).itemsize)).from_address(ptr)
    return np.frombuffer(buf, dtype=dtype, count=count)


def _colmajor(ptr, rows, cols, ld, op):
    """op(X) of the column-major matrix X at ``ptr`` (X is rows x cols before op)."""
    r, c = rows, cols
    flat = _read(ptr, BF, ld * (c - 1) + r).astype(np.float32)
    x = np.stack([flat[j * ld:j * ld + r] for j in range(c)], axis=1)  # r x c
    return x if op == B.CUBLAS_OP_N else x.T


class FakeCublas:
    """cuBLAS's GemmEx semantics: C = alpha op(A) op(B) + beta C, column-major."""

    def __init__(self):
        self.calls = []

    def gemmEx(self, h, ta, tb, m, n, k, alpha, a, at, lda, b, bt, ldb, beta, c, ct, ldc,
               compute, algo):  # noqa: N802 - cuBLAS's name
        self.gemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, a, at, lda, 0, b, bt, ldb, 0,
                                  beta, c, ct, ldc, 0, 1, compute, algo, name="gemmEx")

    def gemmStridedBatchedEx(self, h, ta, tb, m, n, k, alpha, a, at, lda, sa, b, bt, ldb,
                             sb, beta, c, ct, ldc, sc, count, compute, algo,
                             name="gemmStridedBatchedEx"):  # noqa: N802
        self.calls.append((name, ta, tb, m, n, k, lda, ldb, ldc, sa, sb, sc, count))
        assert (at, bt, ct) == (B.CUDA_R_16BF,) * 3 and compute == B.CUBLAS_COMPUTE_32F
        assert lda >= max(1, m if ta == B.CUBLAS_OP_N else k)
        assert ldb >= max(1, k if tb == B.CUBLAS_OP_N else n) and ldc >= max(1, m)
        al, be = _read(alpha, np.float32, 1)[0], _read(beta, np.float32, 1)[0]
        item = BF.itemsize
        for i in range(count):
            x = _colmajor(a + i * sa * item, *((m, k) if ta == B.CUBLAS_OP_N else (k, m)),
                          lda, ta)
            y = _colmajor(b + i * sb * item, *((k, n) if tb == B.CUBLAS_OP_N else (n, k)),
                          ldb, tb)
            out = _read(c + i * sc * item, BF, ldc * (n - 1) + m)
            old = np.stack([out[j * ldc:j * ldc + m] for j in range(n)], 1).astype(np.float32)
            res = (al * (x @ y) + (be * old if be else 0)).astype(BF)
            w = np.frombuffer((ctypes.c_char * out.nbytes).from_address(c + i * sc * item),
                              BF)
            for j in range(n):
                w[j * ldc:j * ldc + m] = res[:, j]


def _bf(rng, shape):
    return rng.standard_normal(shape).astype(BF)


def _want(a, b):
    return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(BF)


CASES = [
    ("2d", (5, 7), (7, 3), None),
    ("b_transposed_view", (4, 6), (3, 6), "bT"),
    ("a_transposed_view", (6, 4), (6, 3), "aT"),
    ("batched", (2, 5, 7), (2, 7, 3), None),
    ("batched_times_2d", (3, 5, 7), (7, 4), None),
    ("2d_times_batched", (5, 7), (3, 7, 4), None),
    ("broadcast_batches", (2, 1, 5, 7), (1, 3, 7, 4), None),
    ("batched_transposed", (2, 7, 5), (2, 7, 3), "aT"),
    ("strided_slice", (5, 14), (7, 3), "slice"),
]


@pytest.mark.parametrize("name,sa,sb,how", CASES, ids=[c[0] for c in CASES])
def test_bf16_gemm_layouts_equal_float32_products(name, sa, sb, how):
    rng = np.random.default_rng(0)
    a, b = _bf(rng, sa), _bf(rng, sb)
    if how == "aT":
        a = np.swapaxes(a, -1, -2)
    elif how == "bT":
        b = np.swapaxes(b, -1, -2)
    elif how == "slice":
        a = a[:, ::2]
    cublas = FakeCublas()
    got = B.matmul_bf16(FakeCp, _dev(a), _dev(b), cublas=cublas, handle=1)
    assert got.dtype == BF
    np.testing.assert_array_equal(np.asarray(got).astype(np.float32),
                                  _want(a, b).astype(np.float32))
    assert cublas.calls and all(c[1:3] in ((0, 0), (0, 1), (1, 0), (1, 1))
                                for c in cublas.calls)
    if how in ("aT", "bT"):  # passed transposed, not copied
        flags = cublas.calls[0][1:3]
        assert B.CUBLAS_OP_T in flags


def test_bf16_linear_passes_the_weight_transposed_and_adds_bias():
    rng = np.random.default_rng(1)
    x, w, bias = _bf(rng, (2, 3, 6)), _bf(rng, (4, 6)), _bf(rng, (4,))
    cublas = FakeCublas()
    got = B.linear_bf16(FakeCp, _dev(x), _dev(w), _dev(bias), cublas=cublas, handle=1)
    want = (_want(x.reshape(6, 6), w.T).astype(np.float32) + bias.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(got).astype(np.float32),
                                  want.astype(BF).astype(np.float32).reshape(2, 3, 4))
    (call,) = cublas.calls
    assert call[0] == "gemmEx" and call[1] == B.CUBLAS_OP_T  # the weight, untouched


def test_vectors_and_empty_products():
    rng = np.random.default_rng(2)
    v, m = _bf(rng, (7,)), _bf(rng, (7, 3))
    got = B.matmul_bf16(FakeCp, _dev(v), _dev(m), cublas=FakeCublas(), handle=1)
    assert got.dtype == BF and got.shape == (3,)
    z = B.matmul_bf16(FakeCp, _dev(_bf(rng, (4, 0))), _dev(_bf(rng, (0, 2))),
                      cublas=FakeCublas(), handle=1)
    np.testing.assert_array_equal(np.asarray(z).astype(np.float32), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(4, 3\) and \(2, 2\) do not align"):
        B.matmul_bf16(FakeCp, _dev(_bf(rng, (4, 3))), _dev(_bf(rng, (2, 2))),
                      cublas=FakeCublas(), handle=1)


def test_probe_names_the_cupy_version_needed():
    class OldCp(FakeCp):
        __version__ = "13.6.0"

        @staticmethod
        def asarray(a):
            raise TypeError("Unsupported type bfloat16")

    why = B.probe(OldCp)
    assert "CuPy 13.6.0 has no bfloat16 arrays (TypeError)" in why
    assert "needs CuPy >= 14 with ml_dtypes" in why
