"""ember.linalg against torch.linalg: forward (float32/float64, batched), gradients, float64
gradcheck and gradgradcheck, and every bad-input error."""

import math

import numpy as np
import pytest
import torch

import ember
import ember.linalg as LA
from ember.autograd import gradcheck, gradgradcheck
from ember.errors import DTypeError, LinAlgError, ShapeError

# ----------------------------------------------------------------------------- inputs


def _orth(rng, batch, n):
    q, r = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def well(batch, m, n=None):
    """Random (…, m, n) matrices with distinct singular values between 1 and 3."""
    def make(rng):
        k = min(m, n or m)
        s = rng.permutation(np.linspace(1.0, 3.0, k))
        u = _orth(rng, batch, m)[..., :k]
        v = _orth(rng, batch, n or m)[..., :k]
        return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)
    return make


def sym(batch, n):
    """Symmetric matrices with distinct eigenvalues in [-2, 3]."""
    def make(rng):
        q = _orth(rng, batch, n)
        w = rng.permutation(np.linspace(-2.0, 3.0, n))
        return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
    return make


def spd(batch, n):
    def make(rng):
        x = rng.standard_normal(batch + (n, n))
        return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)
    return make


def real_eig(batch, n):
    """Non-symmetric matrices with distinct real eigenvalues."""
    def make(rng):
        p = rng.standard_normal(batch + (n, n)) + 2 * np.eye(n)
        d = rng.permutation(np.linspace(-2.0, 3.0, n))
        return (p * d[..., None, :]) @ np.linalg.inv(p)
    return make


def vec(*shape):
    return lambda rng: rng.standard_normal(shape)


class TorchLinalg:
    """torch.linalg with eig returning real tensors, as ember does."""

    def __getattr__(self, name):
        return getattr(torch.linalg, name)

    @staticmethod
    def eig(a):
        w, v = torch.linalg.eig(a)
        return w.real, v.real


TL = TorchLinalg()


def _sym(a):
    return (a + a.mT) * 0.5


# Each case: L is ember.linalg or TorchLinalg; outputs are invariant to the sign/order
# freedom of the decompositions, so ember and PyTorch must agree on them.
CASES = {
    "inv": (lambda L, a: L.inv(a), [well((2,), 3)]),
    "det": (lambda L, a: L.det(a), [well((2,), 3)]),
    "slogdet": (lambda L, a: L.slogdet(a), [well((2,), 3)]),
    "solve_vector": (lambda L, a, b: L.solve(a, b), [well((), 3), vec(3)]),
    "solve_batch": (lambda L, a, b: L.solve(a, b), [well((2,), 3), vec(2, 3, 2)]),
    "solve_broadcast": (lambda L, a, b: L.solve(a, b), [well((2, 1), 3), vec(3, 3, 1)]),
    "cholesky": (lambda L, a: L.cholesky(_sym(a)), [spd((2,), 3)]),
    "cholesky_upper": (lambda L, a: L.cholesky(_sym(a), upper=True), [spd((), 3)]),
    "qr_tall": (lambda L, a: L.qr(a), [well((2,), 4, 3)]),
    "qr_wide": (lambda L, a: L.qr(a), [well((), 3, 4)]),
    "svd": (lambda L, a: (lambda u, s, vh: (s, u @ vh, u[..., :1] * u[..., :1].mT))(
        *L.svd(a, full_matrices=False)), [well((2,), 3)]),
    "svd_tall": (lambda L, a: (lambda u, s, vh: (s, u @ vh, u[..., 1:2] @ u[..., 1:2].mT))(
        *L.svd(a, full_matrices=False)), [well((), 4, 3)]),
    "svd_wide_full": (lambda L, a: (lambda u, s, vh: (s, u @ vh[..., :3, :]))(*L.svd(a)),
                      [well((), 3, 4)]),
    "svdvals": (lambda L, a: L.svdvals(a), [well((2,), 4, 3)]),
    "eigh": (lambda L, a: (lambda w, v: (w, v * v))(*L.eigh(_sym(a))), [sym((2,), 3)]),
    "eigvalsh": (lambda L, a: L.eigvalsh(_sym(a)), [sym((2,), 3)]),
    "eig": (lambda L, a: (lambda w, v: (w, v * v))(*L.eig(a)), [real_eig((2,), 3)]),
    "pinv_tall": (lambda L, a: L.pinv(a), [well((2,), 4, 3)]),
    "pinv_wide": (lambda L, a: L.pinv(a), [well((), 2, 4)]),
    "matrix_power": (lambda L, a: L.matrix_power(a, 3), [well((2,), 3)]),
    "matrix_power_neg": (lambda L, a: L.matrix_power(a, -2), [well((), 3)]),
    "norm_nuc": (lambda L, a: L.matrix_norm(a, "nuc"), [well((2,), 4, 3)]),
    "norm_2": (lambda L, a: L.norm(a, 2, dim=(0, 2)), [well((3,), 4)]),
    "norm_-2": (lambda L, a: L.matrix_norm(a, -2, keepdim=True), [well((2,), 3)]),
}


