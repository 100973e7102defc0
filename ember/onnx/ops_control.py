"""ONNX import: control flow (If, Loop, Scan), sequences and optionals.

Each op follows the ONNX reference implementation (``onnx/reference/ops/op_if.py``,
``op_loop.py``, ``op_scan.py``, ``op_sequence_*.py``, ``op_optional*.py``). A subgraph
(``then_branch``, ``else_branch``, ``body``) is a ``_Graph`` that ``module.run_graph`` runs
eagerly with ember ops, so gradients flow through every branch taken and every iteration.

Conditions and trip counts are read in Python (``bool``/``item``), so under
``ember.graph.jit`` a condition that depends on the inputs raises jit's data-dependent
control-flow error instead of baking in one branch. A sequence is a Python list of tensors;
an optional is ``None`` or its value (a tensor or a list).
"""

from __future__ import annotations

import numpy as np

from .. import ops as E
from ..ops import creation
from .ops import _dtype_of_onnx, _ints, onnx_op


def _int64(value: int):
    return creation.from_numpy(np.array(value, dtype=np.int64))


# ----------------------------------------------------------------------------- If, Loop


@onnx_op("If")
def _if(m, n, cond):
    if cond.numel() != 1:
        raise ValueError(f"If: the condition must hold one element, it has shape "
                         f"{tuple(cond.shape)}")
    branch = n.attrs["then_branch"] if bool(cond) else n.attrs["else_branch"]
    return tuple(m.run_graph(branch, []))


@onnx_op("Loop")
def _loop(m, n, trip_count=None, cond=None, *carried):
    """Inputs ``(M, cond, v_initial...)``; the body takes ``(iteration, cond, v...)`` and
    returns ``(cond, v..., scan outputs...)``; scan outputs are stacked on a new axis 0."""
    body = n.attrs["body"]
    n_carried = len(carried)
    max_trips = None if trip_count is None else int(trip_count.item())
    keep_going = True if cond is None else bool(cond)
    carried = list(carried)
    scans: list[list] = [[] for _ in range(len(body.output_names) - 1 - n_carried)]
    it = 0
    while keep_going and (max_trips is None or it < max_trips):
        outs = m.run_graph(body, [_int64(it), creation.tensor(keep_going), *carried])
        keep_going = bool(outs[0])
        carried = outs[1:1 + n_carried]
        for acc, value in zip(scans, outs[1 + n_carried:]):
            acc.append(value)
        it += 1
    if it == 0:  # no iteration ran: each scan output is empty, shaped by the body's type
        return tuple(carried) + tuple(
            _empty_scan("Loop", body, 1 + n_carried + j) for j in range(len(scans)))
    return tuple(carried) + tuple(E.stack(acc, dim=0) for acc in scans)


def _empty_scan(op: str, body, j: int, axis: int = 0):
    """A scan output of zero steps: an empty tensor whose element type and shape the body
    declares for its output ``j`` (the steps that would have made it never ran)."""
    code, shape = body.output_types[j] if j < len(body.output_types) else (0, None)
    if not code or shape is None:
        raise NotImplementedError(f"{op}: zero steps with a scan output whose element type "
                                  "and shape the body does not declare in full")
    shape = list(shape)
    shape.insert(axis % (len(shape) + 1), 0)
    return creation.zeros(*shape, dtype=_dtype_of_onnx(code))


# ----------------------------------------------------------------------------- Scan


def _scan_steps(m, body, states, xs, in_axes, in_dirs, out_axes, out_dirs):
    """Scan one (unbatched) set of inputs: slice each scan input along its axis (reversed
    for direction 1), run the body per step, stack each scan output along its axis."""
    slices = []
    for x, axis, direction in zip(xs, in_axes, in_dirs):
        parts = list(E.unbind(x, axis % x.ndim))
        slices.append(parts[::-1] if direction else parts)
    steps = len(slices[0])
    n_states = len(states)
    outs_per_step = []
    for t in range(steps):
        outs = m.run_graph(body, [*states, *(s[t] for s in slices)])
        states = outs[:n_states]
        outs_per_step.append(outs[n_states:])
    if steps == 0:
        return list(states), [_empty_scan("Scan", body, n_states + j, axis)
                        for j, axis in enumerate(out_axes)]
    stacked = []
    for j, column in enumerate(zip(*outs_per_step)):
        column = list(column)[::-1] if out_dirs[j] else list(column)
        stacked.append(E.stack(column, dim=out_axes[j] % (column[0].ndim + 1)))
    return list(states), stacked


def _per_input(values, count: int) -> list[int]:
    return list(values) if values else [0] * count


