"""Convolutions against PyTorch: functional forms and layers (outputs and every gradient),
float64 gradchecks and double backward of the three conv primitives, reprs and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from ember.errors import DTypeError, ShapeError

from .torch_compare import assert_close, compare

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")


def _channels_last(a):
    """The same values stored (N, H, W, C), as ember's conv outputs are."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose(0, 3, 1, 2)


def _run(efn, tfn, shapes, dtype="float64", seed=0, layout=None):
    """Call efn/tfn on random inputs of ``shapes``; compare outputs and all gradients."""
    rng = np.random.default_rng(seed)
    arrays = [None if s is None else rng.standard_normal(s).astype(dtype) for s in shapes]
    e_in = []
    for i, a in enumerate(arrays):
        if a is None:
            e_in.append(None)
            continue
        data = layout(a) if (layout is not None and i == 0) else a.copy()
        e_in.append(ember.Tensor(data, requires_grad=True))
    t_in = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    e_out, t_out = efn(*e_in), tfn(*t_in)
    assert_close(e_out, t_out, dtype, "output")
    g = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    e_out.backward(ember.tensor(g))
    t_out.backward(torch.tensor(g))
    for i, (e, t) in enumerate(zip(e_in, t_in)):
        if t is not None:
            assert_close(e.grad, t.grad, dtype, f"gradient of argument {i}")


CONV2D = [  # (input shape, weight shape, bias, keyword arguments)
    ((2, 3, 7, 8), (4, 3, 3, 3), True, {}),
    ((2, 4, 9, 8), (6, 2, 3, 2), True, dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                                            groups=2)),
    ((1, 6, 10, 9), (6, 1, 3, 3), False, dict(stride=2, padding=1, groups=6)),
    ((2, 4, 9, 8), (4, 4, 2, 2), True, dict(padding="same")),
    ((2, 4, 9, 8), (8, 2, 3, 4), True, dict(padding="same", dilation=(1, 2), groups=2)),
    ((2, 5, 6, 7), (3, 5, 3, 3), True, dict(padding="valid", stride=3)),
    ((3, 16, 5, 5), (8, 16, 1, 1), True, {}),
    ((2, 3, 5, 6), (2, 3, 5, 6), True, {}),  # kernel as large as the input
    ((6, 6, 7), (4, 6, 2, 3), True, dict(padding=1)),  # unbatched
]


@pytest.mark.parametrize("layout", [None, _channels_last], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("xs, ws, bias, kw", CONV2D, ids=[str(i) for i in range(len(CONV2D))])
def test_conv2d_matches_torch(xs, ws, bias, kw, layout):
    if layout is not None and len(xs) != 4:
        layout = None
    _run(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
         [xs, ws, (ws[0],) if bias else None], layout=layout)


def test_conv2d_float32():
    kw = dict(stride=2, padding=1, groups=2)
    _run(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
         [(4, 8, 12, 11), (16, 4, 3, 3), (16,)], dtype="float32")


def test_conv2d_input_without_grad_still_gives_weight_grad():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    we = ember.tensor(w, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    F.conv2d(ember.tensor(x), we).sum().backward()
    TF.conv2d(torch.tensor(x), wt).sum().backward()
    assert_close(we.grad, wt.grad, "float64", "weight gradient")


@pytest.mark.parametrize("layout", [None, _channels_last], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, groups=2),
                                dict(padding=(2, 0), dilation=2)], ids=["same", "s2g2", "dil"])
