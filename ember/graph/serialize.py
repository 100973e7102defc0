"""Saving and loading graphs: ``graph.json`` (structure) + ``tensors.safetensors`` (arrays).

A saved graph is a directory holding the two files. The JSON names each node's op (looked
up in ember's op registry on load), its arguments, attributes and output specs; the
safetensors file holds the states (parameters, optimiser state) and constants. Loading
parses JSON and raw little-endian arrays only -- nothing is unpickled, no code from the file
runs -- and checks everything: the format version, every op name, every value reference,
shapes, dtypes and byte ranges. A loaded graph runs with ``ember`` alone.

Example:
    >>> import tempfile, ember
    >>> f = ember.graph.jit(lambda x: (x * 3.0).sum())
    >>> _ = f(ember.ones(2))
    >>> d = tempfile.mkdtemp()
    >>> f.save(d)
    >>> g = ember.graph.load(d)
    >>> g(ember.tensor([1.0, 2.0]))
    tensor(9.)
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np

from ..ops.registry import REGISTRY
from ..tensor import Tensor
from .ir import Graph, GraphFormatError, Value

FORMAT = "ember-graph"
VERSION = 1
GRAPH_FILE = "graph.json"
TENSOR_FILE = "tensors.safetensors"

_ST_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
              "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
              "bfloat16": "BF16"}
_NP_OF_ST = {v: k for k, v in _ST_DTYPES.items()}
_MAX_HEADER = 100 << 20


# ----------------------------------------------------------------------------- safetensors


def _np_dtype(name: str):
    if name == "bfloat16":
        from ..dtypes import bfloat16

        if bfloat16 is None:
            raise GraphFormatError("graph file: bfloat16 tensors need ml_dtypes "
                                   "(pip install ml_dtypes)")
        return bfloat16.np
    return np.dtype(name)


def write_safetensors(path, arrays: dict) -> None:
    """Write ``{name: array}`` in the safetensors format (atomically: temp file, rename)."""
    header, offset, blobs = {}, 0, []
    for name, a in arrays.items():
        a = np.asarray(a)
        if not a.flags.c_contiguous:  # (ascontiguousarray would turn 0-d into 1-d)
            a = a.copy(order="C")
        if a.dtype.name not in _ST_DTYPES:
            raise TypeError(f"save: cannot store dtype {a.dtype} ({name})")
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _ST_DTYPES[a.dtype.name], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    _atomic_write(path, [struct.pack("<Q", len(raw)), raw, *blobs])


def read_safetensors(path) -> dict:
    """Read a safetensors file into ``{name: array}``, checking every offset and dtype."""
    buf = Path(path).read_bytes()
    if len(buf) < 8:
        raise GraphFormatError(f"graph file {path}: truncated (no safetensors header)")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > _MAX_HEADER or 8 + n > len(buf):
        raise GraphFormatError(f"graph file {path}: truncated or corrupt safetensors header "
                               f"(header of {n} bytes, file of {len(buf)})")
    try:
        header = json.loads(buf[8:8 + n])
    except ValueError as exc:
        raise GraphFormatError(f"graph file {path}: the safetensors header is not JSON") from exc
    if not isinstance(header, dict):
        raise GraphFormatError(f"graph file {path}: malformed safetensors header")
    data = memoryview(buf)[8 + n:]
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        try:
            dt = _np_dtype(_NP_OF_ST[spec["dtype"]])
            shape = tuple(int(d) for d in spec["shape"])
            start, end = (int(o) for o in spec["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GraphFormatError(f"graph file {path}: bad entry for tensor {name!r}") from exc
        if any(d < 0 for d in shape) or not 0 <= start <= end <= len(data) or (
                end - start != math.prod(shape) * dt.itemsize):
            raise GraphFormatError(f"graph file {path}: tensor {name!r} has inconsistent "
                                   "offsets (the file is truncated or corrupt)")
        out[name] = np.frombuffer(data[start:end], dtype=dt.newbyteorder("<")).astype(
            dt, copy=True).reshape(shape)
    return out


def _atomic_write(path, chunks) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- encoding


def _enc(obj, where: str):
    if isinstance(obj, Value):
        return {"v": obj.id}
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"float": repr(obj)}
    if isinstance(obj, tuple):
        return {"tuple": [_enc(o, where) for o in obj]}
    if isinstance(obj, list):
        return [_enc(o, where) for o in obj]
    if isinstance(obj, slice):
        return {"slice": [_enc(obj.start, where), _enc(obj.stop, where), _enc(obj.step, where)]}
    if obj is Ellipsis:
        return {"ellipsis": True}
    if isinstance(obj, np.generic):
        return _enc(obj.item(), where)
    raise TypeError(f"save: {where} holds a {type(obj).__name__}, which a graph file cannot "
                    "store (attributes must be numbers, strings, tuples, slices or tensors)")


def _spec(v: Value) -> dict:
    return {"id": v.id, "shape": list(v.shape), "dtype": v.dtype, "name": v.name}


def save(graph: Graph, path) -> None:
    """Save ``graph`` (as traced) with its states' current values into directory ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    arrays = {}
    states = []
    for i, (v, t) in enumerate(zip(graph.states, graph.state_tensors)):
        if t is None:
            raise TypeError("save: the graph reads a parameter's .grad from before the call "
                            "(gradient accumulation across calls); save a step that zeroes "
                            "the gradients first")
        arrays[f"state{i}"] = t.data
        states.append(dict(_spec(v), tensor=f"state{i}"))
    consts = []
    for i, (v, a) in enumerate(graph.consts.items()):
        arrays[f"const{i}"] = a
        consts.append(dict(_spec(v), tensor=f"const{i}"))
    nodes = []
    for k, n in enumerate(graph.nodes):
        where = f"node {k} ({n.op.name})"
        nodes.append({"op": n.op.name, "args": [_enc(a, where) for a in n.args],
                      "attrs": {name: _enc(a, f"{where} attribute {name!r}")
                                for name, a in n.attrs.items()},
                      "outputs": [_spec(v) for v in n.outputs], "alias": n.alias})
    doc = {"format": FORMAT, "version": VERSION,
           "inputs": [_spec(v) for v in graph.inputs], "states": states, "consts": consts,
           "nodes": nodes, "outputs": [_enc(v, "an output") for v in graph.outputs],
           "out_tree": graph.out_tree,
           "updates": [[s.id, v.id] for s, v in graph.updates],
           "grads": [[s.id, None if v is None else v.id] for s, v in graph.grads]}
    write_safetensors(path / TENSOR_FILE, arrays)
    text = json.dumps(doc, allow_nan=False, indent=1)
    _atomic_write(path / GRAPH_FILE, [text.encode()])


