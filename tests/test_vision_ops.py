"""ember.vision's detection ops against NumPy loop references written from torchvision's CPU
kernels (torchvision is not a dependency), plus float64 gradchecks."""

import math

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.vision import batched_nms, box_iou, deform_conv2d, nms, roi_align


def _boxes(rng, n, size=20.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


# ----------------------------------------------------------------------------- NumPy references


def ref_iou(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            area = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1])
            out[i, j] = inter / (area - inter)
    return out


def ref_nms(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    iou = ref_iou(boxes, boxes)
    keep = []
    for i in order:
        if all(iou[i, k] <= thr for k in keep):
            keep.append(i)
    return keep


def ref_bilinear_roi(img, y, x):
    h, w = img.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    if yl >= h - 1:
        yl = yh = h - 1
        y = float(yl)
    else:
        yh = yl + 1
    if xl >= w - 1:
        xl = xh = w - 1
        x = float(xl)
    else:
        xh = xl + 1
    ly, lx = y - yl, x - xl
    return ((1 - ly) * (1 - lx) * img[yl, xl] + (1 - ly) * lx * img[yl, xh]
            + ly * (1 - lx) * img[yh, xl] + ly * lx * img[yh, xh])


def ref_roi_align(x, rois, out_h, out_w, scale, ratio, aligned):
    k, c = len(rois), x.shape[1]
    out = np.zeros((k, c, out_h, out_w))
    off = 0.5 if aligned else 0.0
    for r, (b, x1, y1, x2, y2) in enumerate(rois):
        sx, sy = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sx, y2 * scale - off - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / out_h, rw / out_w
        gh = ratio if ratio > 0 else math.ceil(rh / out_h)
        gw = ratio if ratio > 0 else math.ceil(rw / out_w)
        count = max(gh * gw, 1)
        for ch in range(c):
            img = x[int(b), ch]
            for i in range(out_h):
                for j in range(out_w):
                    acc = 0.0
                    for iy in range(gh):
                        yy = sy + i * bh + (iy + 0.5) * bh / gh
                        for ix in range(gw):
                            xx = sx + j * bw + (ix + 0.5) * bw / gw
                            acc += ref_bilinear_roi(img, yy, xx)
                    out[r, ch, i, j] = acc / count
    return out


def ref_bilinear_deform(img, y, x):
    h, w = img.shape
    if y <= -1 or y >= h or x <= -1 or x >= w:
        return 0.0
    yl, xl = math.floor(y), math.floor(x)
    ly, lx = y - yl, x - xl
    total = 0.0
    for yy, wy in ((yl, 1 - ly), (yl + 1, ly)):
        for xx, wx in ((xl, 1 - lx), (xl + 1, lx)):
            if 0 <= yy < h and 0 <= xx < w:
                total += wy * wx * img[yy, xx]
    return total


def ref_deform_conv(x, offset, weight, bias, stride, pad, dil, mask):
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    groups, og = c // cg, offset.shape[1] // (2 * kh * kw)
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for b in range(n):
        for oc in range(o):
            g = oc // (o // groups)
            for yo in range(oh):
                for xo in range(ow):
                    acc = 0.0 if bias is None else bias[oc]
                    for ci in range(cg):
                        ch = g * cg + ci
                        og_i = ch // (c // og)
                        for i in range(kh):
                            for j in range(kw):
                                t = og_i * kh * kw + i * kw + j
                                y = yo * stride - pad + i * dil + offset[b, 2 * t, yo, xo]
                                xx = xo * stride - pad + j * dil + offset[b, 2 * t + 1, yo, xo]
                                v = ref_bilinear_deform(x[b, ch], y, xx)
                                if mask is not None:
                                    v *= mask[b, t, yo, xo]
                                acc += weight[oc, ci, i, j] * v
                    out[b, oc, yo, xo] = acc
    return out


# ----------------------------------------------------------------------------- boxes and nms


def test_box_iou_matches_reference():
    rng = np.random.default_rng(0)
    a, b = _boxes(rng, 7), _boxes(rng, 5)
    got = box_iou(ember.tensor(a), ember.tensor(b)).numpy()
    np.testing.assert_allclose(got, ref_iou(a, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.9])
def test_nms_matches_reference(thr):
    rng = np.random.default_rng(1)
    boxes, scores = _boxes(rng, 40), rng.uniform(size=40)
    scores[5] = scores[9]  # a tie: the lower index first
    got = nms(ember.tensor(boxes), ember.tensor(scores), thr)
    assert got.dtype == ember.int64
    assert got.numpy().tolist() == ref_nms(boxes, scores, thr)


def test_nms_empty_and_float32():
    assert nms(ember.zeros(0, 4), ember.zeros(0), 0.5).shape == (0,)
    rng = np.random.default_rng(2)
    boxes, scores = _boxes(rng, 25).astype(np.float32), rng.uniform(size=25).astype(np.float32)
    got = nms(ember.tensor(boxes), ember.tensor(scores), 0.4).numpy().tolist()
    assert got == ref_nms(boxes.astype(np.float64), scores.astype(np.float64), 0.4)


def test_batched_nms_is_nms_per_category():
    rng = np.random.default_rng(3)
    boxes, scores = _boxes(rng, 30), rng.uniform(size=30)
    idxs = rng.integers(0, 3, 30)
    got = batched_nms(ember.tensor(boxes), ember.tensor(scores), ember.tensor(idxs), 0.3)
    keep = []
    for cat in range(3):
        members = np.flatnonzero(idxs == cat)
        keep += [members[i] for i in ref_nms(boxes[members], scores[members], 0.3)]
    keep.sort(key=lambda i: -scores[i])
    assert got.numpy().tolist() == keep


# ----------------------------------------------------------------------------- roi_align


@pytest.mark.parametrize("scale,ratio,aligned,size", [
    (1.0, -1, False, 3), (0.5, 2, False, (2, 3)), (1.0, -1, True, (3, 2)), (0.25, 0, True, 2)])
def test_roi_align_matches_reference(scale, ratio, aligned, size):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 9, 11))
    boxes = _boxes(rng, 6, size=10.0 / scale)
    boxes[0] = [-3.0, -2.0, 4.0, 30.0 / scale]  # partly outside the map
    boxes[1] = [2.0, 2.0, 2.3, 2.2]  # smaller than a pixel
    rois = np.concatenate([rng.integers(0, 2, (6, 1)).astype(float), boxes], axis=1)
    got = roi_align(ember.tensor(x), ember.tensor(rois), size, scale, ratio, aligned).numpy()
    oh, ow = (size, size) if isinstance(size, int) else size
    want = ref_roi_align(x, rois, oh, ow, scale, ratio, aligned)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_roi_align_box_list_equals_rows():
    rng = np.random.default_rng(5)
    x = ember.tensor(rng.standard_normal((2, 2, 6, 6)).astype(np.float32))
    b0, b1 = _boxes(rng, 2, 5.0), _boxes(rng, 3, 5.0)
    rows = np.concatenate([np.r_[[0.0] * 2, [1.0] * 3][:, None], np.r_[b0, b1]], axis=1)
    a = roi_align(x, [ember.tensor(b0, dtype=ember.float32), ember.tensor(b1, dtype=ember.float32)],
                  2, sampling_ratio=2)
    b = roi_align(x, ember.tensor(rows, dtype=ember.float32), 2, sampling_ratio=2)
    assert a.dtype == ember.float32 and a.shape == (5, 2, 2, 2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_roi_align_gradcheck():
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    rois = ember.tensor([[0, 0.3, 0.7, 4.1, 3.9], [1, -1.0, 1.2, 7.0, 5.5],
                         [1, 2.0, 2.0, 2.5, 2.4]])
    assert gradcheck(lambda t: roi_align(t, rois, (2, 3), 1.0, -1, True), [x])
    assert gradcheck(lambda t: roi_align(t, rois, 2, 0.8, 2, False), [x])


# ----------------------------------------------------------------------------- deform_conv2d


@pytest.mark.parametrize("stride,pad,dil,groups,og,use_mask,use_bias", [
    (1, 0, 1, 1, 1, False, False), (2, 1, 1, 2, 1, True, True), (1, 2, 2, 1, 2, True, False),
    (1, 1, 1, 2, 2, False, True)])
def test_deform_conv2d_matches_reference(stride, pad, dil, groups, og, use_mask, use_bias):
    rng = np.random.default_rng(7)
    n, c, h, w, o, kh, kw = 2, 4, 6, 7, 4, 3, 2
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    x = rng.standard_normal((n, c, h, w))
    offset = rng.uniform(-2.5, 2.5, (n, 2 * og * kh * kw, oh, ow))
    weight = rng.standard_normal((o, c // groups, kh, kw))
    bias = rng.standard_normal(o) if use_bias else None
    mask = rng.uniform(size=(n, og * kh * kw, oh, ow)) if use_mask else None
    got = deform_conv2d(ember.tensor(x), ember.tensor(offset), ember.tensor(weight),
                        None if bias is None else ember.tensor(bias), stride, pad, dil,
                        None if mask is None else ember.tensor(mask)).numpy()
    want = ref_deform_conv(x, offset, weight, bias, stride, pad, dil, mask)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_deform_conv2d_zero_offset_is_conv2d():
    rng = np.random.default_rng(8)
    x = ember.tensor(rng.standard_normal((1, 2, 5, 5)).astype(np.float32))
    wt = ember.tensor(rng.standard_normal((3, 2, 3, 3)).astype(np.float32))
    got = deform_conv2d(x, ember.zeros(1, 18, 5, 5), wt, padding=1)
    want = ember.nn.functional.conv2d(x, wt, padding=1)
    assert got.dtype == ember.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_deform_conv2d_gradcheck():
    rng = np.random.default_rng(9)
    x = ember.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    # offsets away from integers: bilinear sampling is not differentiable at a grid line
    offset = ember.tensor(rng.uniform(0.1, 0.4, (1, 8, 3, 3)) * rng.choice([-1, 1], (1, 8, 3, 3))
                          + rng.integers(-1, 2, (1, 8, 3, 3)), requires_grad=True)
    weight = ember.tensor(rng.standard_normal((2, 2, 2, 2)), requires_grad=True)
    bias = ember.tensor(rng.standard_normal(2), requires_grad=True)
    mask = ember.tensor(rng.uniform(size=(1, 4, 3, 3)), requires_grad=True)
    assert gradcheck(lambda a, b, c, d, e: deform_conv2d(a, b, c, d, mask=e),
                     [x, offset, weight, bias, mask])
