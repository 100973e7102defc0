"""ember's profiler: where time, FLOPs and bytes go, and how close ops run to the machine.

``profile()`` records every op of a block (forward and backward) with its wall time, FLOPs
and bytes (from each op's cost declaration), module path and allocated memory, and the time
spent waiting for a DataLoader. Reports: ``table``, ``key_averages``, ``export_chrome_trace``
(Chrome / Perfetto), ``plot`` (a roofline PNG). See docs/profiler.md.

Example:
    >>> import ember
    >>> model = ember.nn.Linear(8, 4)
    >>> with ember.profiler.profile() as prof:
    ...     model(ember.randn(16, 8)).sum().backward()
    >>> for e in prof.events:
    ...     print(e.name, e.phase, e.module, e.flops)
    linear forward Linear 1088
    sum forward None 64
    sum backward None 64
    linear backward Linear 1088
"""

from __future__ import annotations

from .profile import ProfilerActivity, profile, record_function
from .report import Event, ExportError, KeyAverage, KeyAverages

__all__ = ["profile", "record_function", "ProfilerActivity", "Event", "KeyAverage",
           "KeyAverages", "ExportError"]
