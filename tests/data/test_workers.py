"""DataLoader workers (threads and processes): reproducibility, errors, shutdown, no leaks.

Every loader here has a ``timeout``, so a bug cannot hang the suite (conftest adds a watchdog).
"""

import _thread
import gc
import multiprocessing as mp
import os
import signal
import threading
import time

import numpy as np
import pytest

import ember
from ember.data import DataLoader, WorkerError

from .workerdata import SeededItems, Stream, Unpicklable, failing_init, mark_worker

T = 30  # seconds: the timeout of every loader with workers


def _threads_settle(baseline, seconds=5.0):
    """The number of live threads once stopping workers have had time to end."""
    deadline = time.monotonic() + seconds
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.active_count()


def _children_settle(seconds=5.0):
    deadline = time.monotonic() + seconds
    while mp.active_children() and time.monotonic() < deadline:
        time.sleep(0.01)
    return mp.active_children()


def _content(batches):
    return [(b["i"].tolist(), b["r"].tolist(), b["x"].tolist()) for b in batches]


def _epochs(loader, n=2):
    return [_content(loader) for _ in range(n)]


def test_same_seed_same_batches_with_any_number_of_threads():
    ds = SeededItems(23)
    runs = []
    for workers in (0, 1, 3):
        kw = dict(timeout=T) if workers else {}
        loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers,
                            generator=ember.Generator(seed=7), **kw)
        runs.append(_epochs(loader))
    assert runs[0] == runs[1] == runs[2]
    first, second = runs[0]
    assert first != second and len(first) == 6
    assert sorted(sum((b[0] for b in first), [])) == list(range(23))
    other = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, timeout=T,
                       generator=ember.Generator(seed=8))
    assert _epochs(other) != runs[0]


def test_process_workers_persistent_match_the_main_process():
    ds = SeededItems(23)
    ref = _epochs(DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator(seed=3)),
                  3)
    loader = DataLoader(ds, batch_size=5, shuffle=True, num_workers=2, worker_type="process",
                        persistent_workers=True, timeout=T, generator=ember.Generator(seed=3))
    got = [_content(loader)]
    it = iter(loader)  # abandon the second epoch after one batch: stale batches are dropped
    next(it)
    got.append(_content(loader))
    workers = {b["worker"].tolist()[0] for b in iter(loader)}
    assert got[0] == ref[0] and got[1] == ref[2]
    assert workers == {0, 1}
    assert len(mp.active_children()) == 2  # persistent: alive between epochs
    del loader, it
    gc.collect()
    assert _children_settle() == []


def test_persistent_threads_and_abandoned_epochs():
    baseline = threading.active_count()
    ref = _epochs(DataLoader(SeededItems(17), batch_size=3, shuffle=True,
                             generator=ember.Generator(seed=1)), 3)
    loader = DataLoader(SeededItems(17), batch_size=3, shuffle=True, num_workers=2,
                        persistent_workers=True, timeout=T, generator=ember.Generator(seed=1))
    assert _content(loader) == ref[0]
    it = iter(loader)
    next(it)
    assert _content(loader) == ref[2]
    assert threading.active_count() == baseline + 2
    del loader, it
    assert _threads_settle(baseline) == baseline


def test_iterable_dataset_with_workers():
    ref = [(b["i"].tolist(), b["r"].tolist())
           for b in DataLoader(Stream(10), batch_size=3, generator=ember.Generator(seed=2))]
    one = [(b["i"].tolist(), b["r"].tolist()) for b in DataLoader(
        Stream(10), batch_size=3, num_workers=1, timeout=T, generator=ember.Generator(seed=2))]
    assert one == ref
    for kind in ("thread", "process"):
        loader = DataLoader(Stream(10), batch_size=3, num_workers=2, worker_type=kind,
                            timeout=T, generator=ember.Generator(seed=2))
        batches = [b["i"].tolist() for b in loader]
        # round-robin over the workers' shards: 0,2,4 | 1,3,5 | 6,8 | 7,9
        assert batches == [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]
    assert _children_settle() == []