def _inputs(case, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [make(rng).astype(dtype) for make in CASES[case][1]]


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _ember(arrays, grad=False):
    return [ember.from_numpy(a.copy()).requires_grad_(grad) for a in arrays]


def _torch(arrays, grad=False):
    return [torch.tensor(a, requires_grad=grad) for a in arrays]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(CASES))
def test_forward_matches_torch(case, dtype):
    fn = CASES[case][0]
    arrays = _inputs(case, dtype)
    ours = _flat(fn(LA, *_ember(arrays)))
    ref = _flat(fn(TL, *_torch(arrays)))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert len(ours) == len(ref)
    for o, r in zip(ours, ref):
        assert o.data.dtype == dtype
        np.testing.assert_allclose(o.data, r.detach().numpy(), **tol)


@pytest.mark.parametrize("case", list(CASES))
def test_gradient_matches_torch(case):
    fn = CASES[case][0]
    arrays = _inputs(case)
    rng = np.random.default_rng(1)
    xs, ts = _ember(arrays, True), _torch(arrays, True)
    ours, ref = _flat(fn(LA, *xs)), _flat(fn(TL, *ts))
    weights = [rng.standard_normal(r.shape) for r in ref]
    sum(((o * ember.from_numpy(w)).sum() for o, w in zip(ours, weights)), ember.zeros(
        (), dtype=ember.float64)).backward()
    sum((r * torch.tensor(w)).sum() for r, w in zip(ref, weights)).backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_gradcheck(case):
    fn = CASES[case][0]
    assert gradcheck(lambda *a: fn(LA, *a), _ember(_inputs(case), True))


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith("norm")])
def test_gradgradcheck(case):
    fn = CASES[case][0]
    assert gradgradcheck(lambda *a: fn(LA, *a), _ember(_inputs(case), True))


# ----------------------------------------------------------------------------- specific behaviour


def test_symmetric_gradients_match_torch_without_symmetrising():
    rng = np.random.default_rng(2)
    for name, make in (("cholesky", spd((), 3)), ("eigh", sym((), 3))):
        a = make(rng)
        x, t = ember.from_numpy(a.copy()).requires_grad_(), torch.tensor(a, requires_grad=True)
        w = rng.standard_normal((3, 3))
        ours, ref = _flat(getattr(LA, name)(x)), _flat(getattr(torch.linalg, name)(t))
        (ours[-1] * ember.from_numpy(w)).sum().backward()
        (ref[-1] * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(x.grad.data, x.grad.data.T, atol=1e-12)


def test_cholesky_and_eigh_read_the_lower_triangle_like_torch():
    a = spd((), 3)(np.random.default_rng(12))
    a[0, 2] += 5.0  # only the upper triangle changes
    for name in ("cholesky", "eigvalsh"):
        np.testing.assert_allclose(getattr(LA, name)(ember.from_numpy(a)).data,
                                   getattr(torch.linalg, name)(torch.tensor(a)).numpy(),
                                   atol=1e-12)


def test_det_gradient_of_singular_matrix_is_the_cofactor_matrix():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [5.0, 7.0, 9.0]])  # row 3 = row 1 + row 2
    x = ember.from_numpy(a.copy()).requires_grad_()
    LA.det(x).backward()
    cof = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1))
                     for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(x.grad.data, cof, atol=1e-12)
    assert np.abs(cof).max() > 1  # the test is not trivially about zeros


