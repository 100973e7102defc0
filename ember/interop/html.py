"""Rich notebook output: ``Tensor._repr_html_`` and ``Module._repr_html_`` for Jupyter.

Jupyter calls ``_repr_html_`` to show the last value of a cell. A tensor shows its shape,
dtype, device and autograd state, and a table of values: the whole tensor when small, the
corners with ``…`` in between when large, and for three or more dimensions the first matrix
(``[0, 0, :, :]``). A module shows its tree of submodules as nested ``<details>`` with the
parameter count of each. Every piece of text is HTML-escaped.

Example:
    >>> import ember
    >>> html = ember.tensor([[1.0, 2.0], [3.0, 4.0]])._repr_html_()
    >>> "shape (2, 2)" in html and "<td>4.</td>" in html
    True
"""

from __future__ import annotations

from html import escape

import numpy as np

from .. import dtypes as _dt
from ..tensor import Tensor

MAX_ROWS = 10  # larger dimensions show EDGE items at each end
MAX_COLS = 10
EDGE = 4
_STYLE = ("<style>.ember-values {font-family: monospace; border-collapse: collapse; "
          "margin-top: 4px} .ember-values td {padding: 1px 6px; text-align: right; "
          "border: 1px solid #ddd}</style>")


def _keep(n: int, limit: int) -> tuple[list, list]:
    """Indices to show along a dimension of size ``n`` (None marks the ``…`` gap), and the
    slices that read them."""
    if n <= limit:
        return list(range(n)), [slice(0, n)]
    return (list(range(EDGE)) + [None] + list(range(n - EDGE, n)),
            [slice(0, EDGE), slice(n - EDGE, n)])


def _host(a) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else a.get()


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (np.floating, float)):
        text = f"{float(v):.4g}"
        return text if any(ch in text for ch in ".eni") else text + "."
    return str(v)


def _values(t: Tensor) -> tuple[str, str]:
    """The value table's HTML and a note saying which slice it shows."""
    data = t.data
    note = ""
    if data.ndim > 2:
        note = "showing [" + ", ".join(["0"] * (data.ndim - 2) + [":", ":"]) + "]"
        data = data[(0,) * (data.ndim - 2)]
    if data.ndim == 0:
        data = data.reshape(1, 1)
    elif data.ndim == 1:
        data = data.reshape(1, -1)
    (rows, row_slices), (cols, col_slices) = (_keep(data.shape[0], MAX_ROWS),
                                              _keep(data.shape[1], MAX_COLS))
    # copy only the corners shown (from the GPU too), never the whole tensor
    block = np.block([[_host(data[rs, cs]) for cs in col_slices] for rs in row_slices])
    if t.dtype is _dt.bfloat16 or block.dtype.kind == "V":
        block = block.astype(np.float32)
    out, ri = ['<table class="ember-values">'], 0
    for r in rows:
        cells, ci = [], 0
        for c in cols:
            if r is None or c is None:
                cells.append("<td>…</td>")
            else:
                cells.append(f"<td>{escape(_fmt(block[ri, ci]))}</td>")
                ci += 1
        ri += r is not None
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out), note


def tensor_html(t: Tensor) -> str:
    """``Tensor._repr_html_``: header (shape, dtype, device, autograd) and a value table."""
    parts = [f"shape {tuple(t.shape)}", f"dtype {t.dtype.name}", f"device {t.device}"]
    if t.grad_fn is not None:
        parts.append(f"grad_fn {t.grad_fn!r}")
    elif t.requires_grad:
        parts.append("requires_grad (leaf)")
    if t.grad is not None:
        parts.append(f"grad {tuple(t.grad.shape)}")
    header = " · ".join(escape(p) for p in parts)
    if t.data.size == 0:
        table, note = "<i>(no elements)</i>", ""
    else:
        table, note = _values(t)
    note = f' <span style="color: #888">{escape(note)}</span>' if note else ""
    return f'<div class="ember-tensor">{_STYLE}<b>ember.Tensor</b> {header}{note}{table}</div>'


def _count(params) -> tuple[int, int]:
    total = trainable = 0
    for p in params:
        n = int(p.data.size)
        total += n
        trainable += n if p.requires_grad else 0
    return total, trainable


def _module_node(name: str, m, depth: int) -> str:
    total, _ = _count(m.parameters())
    extra = m.extra_repr()
    label = (f"<b>{escape(name)}</b> " if name else "") + escape(m._get_name())
    label += f"({escape(extra)})" if extra else ""
    label += f' <span style="color: #888">{total:,} params</span>'
    children = list(m.named_children())
    if not children:
        return f'<div style="margin-left: 1.2em">{label}</div>'
    inner = "".join(_module_node(n, c, depth + 1) for n, c in children)
    opened = " open" if depth < 2 else ""
    return (f'<details{opened} style="margin-left: 1.2em"><summary>{label}</summary>'
            f"{inner}</details>")


def module_html(m) -> str:
    """``Module._repr_html_``: the tree of submodules with parameter counts."""
    total, trainable = _count(m.parameters())
    head = (f"<b>{escape(m._get_name())}</b> · {total:,} parameters "
            f"({trainable:,} trainable) · {'training' if m.training else 'eval'} mode")
    return (f'<div class="ember-module" style="font-family: monospace">{head}'
            f"{_module_node('', m, 0)}</div>")