# ----------------------------------------------------------------------------- loading


class _Reader:
    def __init__(self, path) -> None:
        self.path = path
        self.values: dict[int, Value] = {}

    def fail(self, msg: str):
        return GraphFormatError(f"graph file {self.path}: {msg}")

    def dec(self, obj):
        if isinstance(obj, list):
            return [self.dec(o) for o in obj]
        if isinstance(obj, dict):
            if set(obj) == {"v"}:
                v = self.values.get(obj["v"]) if isinstance(obj["v"], int) else None
                if v is None:
                    raise self.fail(f"reference to undefined value {obj['v']!r}")
                return v
            if set(obj) == {"tuple"} and isinstance(obj["tuple"], list):
                return tuple(self.dec(o) for o in obj["tuple"])
            if set(obj) == {"slice"} and isinstance(obj["slice"], list) and len(
                    obj["slice"]) == 3:
                return slice(*(self.dec(o) for o in obj["slice"]))
            if obj == {"ellipsis": True}:
                return Ellipsis
            if set(obj) == {"float"} and obj["float"] in ("nan", "inf", "-inf"):
                return float(obj["float"])
            raise self.fail(f"unknown encoded object {sorted(obj)}")
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        raise self.fail(f"unexpected {type(obj).__name__}")

    def value(self, g: Graph, spec, kind: str, dynamic: bool = True) -> Value:
        try:
            vid, shape, dtype = spec["id"], spec["shape"], spec["dtype"]
            name = spec.get("name", "")
        except (KeyError, TypeError) as exc:
            raise self.fail(f"malformed value entry {spec!r:.80}") from exc
        if not isinstance(vid, int) or vid in self.values:
            raise self.fail(f"value id {vid!r} is not a new integer")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise self.fail(f"value {vid} has a bad shape {shape!r:.80}")
        if dtype not in _ST_DTYPES:
            raise self.fail(f"value {vid} has an unknown dtype {dtype!r:.40}")
        v = Value(vid, kind, tuple(shape), dtype, str(name), dynamic=dynamic)
        self.values[vid] = v
        g._next = max(g._next, vid + 1)
        return v