def test_out_of_order_delivery_gives_every_batch():
    loader = DataLoader(SeededItems(20, sleep=0.001), batch_size=3, num_workers=3,
                        in_order=False, timeout=T)
    got = sorted(tuple(b["i"].tolist()) for b in loader)
    assert got == sorted(tuple(range(i, min(i + 3, 20))) for i in range(0, 20, 3))


def test_thread_worker_exception_keeps_type_traceback_and_index():
    baseline = threading.active_count()
    loader = DataLoader(SeededItems(12, fail_at=5), batch_size=4, num_workers=2, timeout=T)
    it = iter(loader)
    assert next(it)["i"].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="sample 5 is broken") as info:
        next(it)
    notes = "".join(getattr(info.value, "__notes__", []))
    assert "thread worker" in notes and "sample index 5" in notes
    assert "workerdata.py" in "".join(_frames(info.value))
    assert next(it)["i"].tolist() == [8, 9, 10, 11]  # the epoch goes on, as in PyTorch
    del it, info
    assert _threads_settle(baseline) == baseline


def test_sys_exit_in_a_thread_worker_does_not_end_the_program():
    class Exits(SeededItems):
        def __getitem__(self, i):
            if i == 2:
                raise SystemExit(3)
            return super().__getitem__(i)

    loader = DataLoader(Exits(4), batch_size=1, num_workers=1, timeout=T)
    with pytest.raises(WorkerError, match="Caught SystemExit in DataLoader thread worker 0 "
                                          "while loading sample index 2"):
        list(loader)


def _frames(exc):
    import traceback

    return traceback.format_exception(type(exc), exc, exc.__traceback__)


def test_process_worker_exception_carries_the_worker_traceback():
    loader = DataLoader(SeededItems(12, fail_at=6), batch_size=4, num_workers=2,
                        worker_type="process", timeout=T)
    with pytest.raises(ValueError) as info:
        list(loader)
    msg = str(info.value)
    assert "Caught ValueError in DataLoader process worker 1 while loading sample index 6" in msg
    assert "Original traceback in the worker" in msg and "sample 6 is broken" in msg
    assert "workerdata.py" in msg and "__getitem__" in msg
    del info
    gc.collect()
    assert _children_settle() == []


def test_dead_process_worker_is_reported_not_a_hang():
    loader = DataLoader(SeededItems(12, die_at=5), batch_size=4, num_workers=2,
                        worker_type="process", timeout=T)
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"worker 1 \(pid \d+\) exited unexpectedly "
                                          r"\(exit code 7\)"):
        list(loader)
    assert time.monotonic() - start < T / 2
    assert _children_settle() == []


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_timeout_raises(kind):
    baseline = threading.active_count()
    loader = DataLoader(SeededItems(3, sleep=0.6), batch_size=1, num_workers=1,
                        worker_type=kind, timeout=0.3, prefetch_factor=1)
    it = iter(loader)
    with pytest.raises(WorkerError, match=r"no batch arrived .* within timeout=0.3 s"):
        next(it)
    del it
    assert _children_settle() == []
    assert _threads_settle(baseline, 10) == baseline


def test_worker_init_fn_and_worker_info_in_processes():
    loader = DataLoader(SeededItems(8), batch_size=2, num_workers=2, worker_type="process",
                        worker_init_fn=mark_worker, timeout=T)
    seen = {(b["worker"].tolist()[0], b["mark"].tolist()[0]) for b in loader}
    assert seen == {(0, 100), (1, 101)}


def test_worker_init_fn_in_threads():
    called = []
    lock = threading.Lock()

    def init(worker_id):
        with lock:
            called.append(worker_id)

    loader = DataLoader(SeededItems(8), batch_size=2, num_workers=3, worker_init_fn=init,
                        timeout=T)
    workers = {b["worker"].tolist()[0] for b in loader}
    assert sorted(called) == [0, 1, 2] and workers <= {0, 1, 2}


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_failing_worker_init_fn_is_reported(kind):
    loader = DataLoader(SeededItems(8), batch_size=2, num_workers=2, worker_type=kind,
                        worker_init_fn=failing_init, timeout=T)
    with pytest.raises(RuntimeError, match="init of worker . failed"):
        list(loader)
    assert _children_settle() == []