def test_slogdet_sign_of_negative_determinant():
    sign, logabs = LA.slogdet(ember.tensor([[0.0, 2.0], [3.0, 0.0]], dtype=ember.float64))
    assert sign.item() == -1.0
    assert abs(logabs.item() - math.log(6.0)) < 1e-14


def test_svd_full_matrices_shapes_and_reconstruction():
    a = well((2,), 5, 3)(np.random.default_rng(3))
    u, s, vh = LA.svd(ember.from_numpy(a))
    assert (u.shape, s.shape, vh.shape) == ((2, 5, 5), (2, 3), (2, 3, 3))
    np.testing.assert_allclose(u.data.transpose(0, 2, 1) @ u.data, np.broadcast_to(np.eye(5),
                               (2, 5, 5)), atol=1e-12)
    np.testing.assert_allclose((u.data[..., :3] * s.data[:, None]) @ vh.data, a, atol=1e-12)
    np.testing.assert_allclose(s.data, torch.linalg.svdvals(torch.tensor(a)).numpy(), rtol=1e-12)


def test_qr_complete_matches_torch():
    a = np.random.default_rng(4).standard_normal((5, 3))
    q, r = LA.qr(ember.from_numpy(a), mode="complete")
    qt, rt = torch.linalg.qr(torch.tensor(a), mode="complete")
    np.testing.assert_allclose(q.data, qt.numpy(), atol=1e-12)
    np.testing.assert_allclose(r.data, rt.numpy(), atol=1e-12)


def test_pinv_of_rank_deficient_matrix_matches_torch():
    a = np.random.default_rng(5).standard_normal((4, 2)) @ np.random.default_rng(6).standard_normal(
        (2, 3))
    np.testing.assert_allclose(LA.pinv(ember.from_numpy(a)).data,
                               torch.linalg.pinv(torch.tensor(a)).numpy(), atol=1e-12)
    s = sym((), 4)(np.random.default_rng(7))
    np.testing.assert_allclose(LA.pinv(ember.from_numpy(s), hermitian=True).data,
                               np.linalg.inv(s), atol=1e-12)


def test_matrix_power_zero_and_one():
    a = ember.from_numpy(well((2,), 3)(np.random.default_rng(8)))
    np.testing.assert_array_equal(LA.matrix_power(a, 0).data, np.broadcast_to(np.eye(3),
                                  (2, 3, 3)))
    np.testing.assert_array_equal(LA.matrix_power(a, 1).data, a.data)


NORMS = [  # (ord, dim, keepdim, shape)
    (None, None, False, (2, 3, 4)), (None, None, True, (3, 4)), (3, None, False, (5,)),
    (math.inf, None, False, (5,)), (-math.inf, 0, True, (4, 3)), (0, -1, False, (2, 5)),
    (1, (1,), False, (2, 5)), (0.5, 1, False, (3, 4)),
    ("fro", None, False, (3, 4)), ("nuc", None, False, (3, 4)), (2, None, False, (4, 3)),
    (-2, None, False, (3, 4)), (1, None, False, (3, 4)), (-1, None, False, (3, 4)),
    (math.inf, None, False, (3, 4)), (-math.inf, None, True, (3, 4)),
    ("fro", (0, 2), True, (3, 2, 4)), (1, (2, 0), False, (3, 2, 4)),
    (math.inf, (-1, 0), True, (3, 2, 4)), ("nuc", (2, 0), True, (3, 2, 4)),
]