def load_graph(path) -> Graph:
    """Read a saved graph directory into a ``Graph`` whose states are new tensors."""
    path = Path(path)
    gfile, tfile = path / GRAPH_FILE, path / TENSOR_FILE
    if not gfile.is_file() or not tfile.is_file():
        raise FileNotFoundError(f"graph: {path} must be a directory holding {GRAPH_FILE} and "
                                f"{TENSOR_FILE} (written by JitFunction.save)")
    r = _Reader(gfile)
    try:
        doc = json.loads(gfile.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise r.fail("not valid JSON (truncated or corrupt)") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise r.fail(f"not an ember graph (expected \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise r.fail(f"format version {version!r} is newer than this ember reads ({VERSION}); "
                     "upgrade ember")
    arrays = read_safetensors(tfile)
    g = Graph()
    try:
        for spec in doc["inputs"]:
            g.inputs.append(r.value(g, spec, "input"))
        for spec in doc["states"]:
            v = r.value(g, spec, "state")
            g.states.append(v)
            g.state_tensors.append(Tensor(_array(r, arrays, spec, v)))
        for spec in doc["consts"]:
            v = r.value(g, spec, "const", dynamic=False)
            g.consts[v] = _array(r, arrays, spec, v)
        unknown = sorted({n["op"] for n in doc["nodes"] if _resolve(n.get("op")) is None},
                         key=str)
        if unknown:
            raise r.fail(f"ops not in this ember's registry: {', '.join(map(str, unknown))}")
        for k, n in enumerate(doc["nodes"]):
            op = _resolve(n["op"])
            args = tuple(r.dec(a) for a in n["args"])
            attrs = {str(name): r.dec(a) for name, a in n["attrs"].items()}
            alias = n.get("alias")
            if alias is not None and not (isinstance(alias, int) and 0 <= alias < len(args)):
                raise r.fail(f"node {k}: bad alias {alias!r}")
            outs = [r.value(g, s, "node") for s in n["outputs"]]
            if len(outs) != op.n_outputs:
                raise r.fail(f"node {k} ({op.name}) lists {len(outs)} outputs, the op has "
                             f"{op.n_outputs}")
            node = g.add_node(op, args, attrs, [], alias)
            node.outputs = tuple(outs)
            for v in outs:
                v.producer = node
                v.dynamic = any(a.dynamic for a in node.inputs())
        g.outputs = [r.dec(o) for o in doc["outputs"]]
        g.out_tree = doc["out_tree"]
        g.updates = [(r.dec({"v": s}), r.dec({"v": v})) for s, v in doc["updates"]]
        g.grads = [(r.dec({"v": s}), None if v is None else r.dec({"v": v}))
                   for s, v in doc["grads"]]
    except (KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise r.fail(f"malformed ({type(exc).__name__}: {exc})") from exc
    _check_tree(r, g.out_tree, len(g.outputs))
    g.guards = []
    g.grad_reads = []
    return g


def _resolve(name):
    """The registered op of a name; ops registered per size on first use (``unstack_20``)
    are registered here if needed."""
    op = REGISTRY.get(name) if isinstance(name, str) else None
    if op is None and isinstance(name, str) and name.startswith("unstack_") and \
            name[8:].isdigit() and 0 < int(name[8:]) <= 1 << 16:
        from ..ops.rnn import unstack_op

        op = unstack_op(int(name[8:]))
    elif op is None and isinstance(name, str) and name.startswith("optimizer_step_") and \
            name[15:].isdigit() and 0 < int(name[15:]) <= 1 << 20:
        from ..optim._fused import step_op

        op = step_op(int(name[15:]))
    return op


def _array(r: _Reader, arrays: dict, spec, v: Value):
    a = arrays.get(spec.get("tensor"))
    if a is None:
        raise r.fail(f"tensor {spec.get('tensor')!r} is missing from {TENSOR_FILE}")
    if tuple(a.shape) != v.shape or a.dtype.name != v.dtype:
        raise r.fail(f"tensor {spec.get('tensor')!r} is {a.dtype.name}{list(a.shape)}, the "
                     f"graph says {v.dtype}{list(v.shape)}")
    return a


def _check_tree(r: _Reader, tree, n_leaves: int) -> None:
    count = 0

    def walk(t, depth):
        nonlocal count
        if depth > 100:
            raise r.fail("output structure nested too deeply")
        if t == "T":
            count += 1
            return
        if not isinstance(t, list) or not t or t[0] not in ("tuple", "list", "dict", "lit"):
            raise r.fail("malformed output structure")
        if t[0] == "lit":
            return
        for c in t[-1]:
            walk(c, depth + 1)

    walk(tree, 0)
    if count != n_leaves:
        raise r.fail(f"the output structure has {count} tensors, the graph {n_leaves}")


class LoadedGraph:
    """A graph read from disk, callable on tensors like the function that was traced.

    ``state_dict()`` returns its state tensors by name; running a saved training step updates
    them (the graph keeps training without the code that built it).
    """

    def __init__(self, graph: Graph) -> None:
        from .executor import compile_graph

        self.graph = graph
        self.compiled = compile_graph(graph)

    def __call__(self, *inputs):
        return self.compiled(*inputs)

    def state_dict(self) -> dict:
        return {v.name or f"state{i}": t
                for i, (v, t) in enumerate(zip(self.graph.states, self.graph.state_tensors))}

    def __repr__(self) -> str:
        return f"<ember LoadedGraph: {len(self.graph.nodes)} nodes>"


def load(path) -> LoadedGraph:
    """Load a saved graph directory as a callable ``LoadedGraph``."""
    return LoadedGraph(load_graph(path))