def test_unpicklable_dataset_with_processes_says_what_to_do():
    with pytest.raises(TypeError, match="pickling.*module level.*worker_type='thread'"):
        iter(DataLoader(Unpicklable(), num_workers=1, worker_type="process", timeout=T))
    assert _children_settle() == []


def test_no_thread_leaks_across_epochs_and_abandoned_iterators():
    baseline = threading.active_count()
    loader = DataLoader(SeededItems(10), batch_size=2, num_workers=3, timeout=T)
    for _ in range(3):
        assert len(list(loader)) == 5
        assert _threads_settle(baseline) == baseline
    it = iter(loader)
    next(it)
    assert threading.active_count() == baseline + 3
    del it  # garbage collection shuts the workers down
    assert _threads_settle(baseline) == baseline
    for _ in loader:
        break
    assert _threads_settle(baseline) == baseline


def _consume(loader):
    for _ in loader:
        time.sleep(0.05)  # the model step, where Ctrl-C usually lands


@pytest.mark.parametrize("kind, delay", [("thread", 0.3), ("thread", 0.01), ("process", 0.3),
                                         ("process", 1.5)])
def test_keyboard_interrupt_shuts_workers_down(kind, delay):
    """Ctrl-C in the loop body or while waiting for a batch: the workers stop, even while
    the traceback (which holds the interrupted frames) is still alive."""
    baseline = threading.active_count()
    loader = DataLoader(SeededItems(400, sleep=0.02), batch_size=2, num_workers=2,
                        worker_type=kind, timeout=T)
    timer = threading.Timer(delay, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt) as info:
        _consume(loader)
    timer.join()
    assert info.value.__traceback__ is not None
    assert _children_settle() == []
    assert _threads_settle(baseline) == baseline


def test_process_workers_ignore_sigint_the_main_process_decides():
    loader = DataLoader(SeededItems(12, sleep=0.02), batch_size=2, num_workers=2,
                        worker_type="process", timeout=T)
    it = iter(loader)
    first = [next(it), next(it)]  # one batch from each worker: both are up and running
    assert {b["worker"].tolist()[0] for b in first} == {0, 1}
    for p in mp.active_children():
        os.kill(p.pid, signal.SIGINT)
    rest = list(it)
    assert [b["i"].tolist() for b in first + rest] == [[i, i + 1] for i in range(0, 12, 2)]
    del it
    assert _children_settle() == []


class Counting(SeededItems):
    """Counts the items loaded and the most loads running at the same moment."""

    def __init__(self, n, sleep):
        super().__init__(n, sleep=sleep)
        self.lock = threading.Lock()
        self.loaded = self.running = self.most = 0

    def __getitem__(self, i):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().__getitem__(i)
        finally:
            with self.lock:
                self.running -= 1
                self.loaded += 1


def test_workers_load_concurrently_and_prefetch_a_bounded_number_of_batches():
    ds = Counting(12, sleep=0.05)
    loader = DataLoader(ds, batch_size=1, num_workers=3, prefetch_factor=2, timeout=T)
    it = iter(loader)
    next(it)
    # the main process is busy: the workers load ahead -- the tasks in flight, refilled
    # once by the first batch -- and then stop
    deadline = time.monotonic() + 10
    while ds.loaded < 3 * 2 + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert ds.loaded == 3 * 2 + 1
    assert ds.most >= 2
    assert len(list(it)) == 11


def test_worker_results_are_plain_tensors_with_numpy_data():
    loader = DataLoader(SeededItems(4), batch_size=4, num_workers=1, worker_type="process",
                        timeout=T)
    (batch,) = list(loader)
    assert isinstance(batch["x"], ember.Tensor) and isinstance(batch["x"].data, np.ndarray)
    assert batch["x"].shape == (4, 3) and not batch["x"].requires_grad