@onnx_op("Scan")
def _scan(m, n, *args):
    body = n.attrs["body"]
    k = n.attrs["num_scan_inputs"]
    if m.opset < 9:
        return _scan8(m, n, body, k, *args)
    states, xs = list(args[:len(args) - k]), args[len(args) - k:]
    n_out = len(body.output_names) - len(states)
    final, stacked = _scan_steps(
        m, body, states, xs,
        _per_input(n.attrs.get("scan_input_axes"), k),
        _per_input(n.attrs.get("scan_input_directions"), k),
        _per_input(n.attrs.get("scan_output_axes"), n_out),
        _per_input(n.attrs.get("scan_output_directions"), n_out))
    return tuple(final + stacked)


def _scan8(m, n, body, k, sequence_lens, *args):
    """Opset 8: every input has a batch axis 0 and scan inputs scan along axis 1."""
    states, xs = list(args[:len(args) - k]), args[len(args) - k:]
    steps = xs[0].shape[1]
    batch = xs[0].shape[0]
    lengths = [steps] * batch if sequence_lens is None else _ints(sequence_lens)
    if len(lengths) != batch or any(not 0 <= v <= steps for v in lengths):
        raise ValueError(f"Scan: sequence_lens {lengths} must give one length in [0, {steps}] "
                         f"per batch element ({batch})")
    dirs = _per_input(n.attrs.get("directions"), k)
    n_out = len(body.output_names) - len(states)
    per_batch = []
    for b, length in enumerate(lengths):
        # a shorter sequence scans its first `length` steps (reversed ones from its own end);
        # its scan outputs are padded with zeros to the full length, as onnxruntime's
        final, stacked = _scan_steps(m, body, [s[b] for s in states],
                                     [x[b][:length] for x in xs], [0] * k, dirs,
                                     [0] * n_out, [0] * n_out)
        if length < steps:
            stacked = [E.concat([y, creation.zeros(steps - length, *y.shape[1:],
                                                   dtype=y.dtype)], dim=0) for y in stacked]
        per_batch.append(final + stacked)
    return tuple(E.stack(list(column), dim=0) for column in zip(*per_batch))


# ----------------------------------------------------------------------------- sequences


@onnx_op("SequenceEmpty")
def _sequence_empty(m, n):
    return []


@onnx_op("SequenceConstruct")
def _sequence_construct(m, n, *xs):
    return list(xs)


@onnx_op("SequenceAt")
def _sequence_at(m, n, seq, position):
    return seq[_ints(position)[0]]


@onnx_op("SequenceLength")
def _sequence_length(m, n, seq):
    return _int64(len(seq))


@onnx_op("SequenceInsert")
def _sequence_insert(m, n, seq, x, position=None):
    out = list(seq)
    if position is None:
        out.append(x)
    else:
        out.insert(_ints(position)[0], x)  # (list.insert counts negatives from the back too)
    return out


@onnx_op("SequenceErase")
def _sequence_erase(m, n, seq, position=None):
    out = list(seq)
    del out[-1 if position is None else _ints(position)[0]]
    return out


@onnx_op("SplitToSequence")
def _split_to_sequence(m, n, x, split=None):
    axis = n.attrs.get("axis", 0) % x.ndim
    size = x.shape[axis]
    if split is None:
        parts = E.unbind(x, axis)
        if n.attrs.get("keepdims", 1):
            parts = [E.unsqueeze(p, axis) for p in parts]
        return list(parts)
    if split.ndim == 0:
        length = _ints(split)[0]
        sizes = [length] * (size // length) + ([size % length] if size % length else [])
    else:
        sizes = _ints(split)
    return list(E.split(x, sizes, dim=axis))


@onnx_op("ConcatFromSequence")
def _concat_from_sequence(m, n, seq):
    axis = n.attrs["axis"]
    if n.attrs.get("new_axis", 0):
        return E.stack(list(seq), dim=axis % (seq[0].ndim + 1))
    return E.concat(list(seq), dim=axis)


@onnx_op("SequenceMap")
def _sequence_map(m, n, seq, *additional):
    """Runs the body on each element of ``seq``, with the same element of each additional
    sequence, or the whole of each additional tensor; each body output gives a sequence."""
    body = n.attrs["body"]
    outs: list[list] = [[] for _ in body.output_names]
    for i, x in enumerate(seq):
        extra = [a[i] if isinstance(a, list) else a for a in additional]
        for acc, value in zip(outs, m.run_graph(body, [x, *extra])):
            acc.append(value)
    return tuple(outs)


# ----------------------------------------------------------------------------- optionals


@onnx_op("Optional")
def _optional(m, n, x=None):
    return x


@onnx_op("OptionalHasElement")
def _optional_has_element(m, n, x=None):
    return creation.tensor(x is not None)


@onnx_op("OptionalGetElement")
def _optional_get_element(m, n, x):
    if x is None:
        raise ValueError("OptionalGetElement: the optional is empty")
    return x
