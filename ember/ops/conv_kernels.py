"""Array kernels behind the convolution primitives: im2col + matmul, and col2im.

The columns of im2col are nine times the input for a 3x3 kernel, far larger than the CPU
caches for a batch of images, so they are built and consumed a slab of images at a time
(about ``CHUNK_BYTES`` of columns per slab): the copy writes into a buffer that stays in
cache and the matmul reads it from there, which halves the time of both on large layers.
4 MiB measured best on this project's 2-core machine (2-5% over 1 MiB with one BLAS thread,
up to 15% with two, whose matmuls want longer slabs; 16 MiB, out of cache, is 20-60% slower).

Activations are NCHW arrays stored channels-last (the strides of an (N, H, W, C) array): the
matmul then writes its (N*H*W, C_out) result in place, and im2col copies runs of
``kw * C`` contiguous values. Inputs in NCHW memory with few channels (a first layer) use
transposed columns, whose copies run along image rows instead.

Every function takes the array module ``xp`` first (NumPy here; the same code runs on CuPy).
"""

from __future__ import annotations

CHUNK_BYTES = 1 << 22


def out_size(size, kernel, stride, pad, dilation):
    """Output length of a convolution along one dimension; ``pad`` is (before, after)."""
    return (size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


def _nhwc(xp, x, padding):
    """``x`` (N, C, H, W) as a contiguous zero-padded (N, H + pads, W + pads, C) array."""
    xh = x.transpose(0, 2, 3, 1)
    (pt, pb), (pl, pr) = padding
    if not (pt or pb or pl or pr):
        return xh if xh.flags.c_contiguous else xp.ascontiguousarray(xh)
    n, h, w, c = xh.shape
    buf = xp.zeros((n, h + pt + pb, w + pl + pr, c), dtype=x.dtype)
    buf[:, pt:pt + h, pl:pl + w] = xh
    return buf


def _nchw(xp, x, padding):
    """``x`` (N, C, H, W) zero-padded, as a contiguous NCHW array."""
    (pt, pb), (pl, pr) = padding
    if not (pt or pb or pl or pr):
        return x if x.flags.c_contiguous else xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    buf = xp.zeros((n, c, h + pt + pb, w + pl + pr), dtype=x.dtype)
    buf[:, :, pt:pt + h, pl:pl + w] = x
    return buf


def _rows_layout(x, kw, groups, wo) -> bool:
    """Columns as (N*Ho*Wo, K) rows, or transposed: whichever copies longer runs."""
    if x.flags.c_contiguous:  # NCHW memory (also when C == 1): runs of kw * C/G, or of Wo
        return kw * x.shape[1] // groups >= wo
    return True


def _slab(n, per_image_bytes):
    return max(1, min(n, CHUNK_BYTES // max(per_image_bytes, 1)))


def column_slabs(xp, x, kernel, stride, padding, dilation, groups, out_hw):
    """Yield ``(lo, hi, cols, order)``: the im2col columns of images ``lo:hi`` as a
    (G, rows, K/G) array, valid until the next item, and the order of K ("hwc"/"chw")."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    n, c = x.shape[:2]
    cg = c // groups
    kg = kh * kw * cg
    nb = _slab(n, ho * wo * kg * x.itemsize)
    strided = xp.lib.stride_tricks.as_strided
    if kh == kw == 1 and (sh, sw) == (1, 1) and not any(padding[0] + padding[1]) \
            and x.transpose(0, 2, 3, 1).flags.c_contiguous:  # a 1x1 conv reads x itself
        cols = x.transpose(0, 2, 3, 1).reshape(-1, groups, cg).transpose(1, 0, 2)
        yield 0, n, cols, "hwc"
        return
    if _rows_layout(x, kw, groups, wo):
        xh = _nhwc(xp, x, padding)
        s0, s1, s2, s3 = xh.strides
        view = strided(xh, (n, ho, wo, groups, kh, kw, cg),
                       (s0, s1 * sh, s2 * sw, s3 * cg, s1 * dh, s2 * dw, s3))
        buf = xp.empty((nb,) + view.shape[1:], dtype=x.dtype)
        for lo in range(0, n, nb):
            hi = min(n, lo + nb)
            b = buf[:hi - lo]
            b[...] = view[lo:hi]
            yield lo, hi, b.reshape(-1, groups, kg).transpose(1, 0, 2), "hwc"
        return
    xc = _nchw(xp, x, padding)
    s0, s1, s2, s3 = xc.strides
    view = strided(xc, (groups, cg, kh, kw, n, ho, wo),
                   (s1 * cg, s1, s2 * dh, s3 * dw, s0, s2 * sh, s3 * sw))
    for lo in range(0, n, nb):
        hi = min(n, lo + nb)
        b = xp.ascontiguousarray(view[:, :, :, :, lo:hi])
        yield lo, hi, b.reshape(groups, kg, -1).transpose(0, 2, 1), "chw"


def weight_matrix(xp, w, groups, order):
    """Weights (O, C/G, kh, kw) as (G, K/G, O/G), K in the columns' order."""
    o, cg, kh, kw = w.shape
    if order == "chw":
        return w.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    wk = w.reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 2, 1)
    return xp.ascontiguousarray(wk).reshape(groups, kh * kw * cg, o // groups)


def channels_last_matrix(xp, g):
    """(N, C, H, W) as an (N*H*W, C) matrix (a view when ``g`` is stored channels-last)."""
    gh = g.transpose(0, 2, 3, 1)
    if not gh.flags.c_contiguous:
        gh = xp.ascontiguousarray(gh)
    return gh.reshape(-1, g.shape[1])


def channel_sum(xp, g):
    """Sum over N, H and W of an (N, C, H, W) array (the bias gradient).

    Channels-last memory is summed as (N*H, W*C) rows, so the inner loop runs over whole
    image rows rather than C values at a time.
    """
    gh = g.transpose(0, 2, 3, 1)
    if not gh.flags.c_contiguous:
        return g.sum(axis=(0, 2, 3))
    n, h, w, c = gh.shape
    return gh.reshape(n * h, w * c).sum(axis=0).reshape(w, c).sum(axis=0)


def conv2d(xp, x, w, b, stride, padding, dilation, groups):
    """y = conv(x, w) + b as a channels-last-stored (N, O, Ho, Wo) array."""
    n = x.shape[0]
    o, _, kh, kw = w.shape
    og = o // groups
    ho = out_size(x.shape[2], kh, stride[0], padding[0], dilation[0])
    wo = out_size(x.shape[3], kw, stride[1], padding[1], dilation[1])
    rows = ho * wo
    y = xp.empty((n * rows, o), dtype=x.dtype)
    wm = None
    if b is not None:  # added to (image row, Wo * O) rows: long loops rather than O at a time
        b = xp.tile(b, wo)
    for lo, hi, cols, order in column_slabs(xp, x, (kh, kw), stride, padding, dilation,
                                            groups, (ho, wo)):
        if wm is None:
            wm = weight_matrix(xp, w, groups, order)
        out = y[lo * rows:hi * rows]
        xp.matmul(cols, wm, out=out.reshape(-1, groups, og).transpose(1, 0, 2))
        if b is not None:
            wide = out.reshape(-1, wo * o)
            wide += b
    return y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)


def conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups):
    """The weight gradient: x (N, C, H, W) against the output gradient g (N, O, Ho, Wo)."""
    o = g.shape[1]
    og = o // groups
    rows = g.shape[2] * g.shape[3]
    gm = channels_last_matrix(xp, g)
    acc = order = None
    for lo, hi, cols, layout in column_slabs(xp, x, kernel_size, stride, padding, dilation,
                                             groups, g.shape[2:]):
        order = layout
        gs = gm[lo * rows:hi * rows].reshape(-1, groups, og).transpose(1, 0, 2)
        # (K/G, rows) @ (rows, O/G): BLAS runs this orientation up to 2x faster than
        # (O/G, rows) @ (rows, K/G) when K is small (a first layer's 9 or 27 columns)
        part = xp.matmul(cols.transpose(0, 2, 1), gs)  # (G, K/G, O/G)
        if acc is None:
            acc = part
        else:
            acc += part
    kh, kw = kernel_size
    cg = x.shape[1] // groups
    if order == "chw":
        wk = acc.reshape(groups, cg, kh, kw, og).transpose(0, 4, 1, 2, 3)
    else:
        wk = acc.reshape(groups, kh, kw, cg, og).transpose(0, 4, 3, 1, 2)
    return xp.ascontiguousarray(wk).reshape(o, cg, kh, kw)


def _crop_negative(x, padding):
    """Apply the negative entries of ``padding`` as crops; returns (view, padding >= 0)."""
    (pt, pb), (pl, pr) = padding
    h, w = x.shape[2:]
    x = x[:, :, max(0, -pt):h - max(0, -pb), max(0, -pl):w - max(0, -pr)]
    return x, ((max(pt, 0), max(pb, 0)), (max(pl, 0), max(pr, 0)))


def conv_transpose2d(xp, x, w, b, stride, padding, output_padding, dilation, groups):
    """The transposed convolution (the gradient of conv2d's input), channels-last stored.

    With stride 1 and an output not much larger than the input (a 'same' convolution's
    gradient) it is a convolution of the padded input with the flipped, transposed kernel (a
    gather, fast); otherwise each kernel offset's product is scattered (col2im), which does
    no work for the border that padding adds.
    """
    cin, cog, kh, kw = w.shape
    hi, wi = x.shape[2:]
    out_area = ((hi - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + output_padding[0]
                - sum(padding[0])) * ((wi - 1) * stride[1] + dilation[1] * (kw - 1) + 1
                                      + output_padding[1] - sum(padding[1]))
    if stride == (1, 1) and out_area <= 1.25 * hi * wi:
        cig = cin // groups
        wc = w.reshape(groups, cig, cog, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
        wc = xp.ascontiguousarray(wc).reshape(groups * cog, cig, kh, kw)
        pads = tuple((d * (k - 1) - p[0], d * (k - 1) - p[1] + op) for d, k, p, op in
                     zip(dilation, (kh, kw), padding, output_padding))
        x, pads = _crop_negative(x, pads)
        return conv2d(xp, x, wc, b, (1, 1), pads, dilation, groups)
    return _col2im(xp, x, w, b, stride, padding, output_padding, dilation, groups)


def _col2im(xp, x, w, b, stride, padding, output_padding, dilation, groups):
    n, cin, hi, wi = x.shape
    _, cog, kh, kw = w.shape
    cig = cin // groups
    cout = cog * groups
    rows = hi * wi
    wt = w.reshape(groups, cig, cog, kh, kw).transpose(3, 4, 0, 1, 2)
    wt = xp.ascontiguousarray(wt).reshape(kh * kw, groups, cig, cog)
    xm = channels_last_matrix(xp, x)
    (sh, sw), (dh, dw) = stride, dilation
    hf = (hi - 1) * sh + dh * (kh - 1) + 1 + output_padding[0]
    wf = (wi - 1) * sw + dw * (kw - 1) + 1 + output_padding[1]
    full = xp.zeros((n, hf, wf, cout), dtype=x.dtype)
    nb = _slab(n, kh * kw * rows * cout * x.itemsize)
    parts = xp.empty((kh * kw, nb * rows, groups, cog), dtype=x.dtype)
    for lo in range(0, n, nb):
        m = (min(n, lo + nb) - lo) * rows
        p = parts[:, :m]
        xs = xm[lo * rows:lo * rows + m].reshape(m, groups, cig).transpose(1, 0, 2)
        xp.matmul(xs[None], wt, out=p.transpose(0, 2, 1, 3))
        p = p.reshape(kh, kw, m // rows, hi, wi, cout)
        f = full[lo:lo + m // rows]
        for i in range(kh):  # one strided add per kernel offset
            for j in range(kw):
                f[:, i * dh:i * dh + (hi - 1) * sh + 1:sh,
                  j * dw:j * dw + (wi - 1) * sw + 1:sw] += p[i, j]
    (pt, pb), (pl, pr) = padding
    y = full[:, pt:hf - pb, pl:wf - pr]
    if b is not None:
        y += b
    return y.transpose(0, 3, 1, 2)


# ----------------------------------------------------------------------------- 3-d, by depth


def _depth_columns(xp, x, kd, stride, padding, dilation):
    """(N, C, D, H, W) -> (N * Do, C * kd, H, W): the ``kd`` depth slices each output depth
    reads, stacked into the channels (channel ``c * kd + i``, grouped as the weight's
    ``(C/G, kd)``); and ``Do``."""
    (p0, p1), sd, dd = padding, stride, dilation
    if p0 or p1:
        x = xp.pad(x, ((0, 0), (0, 0), (p0, p1), (0, 0), (0, 0)))
    n, c, dp, h, w = x.shape
    do = (dp - dd * (kd - 1) - 1) // sd + 1
    cols = xp.stack([x[:, :, i * dd:i * dd + (do - 1) * sd + 1:sd] for i in range(kd)], axis=3)
    return cols.transpose(0, 2, 1, 3, 4, 5).reshape(n * do, c * kd, h, w), do


def conv3d(xp, x, w, b, stride, padding, dilation, groups):
    """3-d cross-correlation as ``conv2d`` on the depth columns (``_depth_columns``)."""
    o, cg, kd, kh, kw = w.shape
    x2, do = _depth_columns(xp, x, kd, stride[0], padding[0], dilation[0])
    y = conv2d(xp, x2, w.reshape(o, cg * kd, kh, kw), b, stride[1:], padding[1:],
               dilation[1:], groups)
    return y.reshape(x.shape[0], do, o, y.shape[2], y.shape[3]).transpose(0, 2, 1, 3, 4)


def conv3d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups):
    """conv3d's weight gradient: ``conv2d_weight`` of the depth columns against ``g`` with
    its depths moved into the batch."""
    kd, kh, kw = kernel_size
    x2, do = _depth_columns(xp, x, kd, stride[0], padding[0], dilation[0])
    n, o, _, ho, wo = g.shape
    g2 = g.transpose(0, 2, 1, 3, 4).reshape(n * do, o, ho, wo)
    gw = conv2d_weight(xp, x2, g2, (kh, kw), stride[1:], padding[1:], dilation[1:], groups)
    return gw.reshape(o, -1, kd, kh, kw)


def conv_transpose3d(xp, x, w, b, stride, padding, output_padding, dilation, groups):
    """3-d transposed convolution: ``conv_transpose2d`` spreads each input depth into ``kd``
    output depths (channel ``(co, i)``), which are summed into place (the depth col2im)."""
    cin, cog, kd, kh, kw = w.shape
    n, _, di, hi, wi = x.shape
    x2 = x.transpose(0, 2, 1, 3, 4).reshape(n * di, cin, hi, wi)
    z = conv_transpose2d(xp, x2, w.reshape(cin, cog * kd, kh, kw), None, stride[1:],
                         padding[1:], output_padding[1:], dilation[1:], groups)
    cout, ho, wo = cog * groups, z.shape[2], z.shape[3]
    z = z.reshape(n, di, cout, kd, ho, wo)
    sd, dd, (pd0, pd1) = stride[0], dilation[0], padding[0]
    full = (di - 1) * sd + dd * (kd - 1) + 1 + output_padding[0]
    y = xp.zeros((n, cout, full, ho, wo), dtype=z.dtype)
    for i in range(kd):  # tap i of input depth j lands at depth i * dd + j * sd
        y[:, :, i * dd:i * dd + (di - 1) * sd + 1:sd] += z[:, :, :, i].transpose(0, 2, 1, 3, 4)
    y = y[:, :, pd0:full - pd1]
    if b is not None:
        y += b.reshape(1, -1, 1, 1, 1)
    return y
