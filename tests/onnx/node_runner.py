"""Runs the ONNX project's backend node tests through ember's ONNX importer.

Each case (a model, input arrays, expected outputs, rtol/atol) is classified as ``pass``,
``fail`` (ran, wrong result), ``error`` (raised) or ``unsupported`` (an op, or a feature of
an op, that ember does not implement), and counted per ONNX op type. Seeded random ops are
checked for shape and dtype only.

    python tests/onnx/node_runner.py            # print the counts
    python tests/onnx/node_runner.py --write    # also write tests/onnx/node_baseline.json

tests/onnx/test_onnx_node_baseline.py fails when an op's pass count drops below the baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

BASELINE = Path(__file__).with_name("node_baseline.json")
RANDOM_OPS = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
              "Bernoulli", "Multinomial", "Dropout"}


def load_cases():
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return load_model_tests(kind="node")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def op_key(case, schemas) -> str:
    """The op type a case tests: its node's, or for expanded (multi-node) models the op named
    by the test ("test_softmax_axis_0_expanded" -> "Softmax")."""
    nodes = case.model.graph.node
    if len(nodes) == 1:
        return nodes[0].op_type
    stem = case.name[len("test_"):]
    best = ""
    for op in schemas:
        s = _snake(op)
        if (stem == s or stem.startswith(s + "_")) and len(s) > len(_snake(best) if best else ""):
            best = op
    return best or "composite"


def run_case(case) -> str:
    import ember
    from ember.onnx import UnsupportedOnnxOps
    from ember.onnx.load import OnnxModule

    try:
        module = OnnxModule(case.model)
    except UnsupportedOnnxOps:
        return "unsupported"
    except NotImplementedError:
        return "unsupported"
    except Exception:  # noqa: BLE001 - classified, not hidden: counted as an error
        return "error"
    random = any(n.op_type in RANDOM_OPS for n in case.model.graph.node)
    for inputs, expected in case.data_sets:
        inputs, expected = _arrays(inputs), _arrays(expected)
        try:
            args = [_to_ember(a) for a in inputs]
        except (ember.errors.DTypeError, TypeError):
            return "unsupported"  # a dtype ember does not have (uint32, strings, float8)
        try:
            with ember.no_grad(), np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = module(*args)
        except NotImplementedError:
            return "unsupported"
        except Exception:  # noqa: BLE001 - classified as an error
            return "error"
        got = got if isinstance(got, tuple) else (got,)
        if len(got) < len(expected):
            return "fail"
        if not all(_matches(g, e, case, random) for g, e in zip(got, expected)):
            return "fail"
    return "pass"


def _matches(got, expected, case, random: bool) -> bool:
    """Whether one output agrees with the expected value: a sequence (list) element by
    element, an empty optional (None) only with None, a tensor in dtype, shape and value."""
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, list) or isinstance(got, list):
        return (isinstance(expected, list) and isinstance(got, list)
                and len(got) == len(expected)
                and all(_matches(g, e, case, random) for g, e in zip(got, expected)))
    g = np.asarray(got.numpy())
    e = np.asarray(expected)
    if g.dtype != e.dtype or g.shape != e.shape:
        return False
    if random:
        return True
    if e.dtype.kind == "V":  # ml_dtypes' bfloat16: compare as float32, NaN == NaN
        g, e = g.astype(np.float32), e.astype(np.float32)
    if e.dtype.kind in "fc":
        return bool(np.allclose(g, e, rtol=case.rtol, atol=case.atol, equal_nan=True))
    return bool(np.array_equal(g, e))


def _to_ember(value):
    """An input for the module: a tensor, a list of them (a sequence) or None (an empty
    optional)."""
    import ember

    if value is None:
        return None
    if isinstance(value, list):
        return [_to_ember(v) for v in value]
    return ember.from_numpy(np.array(value, order="C"))


def _arrays(values) -> list:
    """A data set's values as NumPy arrays: some cases (Cast, CastLike) hold TensorProtos;
    a sequence is a list of values, an empty optional None."""
    from onnx import TensorProto, numpy_helper

    def one(v):
        if isinstance(v, TensorProto):
            return numpy_helper.to_array(v)
        return [one(x) for x in v] if isinstance(v, list) else v

    return [one(v) for v in values]


def run(cases=None, only_ops=None) -> dict:
    """``{op type: {status: count}}`` over the cases (only ``only_ops`` if given)."""
    import onnx

    schemas = sorted({s.name for s in onnx.defs.get_all_schemas_with_history()})
    counts: dict = defaultdict(lambda: {"pass": 0, "fail": 0, "error": 0, "unsupported": 0})
    for case in cases if cases is not None else load_cases():
        key = op_key(case, schemas)
        if only_ops is not None and key not in only_ops:
            continue
        counts[key][run_case(case)] += 1
    return dict(sorted(counts.items()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the baseline JSON")
    args = parser.parse_args(argv)
    import onnx

    counts = run()
    totals = {s: sum(c[s] for c in counts.values()) for s in ("pass", "fail", "error",
                                                              "unsupported")}
    for op, c in counts.items():
        print(f"{op:32s} " + " ".join(f"{k}={v}" for k, v in c.items()))
    print("totals:", totals)
    if args.write:
        doc = {"onnx_version": onnx.__version__, "totals": totals, "ops": counts}
        BASELINE.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"wrote {BASELINE}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parents[2]))
    sys.exit(main())