def test_image_slabs_match_torch(monkeypatch, kw, layout):
    """im2col and col2im in many small slabs of images give the same values."""
    from ember.ops import conv_kernels

    monkeypatch.setattr(conv_kernels, "CHUNK_BYTES", 512)
    groups = kw.get("groups", 1)
    _run(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
         [(5, 4, 7, 6), (6, 4 // groups, 3, 3), (6,)], layout=layout)
    _run(lambda x, w: F.conv2d(x, w, **kw), lambda x, w: TF.conv2d(x, w, **kw),
         [(5, 2, 9, 8), (4, 2 // groups, 3, 2)])  # few NCHW channels: transposed columns


CONV1D = [
    ((2, 3, 11), (4, 3, 3), True, dict(stride=2, padding=1, dilation=2)),
    ((2, 4, 10), (6, 2, 4), False, dict(padding="same", groups=2)),
    ((3, 9), (5, 3, 2), True, {}),
]


@pytest.mark.parametrize("xs, ws, bias, kw", CONV1D, ids=[str(i) for i in range(len(CONV1D))])
def test_conv1d_matches_torch(xs, ws, bias, kw):
    _run(lambda x, w, b: F.conv1d(x, w, b, **kw), lambda x, w, b: TF.conv1d(x, w, b, **kw),
         [xs, ws, (ws[0],) if bias else None])


TRANSPOSE2D = [
    ((2, 4, 5, 6), (4, 3, 3, 3), True, {}),
    ((2, 4, 5, 6), (4, 2, 3, 2), True, dict(stride=(2, 3), padding=(1, 0),
                                            output_padding=(1, 2), groups=2, dilation=(1, 2))),
    ((1, 6, 4, 4), (6, 1, 4, 4), False, dict(stride=2, padding=1, groups=3)),
    ((3, 4, 5), (3, 2, 2, 2), True, dict(stride=2, dilation=2, output_padding=1)),
]


@pytest.mark.parametrize("xs, ws, bias, kw", TRANSPOSE2D,
                         ids=[str(i) for i in range(len(TRANSPOSE2D))])
def test_conv_transpose2d_matches_torch(xs, ws, bias, kw):
    groups = kw.get("groups", 1)
    _run(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
         lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
         [xs, ws, (ws[1] * groups,) if bias else None])


def test_conv_transpose1d_matches_torch():
    kw = dict(stride=3, padding=1, output_padding=2, dilation=1)
    _run(lambda x, w, b: F.conv_transpose1d(x, w, b, **kw),
         lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw), [(2, 3, 7), (3, 5, 4), (5,)])


@pytest.mark.parametrize("kw", [dict(groups=1), dict(stride=2, padding=1, dilation=(2, 1),
                                                     groups=2)], ids=["plain", "strided_grouped"])
def test_conv_primitives_gradcheck_and_double_backward(kw):
    rng = np.random.default_rng(2)

    def t(*shape):
        return ember.tensor(rng.standard_normal(shape), requires_grad=True)

    cg = 4 // kw["groups"]
    x, w, b = t(1, 4, 5, 4), t(2, cg, 3, 2), t(2)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))
    y, wt = t(1, 4, 3, 3), t(4, 2 // kw["groups"], 2, 3)
    assert gradcheck(lambda y, w: F.conv_transpose2d(y, w, **kw), (y, wt))
    assert gradgradcheck(lambda y, w: F.conv_transpose2d(y, w, **kw), (y, wt))


def test_conv2d_weight_primitive_gradcheck():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    g = ember.tensor(rng.standard_normal((2, 3, 3, 4)), requires_grad=True)
    attrs = dict(kernel_size=(2, 2), stride=(2, 1), padding=((0, 1), (1, 0)),
                 dilation=(1, 1), groups=1)
    assert gradcheck(lambda x, g: ember.ops.diff.conv2d_weight(x, g, **attrs), (x, g))


LAYERS = [
    ("Conv2d", (3, 6, 3), dict(stride=2, padding=1), (2, 3, 9, 8)),
    ("Conv2d", (4, 6, (3, 2)), dict(padding=(2, 1), padding_mode="reflect", groups=2),
     (2, 4, 7, 6)),
    ("Conv2d", (4, 4, 3), dict(padding="same", padding_mode="replicate", dilation=2),
     (1, 4, 8, 9)),
    ("Conv2d", (2, 3, 4), dict(padding="same", padding_mode="circular", bias=False),
     (2, 2, 6, 5)),
    ("Conv2d", (2, 3, 3), dict(padding=1, padding_mode="zeros"), (2, 6, 5)),
    ("Conv1d", (3, 5, 3), dict(stride=2, padding=2, padding_mode="reflect"), (2, 3, 10)),
    ("Conv1d", (4, 4, 2), dict(padding="same", groups=4, padding_mode="circular"), (2, 4, 9)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 4, 5)),
    ("ConvTranspose1d", (3, 2, 4), dict(stride=2, bias=False), (2, 3, 6)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, args, kw, shape", LAYERS, ids=[str(i) for i in range(len(LAYERS))])
def test_layers_match_torch(name, args, kw, shape, dtype):
    torch.manual_seed(0)
    e_mod, t_mod = getattr(ember.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(e_mod) == repr(t_mod)
    x = np.random.default_rng(4).standard_normal(shape)
    compare(e_mod, t_mod, [x], dtype=dtype)


def test_conv_transpose2d_output_size():
    torch.manual_seed(0)
    e_mod = ember.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    t_mod = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    x = np.random.default_rng(5).standard_normal((1, 3, 4, 5))
    compare(e_mod, t_mod, [x], kwargs=dict(output_size=(8, 10)))
    with pytest.raises(ShapeError, match=r"ConvTranspose2d\(3, 2.*valid sizes for dimension 0 "
                                         r"range from 7 to 8"):
        e_mod(ember.randn(1, 3, 4, 5, dtype=ember.float64), output_size=(9, 10))


def test_default_initialisation_bounds():
    ember.manual_seed(0)
    conv = ember.nn.Conv2d(8, 64, 3)
    bound = 1 / math.sqrt(8 * 9)  # kaiming-uniform(a=sqrt(5)) on fan_in = 72
    w = np.abs(conv.weight.data)
    assert w.max() <= bound and w.max() > 0.95 * bound
    b = np.abs(conv.bias.data)
    assert b.max() <= bound and b.max() > 0.7 * bound
    t = ember.nn.ConvTranspose2d(8, 4, 3, groups=2)
    assert np.abs(t.weight.data).max() <= 1 / math.sqrt(2 * 9)  # fan_in = (4 / 2) * 9


def test_layer_errors():
    conv = ember.nn.Conv2d(3, 16, 3)
    with pytest.raises(ShapeError, match=r"^Conv2d\(3, 16, kernel_size=\(3, 3\)\): expected "
                                         r"input with 3 channels \(N, C, H, W\), got shape "
                                         r"\(8, 4, 32, 32\)"):
        conv(ember.randn(8, 4, 32, 32))
    with pytest.raises(ShapeError, match=r"Conv2d\(3, 16.*expected a 4-d input .*got shape "
                                         r"\(8, 3\)"):
        conv(ember.randn(8, 3))
    with pytest.raises(ShapeError, match=r"Conv2d\(3, 16.*kernel \(3, 3\).*larger than the "
                                         r"padded input \(2, 2\)"):
        conv(ember.randn(1, 3, 2, 2))
    with pytest.raises(ShapeError, match=r"Conv1d\(2, 4.*expected input with 2 channels "
                                         r"\(N, C, L\), got shape \(1, 3, 8\)"):
        ember.nn.Conv1d(2, 4, 3)(ember.randn(1, 3, 8))
    with pytest.raises(DTypeError, match="Conv2d"):
        conv(ember.randn(1, 3, 5, 5, dtype=ember.float64))
    with pytest.raises(ValueError, match="divisible by groups"):
        ember.nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        ember.nn.Conv2d(3, 6, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided"):
        ember.nn.Conv2d(3, 6, 3, stride=2, padding="same")
    with pytest.raises(ShapeError, match=r"Conv2d\(2, 2.*reflect padding"):
        ember.nn.Conv2d(2, 2, 5, padding=3, padding_mode="reflect")(ember.randn(1, 2, 3, 3))


def test_functional_errors():
    x, w = ember.randn(2, 3, 8, 8), ember.randn(4, 3, 3, 3)
    with pytest.raises(ShapeError, match=r"conv2d: expected input with 3 channels .*got 5"):
        F.conv2d(ember.randn(2, 5, 8, 8), w)
    with pytest.raises(ShapeError, match=r"conv2d: the kernel \(3, 3\) \(dilated extent "
                                         r"\(5, 5\)\) is larger than the padded input"):
        F.conv2d(ember.randn(2, 3, 4, 4), w, dilation=2)
    with pytest.raises(ShapeError, match=r"conv2d: expected a 4-d input"):
        F.conv2d(ember.randn(8, 8), w)
    with pytest.raises(ShapeError, match=r"conv2d: expected a 4-d weight, got 3-d"):
        F.conv2d(x, ember.randn(4, 3, 3))
    with pytest.raises(ShapeError, match=r"bias must be a tensor of shape \(4,\)"):
        F.conv2d(x, w, ember.randn(3))
    with pytest.raises(ValueError, match="padding must be an int, a tuple, 'same' or 'valid'"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(DTypeError, match="floating-point"):
        F.conv2d(ember.ones(2, 3, 8, 8, dtype=ember.int64), w)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, ember.randn(3, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ShapeError, match=r"conv_transpose2d: expected input with 4 channels"):
        F.conv_transpose2d(x, ember.randn(4, 2, 3, 3))
