"""Array kernels behind the pooling primitives.

Every kernel loops over the ``kh * kw`` kernel offsets and combines strided slices of the
(padded) input, with no Python loop over positions and no window copy. Arrays are handled
in their memory order -- (N, H, W, C) views of channels-last activations -- because NumPy's
ufuncs iterate much faster over arrays whose logical order is their memory order; results
keep the input's layout.

Max pooling sends each window's gradient to its first maximum in row-major scan order, as
PyTorch does, so a window of equal values (all zeros after a ReLU) gives one element the
gradient, not all of them.
"""

from __future__ import annotations


def out_size(size, k, s, p, d, ceil_mode):
    num = size + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside
        out -= 1
    return out


def _channels_last(x) -> bool:
    """Is an (N, C, H, W) array stored with the channels varying fastest?"""
    return x.shape[1] > 1 and x.strides[1] < x.strides[3]


def _canon(a, cl):
    """``a`` in its memory order: (N, H, W, C) when channels-last, else (N, C, H, W).
    NumPy's ufuncs iterate far faster over arrays whose logical order is their memory
    order (for boolean masks about 30 times)."""
    return a.transpose(0, 2, 3, 1) if cl else a


def _nchw(a, cl):
    return a.transpose(0, 3, 1, 2) if cl else a


def _at(cl, rows, cols):
    """Index of a (rows, cols) window in a canonical array."""
    return (slice(None), rows, cols) if cl else (slice(None), slice(None), rows, cols)


def _geometry(hw, kernel, stride, padding, dilation, ceil_mode):
    """Output size and (before, after) padding per dimension covering every window."""
    out, pads = [], []
    for size, k, s, p, d in zip(hw, kernel, stride, padding, dilation):
        o = out_size(size, k, s, p, d, ceil_mode)
        out.append(o)
        pads.append((p, max(0, (o - 1) * s + d * (k - 1) + 1 - size - p)))
    return tuple(out), tuple(pads)


def _spatial(shape, cl, hw):
    """``shape`` (canonical) with its spatial sizes replaced by ``hw``."""
    return (shape[0],) + tuple(hw) + (shape[3],) if cl else tuple(shape[:2]) + tuple(hw)


def _padded(xp, xc, cl, hw, pads, fill):
    """The canonical array ``xc`` of spatial size ``hw`` padded with ``fill``."""
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return xc
    h, w = hw
    buf = xp.full(_spatial(xc.shape, cl, (h + pt + pb, w + pl + pr)), fill, dtype=xc.dtype)
    buf[_at(cl, slice(pt, pt + h), slice(pl, pl + w))] = xc
    return buf


def _lowest(xp, dtype):
    return xp.iinfo(dtype).min if dtype.kind in "iu" else -xp.inf  # bfloat16's kind is "V"


def _windows(out_hw, kernel, stride, dilation):
    """(i, j, row slice, column slice) for each kernel offset, in scan order."""
    (ho, wo), (kh, kw), (sh, sw), (dh, dw) = out_hw, kernel, stride, dilation
    return [(i, j, slice(i * dh, i * dh + (ho - 1) * sh + 1, sh),
             slice(j * dw, j * dw + (wo - 1) * sw + 1, sw))
            for i in range(kh) for j in range(kw)]


def _first_max_masks(xp, xpad, out, cl, offsets):
    """Yield (offset, mask): where each window's first maximum in scan order lies."""
    taken = None
    last = len(offsets) - 1
    for n, off in enumerate(offsets):
        eq = xpad[_at(cl, off[2], off[3])] == out
        if taken is not None:
            xp.greater(eq, taken, out=eq)  # eq and not taken
        yield off, eq  # the caller is done with eq before it is reused as ``taken``
        if n < last:
            taken = eq if taken is None else xp.logical_or(taken, eq, out=taken)


def _overlapping(kernel, stride, dilation):
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))


def max_pool2d(xp, x, kernel, stride, padding, dilation, ceil_mode):
    cl = _channels_last(x)
    hw = x.shape[2:]
    out_hw, pads = _geometry(hw, kernel, stride, padding, dilation, ceil_mode)
    xpad = _padded(xp, _canon(x, cl), cl, hw, pads, _lowest(xp, x.dtype))
    offsets = _windows(out_hw, kernel, stride, dilation)
    y = xp.empty(_spatial(xpad.shape, cl, out_hw), dtype=x.dtype)
    y[...] = xpad[_at(cl, offsets[0][2], offsets[0][3])]
    for _, _, rows, cols in offsets[1:]:
        xp.maximum(y, xpad[_at(cl, rows, cols)], out=y)
    return _nchw(y, cl)