@pytest.mark.parametrize("ord, dim, keepdim, shape", NORMS)
def test_norm_matches_torch(ord, dim, keepdim, shape):
    a = np.random.default_rng(9).standard_normal(shape)
    x, t = ember.from_numpy(a.copy()).requires_grad_(), torch.tensor(a, requires_grad=True)
    ours, ref = LA.norm(x, ord, dim, keepdim), torch.linalg.norm(t, ord, dim, keepdim)
    assert ours.shape == tuple(ref.shape)
    np.testing.assert_allclose(ours.data, ref.detach().numpy(), rtol=1e-12)
    w = np.random.default_rng(10).standard_normal(ref.shape)
    (ours * ember.from_numpy(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    expected = np.zeros(shape) if t.grad is None else t.grad.numpy()  # ord 0: no gradient
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-9, atol=1e-12)


def test_norm_float32_and_matrix_norm_default():
    a = np.random.default_rng(11).standard_normal((2, 3, 4)).astype(np.float32)
    ours = LA.matrix_norm(ember.from_numpy(a))
    assert ours.dtype == ember.float32
    np.testing.assert_allclose(ours.data, torch.linalg.matrix_norm(torch.tensor(a)).numpy(),
                               rtol=1e-6)


# ----------------------------------------------------------------------------- errors


def _f64(a):
    return ember.tensor(a, dtype=ember.float64)


SINGULAR = [[1.0, 2.0], [2.0, 4.0]]


@pytest.mark.parametrize("call, err, pattern", [
    (lambda: LA.inv(_f64(SINGULAR)), LinAlgError, r"linalg\.inv: the matrix is singular.*"
     r"\(2, 2\).*pinv"),
    (lambda: LA.inv(_f64([[1e-320, 0.0], [0.0, 1.0]])), LinAlgError,
     r"linalg\.inv: .*singular.*pinv"),
    (lambda: LA.solve(_f64(SINGULAR), _f64([1.0, 1.0])), LinAlgError,
     r"linalg\.solve: the matrix A is singular.*\(2, 2\).*\(2,\).*lstsq"),
    (lambda: LA.solve(_f64([[1e-320, 0.0], [0.0, 1.0]]), _f64([1.0, 1.0])), LinAlgError,
     r"linalg\.solve: .*singular \(to working precision\)"),
    (lambda: LA.cholesky(_f64([[1.0, 2.0], [2.0, 1.0]])), LinAlgError,
     r"linalg\.cholesky: the matrix is not positive-definite"),
    (lambda: LA.eig(_f64([[0.0, 1.0], [-1.0, 0.0]])), DTypeError, r"eig: .*complex.*eigh"),
    (lambda: LA.inv(ember.ones(2, 3)), ShapeError, r"linalg\.inv: expected square .*\(2, 3\)"),
    (lambda: LA.det(ember.ones(3)), ShapeError, r"linalg\.det: expected a matrix.*\(3,\)"),
    (lambda: LA.slogdet(ember.ones(2, 2, 3)), ShapeError, r"linalg\.slogdet: .*square"),
    (lambda: LA.solve(ember.eye(3), ember.ones(2)), ShapeError,
     r"linalg\.solve: B must have 3 rows.*\(3, 3\).*\(2,\)"),
    (lambda: LA.solve(ember.ones(2, 3, 3), ember.ones(3, 3, 1)), ShapeError,
     r"linalg\.solve: the batch dimensions \(2,\) of A and \(3,\) of B do not broadcast"),
    (lambda: LA.inv(ember.tensor([[1, 2], [3, 4]])), DTypeError,
     r"linalg\.inv: expected float32 or float64, got int64"),
    (lambda: LA.qr(ember.ones(3, 3), mode="r"), ValueError, r"linalg\.qr: mode"),
    (lambda: LA.matrix_norm(ember.ones(3, 3), ord=3), ValueError, r"unsupported ord 3"),
    (lambda: LA.matrix_norm(ember.ones(3, 3), dim=(0, 0)), ShapeError, r"two distinct dims"),
    (lambda: LA.norm(ember.ones(3), "fro"), ValueError, r"linalg\.norm: ord 'fro'"),
    (lambda: LA.norm(ember.ones(2, 2, 2), 2), ShapeError, r"linalg\.norm: .*1-D or 2-D"),
    (lambda: LA.inv([[1.0]]), TypeError, r"linalg\.inv: expected an ember\.Tensor"),
])
def test_errors(call, err, pattern):
    with pytest.raises(err, match=pattern):
        call()


def test_qr_complete_gradient_of_tall_matrix_raises():
    x = ember.randn(4, 2, dtype=ember.float64, requires_grad=True)
    q, r = LA.qr(x, mode="complete")
    with pytest.raises(RuntimeError, match="mode='complete'"):
        (q.sum() + r.sum()).backward()
