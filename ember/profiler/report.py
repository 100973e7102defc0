"""What a profile reports: events, per-key averages, the table, the Chrome trace, the plot.

``Report`` holds the raw records a ``profile`` block collected and turns them into numbers on
demand: FLOPs and bytes from each op's ``cost`` declaration (``ember.ops.registry``), achieved
GFLOP/s and GB/s, and the fraction of the roofline the op reached -- the attainable rate
``min(peak FLOP/s, intensity x peak bandwidth)`` with the machine's measured peaks
(``ember.utils.benchmark_device``).
"""

from __future__ import annotations

import json
import os
import tempfile

from ..errors import EmberError
from ..ops.registry import Op, backward_cost

__all__ = ["Event", "KeyAverage", "KeyAverages", "ExportError"]

DATA_HINT_FRACTION = 0.2  # data wait above this share of the wall time earns a hint

_SORT_KEYS = {
    "time": "total_ns", "cpu_time_total": "total_ns", "cuda_time_total": "total_ns",
    "self_cpu_time_total": "total_ns", "count": "count", "flops": "flops", "bytes": "bytes",
    "memory": "alloc", "name": "name",
}


class ExportError(EmberError, OSError):
    """A profile could not be written (unwritable or missing directory)."""


def _shapes(specs) -> tuple:
    return tuple(None if s is None else tuple(s[0]) for s in specs)


def _cost(op, phase, out_specs, in_specs, attrs, needs) -> tuple:
    try:
        if phase == "forward":
            flops, nbytes = op.cost(out_specs, in_specs, attrs)
        else:
            flops, nbytes = backward_cost(op, out_specs, in_specs, attrs, needs)
    except (IndexError, KeyError, TypeError, ValueError):  # specs the declaration did not
        flops, nbytes = Op.cost(out_specs, in_specs, attrs)  # foresee: elementwise estimate
        if phase != "forward":
            flops *= max(1, sum(needs))
    return int(flops), int(nbytes)


class Event:
    """One recorded op application (``phase`` "forward" or "backward").

    Times are in microseconds from the start of the profile block; ``flops`` and ``bytes``
    come from the op's cost declaration; ``alloc_bytes`` is the size of the arrays the op
    created (outputs, or input gradients in backward; views allocate nothing).
    """

    __slots__ = ("name", "phase", "start_us", "duration_us", "module", "module_type",
                 "input_shapes", "flops", "bytes", "alloc_bytes")

    def __init__(self, record, start_ns: int) -> None:
        op, phase, t0, t1, mod, ins, outs, attrs, needs, alloc = record
        self.name = op.name
        self.phase = phase
        self.start_us = (t0 - start_ns) / 1e3
        self.duration_us = (t1 - t0) / 1e3
        self.module, self.module_type = mod
        self.input_shapes = _shapes(ins)
        self.flops, self.bytes = _cost(op, phase, outs, ins, attrs, needs)
        self.alloc_bytes = alloc

    def __repr__(self) -> str:
        return (f"Event({self.name} {self.phase}, {self.duration_us:.1f} us, "
                f"{self.flops} FLOPs, {self.bytes} B)")


class KeyAverage:
    """The events sharing a key (op and phase, or module), summed."""

    __slots__ = ("name", "phase", "module_type", "input_shapes", "count", "total_ns", "flops",
                 "bytes", "alloc")

    def __init__(self, name, phase="", module_type="", input_shapes=None) -> None:
        self.name, self.phase, self.module_type = name, phase, module_type
        self.input_shapes = input_shapes
        self.count = self.total_ns = self.flops = self.bytes = self.alloc = 0

    def add(self, e: Event) -> None:
        self.count += 1
        self.total_ns += round(e.duration_us * 1e3)
        self.flops += e.flops
        self.bytes += e.bytes
        self.alloc += e.alloc_bytes

    @property
    def total_ms(self) -> float:
        return self.total_ns / 1e6

    @property
    def gflops_per_s(self) -> float:
        """Achieved GFLOP/s over the key's total time."""
        return self.flops / self.total_ns if self.total_ns else 0.0

    @property
    def gb_per_s(self) -> float:
        """Achieved GB/s (bytes read plus written) over the key's total time."""
        return self.bytes / self.total_ns if self.total_ns else 0.0

    def roofline_fraction(self, peak_gflops: float, peak_gbs: float) -> float:
        """Achieved rate over the attainable one: ``min(peak, intensity x bandwidth)`` for
        ops with FLOPs, bandwidth alone for pure data movement."""
        if not self.total_ns:
            return 0.0
        if self.flops:
            attainable = min(peak_gflops, self.flops / max(self.bytes, 1) * peak_gbs)
            return self.gflops_per_s / attainable
        return self.gb_per_s / peak_gbs if self.bytes else 0.0

    def __repr__(self) -> str:
        return (f"KeyAverage({self.name!r}, {self.phase or self.module_type}, count="
                f"{self.count}, {self.total_ms:.3f} ms, {self.flops} FLOPs)")


