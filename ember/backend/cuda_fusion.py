"""One CUDA kernel per fused elementwise group of a compiled graph (CuPy ``ElementwiseKernel``).

The fusion pass groups runs of elementwise nodes; on NumPy the executor runs each node as a
ufunc writing into a planned buffer. On CUDA that is one kernel launch and one pass over
memory per node, so the executor asks the backend for a single kernel per group instead:
each thread loads its element of every group input once, computes the whole chain in
registers (float32 math for float16 data, as PyTorch's fused kernels do) and stores only the
values used after the group. Kernels are cached by their source.

Each op has two templates: C for the kernel and NumPy for ``evaluate``, which runs the same
expression graph on the CPU (the tests check it against the unfused executor, so the
dataflow, constants and output selection are checked on machines without a GPU).
"""

from __future__ import annotations

import math

import numpy as np

from ..graph.ir import Value

_C_TYPE = {"float16": "float16", "float32": "float", "float64": "double", "bool": "bool"}
_NAN_SAFE_MAX = ("(isnan({0}) ? {0} : (isnan({1}) ? {1} : ({0} > {1} ? {0} : {1})))",
                 "np.maximum({0}, {1})")
_NAN_SAFE_MIN = ("(isnan({0}) ? {0} : (isnan({1}) ? {1} : ({0} < {1} ? {0} : {1})))",
                 "np.minimum({0}, {1})")
# op name -> (C template, NumPy template); {0}, {1}, {2}: operands already in the math type
_TEMPLATES = {
    "add": ("({0} + {1})", "({0} + {1})"), "sub": ("({0} - {1})", "({0} - {1})"),
    "mul": ("({0} * {1})", "({0} * {1})"), "div": ("({0} / {1})", "({0} / {1})"),
    "maximum": _NAN_SAFE_MAX, "minimum": _NAN_SAFE_MIN,
    "remainder": ("_ember_mod({0}, {1})", "np.remainder({0}, {1})"),
    "floor_divide": ("floor({0} / {1})", "np.floor_divide({0}, {1})"),
    "eq": ("({0} == {1})", "({0} == {1})"), "ne": ("({0} != {1})", "({0} != {1})"),
    "lt": ("({0} < {1})", "({0} < {1})"), "le": ("({0} <= {1})", "({0} <= {1})"),
    "gt": ("({0} > {1})", "({0} > {1})"), "ge": ("({0} >= {1})", "({0} >= {1})"),
    "logical_and": ("({0} && {1})", "np.logical_and({0}, {1})"),
    "logical_or": ("({0} || {1})", "np.logical_or({0}, {1})"),
    "logical_xor": ("((bool)({0}) != (bool)({1}))", "np.logical_xor({0}, {1})"),
    "logical_not": ("(!({0}))", "np.logical_not({0})"),
    "neg": ("(-({0}))", "(-({0}))"), "abs": ("fabs({0})", "np.abs({0})"),
    "exp": ("exp({0})", "np.exp({0})"), "expm1": ("expm1({0})", "np.expm1({0})"),
    "log": ("log({0})", "np.log({0})"), "log1p": ("log1p({0})", "np.log1p({0})"),
    "log2": ("log2({0})", "np.log2({0})"), "log10": ("log10({0})", "np.log10({0})"),
    "sqrt": ("sqrt({0})", "np.sqrt({0})"), "sin": ("sin({0})", "np.sin({0})"),
    "cos": ("cos({0})", "np.cos({0})"), "tan": ("tan({0})", "np.tan({0})"),
    "tanh": ("tanh({0})", "np.tanh({0})"), "floor": ("floor({0})", "np.floor({0})"),
    "ceil": ("ceil({0})", "np.ceil({0})"), "trunc": ("trunc({0})", "np.trunc({0})"),
    "reciprocal": ("(1 / ({0}))", "(1 / ({0}))"),
    "rsqrt": ("(1 / sqrt({0}))", "(1 / np.sqrt({0}))"),
    "square": ("(({0}) * ({0}))", "(({0}) * ({0}))"),
    "sign": ("(isnan({0}) ? {0} : (({0} > 0) - ({0} < 0)))", "np.sign({0})"),
    "relu": ("(isnan({0}) ? {0} : ({0} > 0 ? {0} : 0))", "np.maximum({0}, 0)"),
    "relu_backward": ("(({0}) * ({1} > 0))", "(({0}) * ({1} > 0))"),
    "isnan": ("isnan({0})", "np.isnan({0})"), "isinf": ("isinf({0})", "np.isinf({0})"),
    "isfinite": ("isfinite({0})", "np.isfinite({0})"),
    "where": ("({0} ? {1} : {2})", "np.where({0}, {1}, {2})"),
}
_PRELUDE = ("template <typename T> __device__ T _ember_mod(T a, T b) {\n"
            "  T r = fmod(a, b);\n  if (r != 0 && ((r < 0) != (b < 0))) r += b;\n"
            "  return r;\n}\n")


def _math_type(dtype: str) -> str:
    return "double" if dtype == "float64" else ("bool" if dtype == "bool" else "float")


def _literal(x, lang: str) -> str:
    if isinstance(x, bool):
        return ("true" if x else "false") if lang == "c" else repr(x)
    x = float(x)
    if math.isnan(x):
        return "(0.0 / 0.0)" if lang == "c" else "np.nan"
    if math.isinf(x):
        return ("(1.0 / 0.0)" if lang == "c" else "np.inf") if x > 0 else \
            ("(-1.0 / 0.0)" if lang == "c" else "-np.inf")
    return repr(x)