def _tiled_buffer(xp, shape, dtype, cl, out_hw, kernel):
    """An uninitialised buffer for windows that tile it from the top left (each element
    written once), with the rows and columns no window covers set to zero."""
    buf = xp.empty(shape, dtype=dtype)
    rows, cols = out_hw[0] * kernel[0], out_hw[1] * kernel[1]
    h, w = shape[1:3] if cl else shape[2:]
    if rows < h:
        buf[_at(cl, slice(rows, None), slice(None))] = 0
    if cols < w:
        buf[_at(cl, slice(None), slice(cols, None))] = 0
    return buf


def max_pool2d_grad(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode):
    cl = _channels_last(x)
    hw = x.shape[2:]
    out_hw, pads = _geometry(hw, kernel, stride, padding, dilation, ceil_mode)
    xpad = _padded(xp, _canon(x, cl), cl, hw, pads, _lowest(xp, x.dtype))
    gc, oc = _canon(g, cl), _canon(out, cl)
    add = _overlapping(kernel, stride, dilation)
    if not add and tuple(stride) == tuple(kernel) and tuple(dilation) == (1, 1):
        dx = _tiled_buffer(xp, xpad.shape, g.dtype, cl, out_hw, kernel)
    else:
        dx = xp.zeros(xpad.shape, dtype=g.dtype)
    for off, mask in _first_max_masks(xp, xpad, oc, cl, _windows(out_hw, kernel, stride,
                                                                   dilation)):
        target = dx[_at(cl, off[2], off[3])]
        if add:
            target += gc * mask
        else:
            xp.multiply(gc, mask, out=target)
    (pt, _), (pl, _) = pads
    return _nchw(dx[_at(cl, slice(pt, pt + hw[0]), slice(pl, pl + hw[1]))], cl)


def max_pool2d_select(xp, t, x, out, kernel, stride, padding, dilation, ceil_mode):
    cl = _channels_last(x)
    hw = x.shape[2:]
    out_hw, pads = _geometry(hw, kernel, stride, padding, dilation, ceil_mode)
    xpad = _padded(xp, _canon(x, cl), cl, hw, pads, _lowest(xp, x.dtype))
    tpad = _padded(xp, _canon(t, cl), cl, hw, pads, 0)
    oc = _canon(out, cl)
    res = xp.zeros(oc.shape, dtype=t.dtype)
    for off, mask in _first_max_masks(xp, xpad, oc, cl, _windows(out_hw, kernel, stride,
                                                                   dilation)):
        res += tpad[_at(cl, off[2], off[3])] * mask
    return _nchw(res, cl)


def max_pool2d_indices(xp, x, out, kernel, stride, padding, dilation, ceil_mode):
    cl = _channels_last(x)
    hw = x.shape[2:]
    out_hw, pads = _geometry(hw, kernel, stride, padding, dilation, ceil_mode)
    xpad = _padded(xp, _canon(x, cl), cl, hw, pads, _lowest(xp, x.dtype))
    oc = _canon(out, cl)
    idx = xp.zeros(oc.shape, dtype=xp.int64)
    rows0 = xp.arange(out_hw[0])[:, None] * stride[0] - padding[0]
    cols0 = xp.arange(out_hw[1])[None, :] * stride[1] - padding[1]
    for (i, j, _, _), mask in _first_max_masks(xp, xpad, oc, cl, _windows(
            out_hw, kernel, stride, dilation)):
        pos = (rows0 + i * dilation[0]) * hw[1] + cols0 + j * dilation[1]
        idx += (pos[:, :, None] if cl else pos) * mask
    return _nchw(idx, cl)


def _avg_scale(xp, hw, out_hw, kernel, stride, padding, count_include_pad, divisor, dtype):
    """1 / divisor: a scalar, or an (Ho, Wo) array where windows are clipped differently."""
    if divisor:
        return 1.0 / divisor
    factors = []
    for size, o, k, s, p in zip(hw, out_hw, kernel, stride, padding):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, size + p)
        count = end - start
        if not count_include_pad:
            count = xp.minimum(end, size) - xp.maximum(start, 0)
        factors.append(count)
    counts = factors[0][:, None] * factors[1][None, :]
    if (counts == counts.flat[0]).all():
        return 1.0 / float(counts.flat[0])
    return (1.0 / counts).astype(dtype)


def _avg_geometry(hw, kernel, stride, padding, ceil_mode):
    return _geometry(hw, kernel, stride, padding, (1, 1), ceil_mode)