class KeyAverages(list):
    """A list of ``KeyAverage`` (``prof.key_averages()``) that can print itself."""

    def __init__(self, items, report, group_by: str) -> None:
        super().__init__(items)
        self._report = report
        self._group_by = group_by

    def table(self, sort_by: str = "time", row_limit: int | None = None) -> str:
        """The rows as a table (see ``profile.table``)."""
        return self._report._render(self, self._group_by, sort_by, row_limit)


def _fmt_ms(ns: int) -> str:
    return f"{ns / 1e6:.3f}"


class Report:
    """The records of a profile and the views of them (base of ``profile``)."""

    def __init__(self) -> None:
        self._ops: list = []
        self._data: list = []  # (t0, t1) of each DataLoader batch request
        self._ranges: list = []  # (name, t0, t1) of record_function blocks
        self._events = None
        self.start_ns = self.stop_ns = 0
        self._peaks = None

    # ------------------------------------------------------------------ raw views
    @property
    def events(self) -> list:
        """Every recorded op application as an ``Event``, in the order they ran."""
        if self._events is None or len(self._events) != len(self._ops):
            self._events = [Event(r, self.start_ns) for r in self._ops]
        return self._events

    @property
    def wall_ns(self) -> int:
        """Duration of the profile block."""
        return self.stop_ns - self.start_ns

    @property
    def data_wait_ns(self) -> int:
        """Time the profiled thread spent waiting for DataLoader batches."""
        return sum(t1 - t0 for t0, t1 in self._data)

    @property
    def op_ns(self) -> int:
        """Time spent inside op forwards and vjps."""
        return sum(r[3] - r[2] for r in self._ops)

    @property
    def peaks(self) -> dict:
        """The machine's peaks for the roofline: ``{"gflops": float32 matmul GFLOP/s,
        "gbs": copy GB/s}``, measured once per process unless given."""
        if self._peaks is None:
            from ..utils.benchmark import device_peaks

            self._peaks = device_peaks("cuda" if "cuda" in getattr(self, "activities", ())
                                       else "cpu")
        return self._peaks

    @peaks.setter
    def peaks(self, value: dict) -> None:
        if not {"gflops", "gbs"} <= set(value):
            raise ValueError("profile: peaks must give 'gflops' (GFLOP/s) and 'gbs' (GB/s)")
        self._peaks = {"gflops": float(value["gflops"]), "gbs": float(value["gbs"])}

    # ------------------------------------------------------------------ aggregates
    def key_averages(self, group_by_input_shape: bool = False,
                     group_by: str = "op") -> KeyAverages:
        """Events summed per key: ``group_by="op"`` (op name and phase, and input shapes
        with ``group_by_input_shape``) or ``"module"`` (the innermost module path)."""
        if group_by not in ("op", "module"):
            raise ValueError(f"profile: group_by must be 'op' or 'module', got {group_by!r}")
        rows: dict = {}
        for e in self.events:
            if group_by == "module":
                key = e.module or "(no module)"
                row = rows.get(key)
                if row is None:
                    row = rows[key] = KeyAverage(key, module_type=e.module_type or "")
            else:
                key = (e.name, e.phase, e.input_shapes if group_by_input_shape else None)
                row = rows.get(key)
                if row is None:
                    row = rows[key] = KeyAverage(e.name, e.phase, input_shapes=key[2])
            row.add(e)
        items = sorted(rows.values(), key=lambda r: -r.total_ns)
        return KeyAverages(items, self, group_by)

    def table(self, sort_by: str = "time", group_by: str = "op",
              row_limit: int | None = None) -> str:
        """A readable table of time, FLOPs, bytes and roofline per op or per module.

        Args:
            sort_by: "time" (or torch's "cpu_time_total"), "count", "flops", "bytes",
                "memory" or "name".
            group_by: "op" (op and phase) or "module" (innermost ``nn.Module`` path).
            row_limit: at most this many rows; the rest are summed in one "others" row, so
                the total row is always the sum of the rows above it.

        Example:
            >>> import ember
            >>> with ember.profiler.profile(peaks={"gflops": 50, "gbs": 10}) as prof:
            ...     y = ember.randn(8, 8) @ ember.randn(8, 8)
            >>> print(prof.table().splitlines()[0])
            op      phase    calls  total ms  % ops  avg us  MFLOP  GFLOP/s  GB/s  % roof  alloc MB
        """
        return self._render(self.key_averages(group_by=group_by), group_by, sort_by,
                            row_limit)

    def _render(self, rows, group_by, sort_by, row_limit) -> str:
        attr = _SORT_KEYS.get(sort_by)
        if attr is None:
            raise ValueError(f"profile.table: sort_by must be one of {sorted(_SORT_KEYS)}, "
                             f"got {sort_by!r}")
        rows = sorted(rows, key=lambda r: getattr(r, attr), reverse=attr != "name")
        if row_limit is not None and len(rows) > row_limit:
            rest = KeyAverage(f"({len(rows) - row_limit} others)")
            for r in rows[row_limit:]:
                for f in ("count", "total_ns", "flops", "bytes", "alloc"):
                    setattr(rest, f, getattr(rest, f) + getattr(r, f))
            rows = rows[:row_limit] + [rest]
        total = KeyAverage("total")
        for r in rows:
            for f in ("count", "total_ns", "flops", "bytes", "alloc"):
                setattr(total, f, getattr(total, f) + getattr(r, f))
        peaks = self.peaks
        by_op = group_by == "op"
        head = ["op" if by_op else "module", "phase" if by_op else "type", "calls", "total ms",
                "% ops", "avg us", "MFLOP", "GFLOP/s", "GB/s", "% roof", "alloc MB"]
        lines = []
        for r in rows + [total]:
            lines.append([
                r.name + (f" {r.input_shapes}" if r.input_shapes else ""),
                (r.phase if by_op else r.module_type) or "-", str(r.count), _fmt_ms(r.total_ns),
                f"{100 * r.total_ns / max(total.total_ns, 1):.1f}",
                f"{r.total_ns / 1e3 / max(r.count, 1):.1f}", f"{r.flops / 1e6:.2f}",
                f"{r.gflops_per_s:.2f}", f"{r.gb_per_s:.2f}",
                f"{100 * r.roofline_fraction(peaks['gflops'], peaks['gbs']):.1f}",
                f"{r.alloc / 2**20:.2f}"])
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]

        def fmt(cells):
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths)))

        rule = "-" * len(fmt(head))
        out = [fmt(head), rule] + [fmt(line) for line in lines[:-1]] + [rule, fmt(lines[-1])]
        out.append(self._footer(peaks))
        return "\n".join(out)

    def _footer(self, peaks) -> str:
        wall, data, ops = self.wall_ns, self.data_wait_ns, self.op_ns
        fwd = sum(r[3] - r[2] for r in self._ops if r[1] == "forward")
        other = max(wall - data - ops, 0)
        text = (f"wall {_fmt_ms(wall)} ms: ops {_fmt_ms(ops)} ms (forward {_fmt_ms(fwd)}, "
                f"backward {_fmt_ms(ops - fwd)}), data wait {_fmt_ms(data)} ms, other "
                f"(Python, work outside ops) {_fmt_ms(other)} ms\n"
                f"peaks: {peaks['gflops']:.1f} GFLOP/s, {peaks['gbs']:.1f} GB/s (ridge "
                f"{peaks['gflops'] / peaks['gbs']:.1f} FLOP/byte); % roof = achieved / "
                "min(peak, intensity x bandwidth)")
        hint = self.data_hint()
        return text + ("\n" + hint if hint else "")

    def data_hint(self) -> str:
        """A hint when the loop spent a large share of its time waiting for data ("" if not)."""
        wall, data = self.wall_ns, self.data_wait_ns
        if not wall or data < DATA_HINT_FRACTION * wall:
            return ""
        return (f"hint: the model waited on data for {100 * data / wall:.0f}% of the time. "
                "Load in parallel (DataLoader(num_workers=...)), use batched transforms, "
                "or keep the dataset in memory")

    # ------------------------------------------------------------------ exports
    def chrome_trace(self) -> dict:
        """The profile in the trace-event format (one complete "X" event per op, plus one
        per DataLoader wait and per ``record_function`` block) that chrome://tracing and
        ui.perfetto.dev open."""
        pid = os.getpid()
        events = []
        for e in self.events:
            args = {"flops": e.flops, "bytes": e.bytes, "alloc_bytes": e.alloc_bytes}
            if e.module:
                args["module"] = e.module
            if getattr(self, "record_shapes", True):
                args["input_shapes"] = [list(s) if s is not None else None
                                        for s in e.input_shapes]
            events.append({"name": e.name, "cat": e.phase, "ph": "X", "ts": e.start_us,
                           "dur": e.duration_us, "pid": pid, "tid": 0, "args": args})
        for t0, t1 in self._data:
            events.append({"name": "DataLoader.__next__", "cat": "data", "ph": "X",
                           "ts": (t0 - self.start_ns) / 1e3, "dur": (t1 - t0) / 1e3,
                           "pid": pid, "tid": 0, "args": {}})
        for name, t0, t1 in self._ranges:
            events.append({"name": name, "cat": "user_annotation", "ph": "X",
                           "ts": (t0 - self.start_ns) / 1e3, "dur": (t1 - t0) / 1e3,
                           "pid": pid, "tid": 0, "args": {}})
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def export_chrome_trace(self, path) -> str:
        """Write the Chrome/Perfetto trace JSON to ``path`` (atomically); returns the path.

        Raises ``ExportError`` when the directory is missing or not writable.

        Example:
            >>> import json, os, tempfile, ember
            >>> with ember.profiler.profile(peaks={"gflops": 50, "gbs": 10}) as prof:
            ...     y = ember.ones(3).exp().sum()
            >>> path = prof.export_chrome_trace(os.path.join(tempfile.mkdtemp(), "t.json"))
            >>> [e["name"] for e in json.load(open(path))["traceEvents"]]
            ['exp', 'sum']
        """
        text = json.dumps(self.chrome_trace())
        return _atomic_write(path, text.encode(), "export_chrome_trace")

    def plot(self, path, group_by_input_shape: bool = False) -> str:
        """Draw the roofline (achieved GFLOP/s against arithmetic intensity, one point per
        op, under the machine's peaks) as a PNG at ``path``; returns the path."""
        import io

        import numpy as np

        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise ImportError("profile.plot draws with matplotlib: pip install 'ember[plot]' "
                              "(or matplotlib)") from exc

        peaks = self.peaks
        fig = Figure(figsize=(8, 5.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        rows = [r for r in self.key_averages(group_by_input_shape) if r.flops and r.total_ns]
        xs = [r.flops / max(r.bytes, 1) for r in rows]
        lo = min(xs + [peaks["gflops"] / peaks["gbs"] / 10]) / 2
        hi = max(xs + [peaks["gflops"] / peaks["gbs"] * 10]) * 2
        grid = np.geomspace(lo, hi, 200)
        ax.plot(grid, np.minimum(peaks["gflops"], grid * peaks["gbs"]), "k-",
                label=f"roof: {peaks['gflops']:.0f} GFLOP/s, {peaks['gbs']:.1f} GB/s")
        total = max(sum(r.total_ns for r in rows), 1)
        for r, x in zip(rows, xs):
            ax.scatter([x], [r.gflops_per_s], s=20 + 400 * r.total_ns / total, alpha=0.6)
            ax.annotate(f"{r.name} ({r.phase[0]})", (x, r.gflops_per_s), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP / byte)")
        ax.set_ylabel("achieved GFLOP/s")
        ax.set_title("roofline: ops of the profile (area ~ time)")
        ax.legend(loc="lower right")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return _atomic_write(path, buf.getvalue(), "plot")


def _atomic_write(path, data: bytes, what: str) -> str:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ExportError(f"profile.{what}: cannot write {path!r}: directory {directory!r} "
                          "does not exist. Create it first or choose another path")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ember-profile-")
    except OSError as exc:
        raise ExportError(f"profile.{what}: cannot write {path!r}: {exc.strerror or exc}. "
                          "Choose a directory you can write to") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise ExportError(f"profile.{what}: cannot write {path!r}: {exc.strerror or exc}. "
                          "Choose a path you can write to") from exc
    return path