def _node_expr(n, operands: list, lang: str) -> str | None:
    name, k = n.op.name, 0 if lang == "c" else 1
    dt = n.outputs[0].dtype
    if name in _TEMPLATES:
        return _TEMPLATES[name][k].format(*operands)
    if name == "astype":
        return f"(({_math_type(dt)})({operands[0]}))" if lang == "c" else \
            f"np.asarray({operands[0]}).astype({dt!r})"
    if name == "clamp":
        x, lo, hi = operands[0], n.attrs.get("min"), n.attrs.get("max")
        if lang == "py":
            return f"np.clip({x}, {_literal(lo, 'py') if lo is not None else None}, " \
                   f"{_literal(hi, 'py') if hi is not None else None})"
        e = x
        if hi is not None:
            e = f"({e} > {_literal(hi, 'c')} ? {_literal(hi, 'c')} : {e})"
        if lo is not None:
            e = f"({e} < {_literal(lo, 'c')} ? {_literal(lo, 'c')} : {e})"
        return f"(isnan({x}) ? {x} : {e})"
    if name == "pow" and isinstance(n.args[1], (int, float)) and not isinstance(n.args[1], bool):
        e = float(n.args[1])
        if e == 2:
            return f"(({operands[0]}) * ({operands[0]}))"
        if e == 1:
            return f"({operands[0]})"
        return f"pow({operands[0]}, {_literal(e, lang)})" if lang == "c" else \
            f"np.power({operands[0]}, {_literal(e, lang)})"
    return None


class FusedGroup:
    """The expression graph of one fused group: inputs, outputs and per-node expressions."""

    def __init__(self, nodes: list, outputs: list) -> None:
        self.nodes = nodes
        made = {v for n in nodes for v in n.outputs}
        self.inputs: list[Value] = []
        for n in nodes:
            for a in n.args:
                if isinstance(a, Value) and a not in made and a not in self.inputs:
                    self.inputs.append(a)
        self.outputs = outputs

    def supported(self) -> bool:
        values = self.inputs + [v for n in self.nodes for v in n.outputs]
        if any(v.dtype not in _C_TYPE for v in values):
            return False
        # one thread per element of the group's full shape: every stored value must have it
        full = np.broadcast_shapes(*(tuple(v.shape) for v in values))
        if any(tuple(v.shape) != full for v in self.outputs):
            return False
        return all(_node_expr(n, ["a"] * len(n.args), "c") is not None for n in self.nodes)

    def _body(self, lang: str) -> list[str]:
        name = {v: f"in{i}" for i, v in enumerate(self.inputs)}
        lines = []
        for i, v in enumerate(self.inputs):
            if lang == "c":
                lines.append(f"{_math_type(v.dtype)} x{i} = ({_math_type(v.dtype)})in{i};")
                name[v] = f"x{i}"
        for j, n in enumerate(self.nodes):
            ops = []
            for a in n.args:
                if isinstance(a, Value):
                    ops.append(name[a])
                elif a is None:
                    ops.append("None")
                else:
                    ops.append(_literal(a, lang))
            v = n.outputs[0]
            expr = _node_expr(n, ops, lang)
            t = f"t{j}"
            if lang == "c":
                lines.append(f"{_math_type(v.dtype)} {t} = ({_math_type(v.dtype)}){expr};")
            else:
                lines.append(f"{t} = np.asarray({expr}).astype({v.dtype!r}, copy=False)")
            name[v] = t
        for k, v in enumerate(self.outputs):
            if lang == "c":
                lines.append(f"out{k} = ({_C_TYPE[v.dtype]}){name[v]};")
            else:
                lines.append(f"out{k}[...] = {name[v]}")
        return lines

    def c_source(self) -> tuple[str, str, str]:
        """``(in_params, out_params, body)`` for ``cupy.ElementwiseKernel``."""
        ins = ", ".join(f"{v.dtype} in{i}" for i, v in enumerate(self.inputs))
        outs = ", ".join(f"{v.dtype} out{k}" for k, v in enumerate(self.outputs))
        return ins, outs, "\n".join(self._body("c"))

    def evaluate(self, *arrays) -> None:
        """Run the group on NumPy arrays: ``arrays`` are the inputs, then the output buffers."""
        ns = {"np": np}
        ns.update({f"in{i}": a for i, a in enumerate(arrays[:len(self.inputs)])})
        ns.update({f"out{k}": a for k, a in enumerate(arrays[len(self.inputs):])})
        with np.errstate(all="ignore"):
            exec("\n".join(self._body("py")), ns)  # noqa: S102 - generated from the templates


_KERNELS: dict = {}


def cuda_kernel(group: FusedGroup):
    """The cached ``cupy.ElementwiseKernel`` computing ``group`` (None if it is unsupported)."""
    if not group.supported():
        return None
    ins, outs, body = group.c_source()
    key = (ins, outs, body)
    k = _KERNELS.get(key)
    if k is None:
        import cupy

        k = cupy.ElementwiseKernel(ins, outs, body, f"ember_fused_{len(_KERNELS)}",
                                   preamble=_PRELUDE)
        _KERNELS[key] = k
    return k