def avg_pool2d(xp, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    cl = _channels_last(x)
    hw = x.shape[2:]
    out_hw, pads = _avg_geometry(hw, kernel, stride, padding, ceil_mode)
    xpad = _padded(xp, _canon(x, cl), cl, hw, pads, 0)
    offsets = _windows(out_hw, kernel, stride, (1, 1))
    y = xp.empty(_spatial(xpad.shape, cl, out_hw), dtype=x.dtype)
    y[...] = xpad[_at(cl, offsets[0][2], offsets[0][3])]
    for _, _, rows, cols in offsets[1:]:
        y += xpad[_at(cl, rows, cols)]
    scale = _avg_scale(xp, hw, out_hw, kernel, stride, padding, count_include_pad, divisor,
                       x.dtype)
    y *= scale[:, :, None] if cl and not isinstance(scale, float) else scale
    return _nchw(y, cl)


def avg_pool2d_grad(xp, g, input_size, kernel, stride, padding, ceil_mode, count_include_pad,
                     divisor):
    cl = _channels_last(g)
    out_hw, pads = _avg_geometry(input_size, kernel, stride, padding, ceil_mode)
    scale = _avg_scale(xp, input_size, out_hw, kernel, stride, padding, count_include_pad,
                       divisor, g.dtype)
    gs = _canon(g, cl) * (scale[:, :, None] if cl and not isinstance(scale, float) else scale)
    (pt, pb), (pl, pr) = pads
    h, w = input_size
    dx = xp.zeros(_spatial(gs.shape, cl, (h + pt + pb, w + pl + pr)), dtype=g.dtype)
    for _, _, rows, cols in _windows(out_hw, kernel, stride, (1, 1)):
        dx[_at(cl, rows, cols)] += gs
    return _nchw(dx[_at(cl, slice(pt, pt + h), slice(pl, pl + w))], cl)


# ----------------------------------------------------------------------------- primitives


# ----------------------------------------------------------------------------- 3-d, by depth


def _stages(kernel, stride, padding, dilation):
    """The (h, w) stage's and the depth stage's 2-d geometries: 3-d pooling of (N, C, D, H, W)
    is 2-d pooling of (N, C·D, H, W) followed by a (kd, 1) pooling of (N, C, D, Ho·Wo)."""
    return ((kernel[1:], stride[1:], padding[1:], dilation[1:]),
            ((kernel[0], 1), (stride[0], 1), (padding[0], 0), (dilation[0], 1)))


def max_pool3d(xp, x, kernel, stride, padding, dilation, ceil_mode):
    """3-d max pooling as two 2-d ones (``_stages``)."""
    hw, dep = _stages(kernel, stride, padding, dilation)
    n, c, d, h, w = x.shape
    y1 = max_pool2d(xp, x.reshape(n, c * d, h, w), *hw, ceil_mode)
    ho, wo = y1.shape[2:]
    y = max_pool2d(xp, y1.reshape(n, c, d, ho * wo), *dep, ceil_mode)
    return y.reshape(n, c, y.shape[2], ho, wo)


def max_pool3d_grad(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode):
    """max_pool3d's gradient through the two stages: each window's first maximum in (d, h, w)
    order (the first depth holding the maximum, then its first (h, w))."""
    hw, dep = _stages(kernel, stride, padding, dilation)
    n, c, d, h, w = x.shape
    x1 = x.reshape(n, c * d, h, w)
    y1 = max_pool2d(xp, x1, *hw, ceil_mode)
    ho, wo = y1.shape[2:]
    flat = (n, c, out.shape[2], ho * wo)
    g1 = max_pool2d_grad(xp, g.reshape(flat), y1.reshape(n, c, d, ho * wo), out.reshape(flat),
                         *dep, ceil_mode)
    dx = max_pool2d_grad(xp, g1.reshape(n, c * d, ho, wo), x1, y1, *hw, ceil_mode)
    return dx.reshape(n, c, d, h, w)


def avg_pool3d(xp, x, kernel, stride, padding, ceil_mode, count_include_pad):
    """3-d average pooling as two 2-d ones (``_stages``); window sizes are products per axis."""
    (k1, s1, p1, _), (k0, s0, p0, _) = _stages(kernel, stride, padding, (1, 1, 1))
    n, c, d, h, w = x.shape
    y1 = avg_pool2d(xp, x.reshape(n, c * d, h, w), k1, s1, p1, ceil_mode, count_include_pad, 0)
    ho, wo = y1.shape[2:]
    y = avg_pool2d(xp, y1.reshape(n, c, d, ho * wo), k0, s0, p0, ceil_mode, count_include_pad,
                   0)
    return y.reshape(n, c, y.shape[2], ho, wo)


def avg_pool3d_grad(xp, g, input_size, kernel, stride, padding, ceil_mode, count_include_pad):
    """avg_pool3d's gradient: the two stages' gradients in reverse order."""
    (k1, s1, p1, _), (k0, s0, p0, _) = _stages(kernel, stride, padding, (1, 1, 1))
    n, c, do, ho, wo = g.shape
    d, h, w = input_size
    g1 = avg_pool2d_grad(xp, g.reshape(n, c, do, ho * wo), (d, ho * wo), k0, s0, p0, ceil_mode,
                         count_include_pad, 0)
    dx = avg_pool2d_grad(xp, g1.reshape(n, c * d, ho, wo), (h, w), k1, s1, p1, ceil_mode,
                         count_include_pad, 0)
    return dx.reshape(n, c, d, h, w)
