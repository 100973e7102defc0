"""ember.profiler.profile: records, tables, Chrome trace, plot, data wait, errors."""

import json
import os
import re
import time

import numpy as np
import pytest

import ember
from ember.autograd.grad_mode import state
from ember.data import DataLoader, Dataset
from ember.errors import DeviceError
from ember.profiler import ExportError, profile

PEAKS = {"gflops": 50.0, "gbs": 10.0}


def small_cnn():
    nn = ember.nn
    ember.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 3))


def step(model, x, y):
    loss = ember.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss


@pytest.fixture
def prof():
    model = small_cnn()
    x = ember.randn(2, 1, 8, 8)
    y = ember.tensor([0, 2])
    with profile(peaks=PEAKS) as p:
        step(model, x, y)
    return p


def test_records_forward_and_backward_with_module_paths(prof):
    fwd = [(e.name, e.module) for e in prof.events if e.phase == "forward"]
    assert fwd[:3] == [("conv2d", "Sequential.0"), ("relu", "Sequential.1"),
                       ("max_pool2d", "Sequential.2")]
    assert ("linear", "Sequential.4") in fwd
    assert fwd[-1][0] == "cross_entropy" and fwd[-1][1] is None
    bwd = [(e.name, e.module) for e in prof.events if e.phase == "backward"]
    # backward runs the vjps in reverse, each under its forward's module
    assert bwd[0][0] == "cross_entropy" and bwd[-1] == ("conv2d", "Sequential.0")
    assert all(e.duration_us >= 0 and e.start_us >= 0 for e in prof.events)
    assert state.profiler is None and state.dispatch is None  # uninstalled on exit


def table_rows(text):
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if set(line) == {"-"}]
    body = [re.split(r"\s{2,}", line.strip()) for line in lines[rules[0] + 1:rules[1]]]
    total = re.split(r"\s{2,}", lines[rules[1] + 1].strip())
    return body, total


@pytest.mark.parametrize("group_by", ["op", "module"])
@pytest.mark.parametrize("row_limit", [None, 2])
def test_table_total_is_the_sum_of_its_rows(prof, group_by, row_limit):
    text = prof.table(sort_by="time", group_by=group_by, row_limit=row_limit)
    body, total = table_rows(text)
    if row_limit:
        assert len(body) == row_limit + 1 and "others" in body[-1][0]
    # columns: name, phase/type, calls, total ms, %, avg, MFLOP, GFLOP/s, GB/s, % roof, MB
    assert all(len(r) == 11 for r in body + [total]), body
    assert int(total[2]) == sum(int(r[2]) for r in body) == len(prof.events)
    assert float(total[3]) == pytest.approx(sum(float(r[3]) for r in body), abs=1e-3 * len(body))
    assert float(total[3]) == pytest.approx(prof.op_ns / 1e6, abs=1e-3)
    assert float(total[4]) == 100.0
    assert float(total[6]) == pytest.approx(sum(float(r[6]) for r in body), abs=0.01 * len(body))
    assert float(total[6]) == pytest.approx(sum(e.flops for e in prof.events) / 1e6, abs=0.01)
    assert float(total[10]) == pytest.approx(sum(float(r[10]) for r in body), abs=0.01 * len(body))
    assert "wall" in text and "peaks: 50.0 GFLOP/s, 10.0 GB/s" in text


def test_key_averages_sum_events(prof):
    avgs = prof.key_averages()
    assert sum(a.count for a in avgs) == len(prof.events)
    assert sum(a.flops for a in avgs) == sum(e.flops for e in prof.events)
    conv = next(a for a in avgs if a.name == "conv2d" and a.phase == "forward")
    assert conv.flops == 2 * 4 * 6 * 6 * (2 * 9 + 1)
    assert conv.gflops_per_s == pytest.approx(conv.flops / conv.total_ns)
    by_shape = prof.key_averages(group_by_input_shape=True)
    assert any(a.input_shapes == ((2, 1, 8, 8), (4, 1, 3, 3), (4,)) for a in by_shape)
    assert "conv2d" in prof.key_averages().table(sort_by="flops", row_limit=3)  # not timing


def test_roofline_fraction():
    a = ember.profiler.KeyAverage("x")
    a.total_ns, a.flops, a.bytes = 10**9, 10 * 10**9, 10**9  # 10 GFLOP/s at 10 FLOP/byte
    # attainable = min(50, 10 FLOP/B * 2 GB/s = 20) -> half the roof
    assert a.roofline_fraction(50.0, 2.0) == pytest.approx(0.5)
    a.flops = 0  # pure data movement: measured against bandwidth alone (1 GB/s of 4)
    assert a.roofline_fraction(50.0, 4.0) == pytest.approx(0.25)


def test_bad_sort_and_group_arguments(prof):
    with pytest.raises(ValueError, match="sort_by must be one of"):
        prof.table(sort_by="speed")
    with pytest.raises(ValueError, match="group_by must be 'op' or 'module'"):
        prof.table(group_by="layer")
    with pytest.raises(ValueError, match="peaks must give 'gflops'"):
        profile(peaks={"gflops": 1})


def test_chrome_trace_has_one_event_per_op(prof, tmp_path):
    path = tmp_path / "trace.json"
    assert prof.export_chrome_trace(path) == str(path)
    data = json.loads(path.read_text())
    ops = [e for e in data["traceEvents"] if e["cat"] in ("forward", "backward")]
    assert len(ops) == len(prof.events) == len(data["traceEvents"])
    for e, ev in zip(ops, prof.events):
        assert e["ph"] == "X" and e["name"] == ev.name and e["cat"] == ev.phase
        assert isinstance(e["ts"], float) and e["dur"] >= 0 and e["pid"] == os.getpid()
        assert e["args"]["flops"] == ev.flops
    assert [p.name for p in tmp_path.iterdir()] == ["trace.json"]  # no temporary left


def test_export_to_unwritable_paths(prof, tmp_path):
    with pytest.raises(ExportError, match="directory .* does not exist"):
        prof.export_chrome_trace(tmp_path / "missing" / "trace.json")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # running as root: permissions do not stop us
            target = tmp_path / "adir"
            target.mkdir()  # a directory where the file should go cannot be replaced
            with pytest.raises(ExportError, match="cannot write"):
                prof.export_chrome_trace(target)
        else:
            with pytest.raises(ExportError, match="cannot write"):
                prof.export_chrome_trace(ro / "trace.json")
    finally:
        ro.chmod(0o700)


def test_plot_writes_a_png(prof, tmp_path):
    path = prof.plot(tmp_path / "roofline.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


class SlowDataset(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        time.sleep(0.02)
        return np.full(4, i, dtype=np.float32)


def test_slow_dataloader_shows_as_data_wait():
    model = ember.nn.Linear(4, 2)
    loader = DataLoader(SlowDataset(), batch_size=2)
    with profile(peaks=PEAKS) as prof:
        for x in loader:
            model(x).sum().backward()
    assert len(prof._data) == 4  # 3 batches and the request that ends the loop
    assert prof.data_wait_ns >= 6 * 0.02 * 1e9
    assert prof.data_wait_ns > 0.5 * prof.wall_ns
    assert "model waited on data" in prof.data_hint()
    assert "hint: the model waited on data" in prof.table()
    trace = prof.chrome_trace()["traceEvents"]
    assert sum(e["cat"] == "data" for e in trace) == 4


def test_fast_loop_has_no_data_hint(prof):
    assert prof.data_wait_ns == 0 and prof.data_hint() == ""


def test_profiling_off_leaves_no_trace():
    loader = DataLoader(SlowDataset(), batch_size=3)
    assert type(iter(loader)).__name__ == "_SingleProcessIter"
    x = ember.randn(3, requires_grad=True)
    (x * 2).sum().backward()
    assert state.profiler is None


def test_exception_inside_block_uninstalls():
    with pytest.raises(ember.errors.ShapeError):
        with profile(peaks=PEAKS):
            ember.randn(2, 3) @ ember.randn(2, 3)
    assert state.profiler is None and state.dispatch is None


def test_nested_profiles_are_refused():
    with profile(peaks=PEAKS):
        with pytest.raises(RuntimeError, match="another profiler is recording"):
            with profile(peaks=PEAKS):
                pass


def test_create_graph_backward_counts_each_vjp_once():
    x = ember.randn(5, dtype=ember.float64, requires_grad=True)
    with profile(peaks=PEAKS) as prof:
        (g,) = ember.autograd.grad((x * x).sum(), x, create_graph=True)
    # the ops inside each vjp belong to it; the engine's sum of the two gradients of x
    # (x * x uses x twice) is an op of its own under create_graph
    assert [(e.name, e.phase) for e in prof.events] == [
        ("mul", "forward"), ("sum", "forward"), ("sum", "backward"), ("mul", "backward"),
        ("add", "forward")]
    np.testing.assert_allclose(g.detach().numpy(), 2 * x.detach().numpy())


def test_cuda_activity_without_a_gpu_is_a_clear_error():
    gpu, _ = ember.backend.try_backend("cuda")
    if gpu is not None:
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match="CUDA activity requested but this machine has no"):
        profile(activities=[ember.profiler.ProfilerActivity.CUDA])
    with pytest.raises(ValueError, match="unknown activity"):
        profile(activities=["tpu"])


def test_memory_counts_outputs_and_gradients():
    x = ember.randn(4, 8, requires_grad=True)
    with profile(peaks=PEAKS) as prof:
        x.reshape(8, 4).exp().sum().backward()
    alloc = {(e.name, e.phase): e.alloc_bytes for e in prof.events}
    assert alloc[("reshape", "forward")] == 0  # a view allocates nothing
    assert alloc[("exp", "forward")] == 4 * 32
    assert alloc[("exp", "backward")] == 4 * 32  # the gradient it returns
    with profile(peaks=PEAKS, profile_memory=False) as prof:
        x.exp().sum().backward()
    assert all(e.alloc_bytes == 0 for e in prof.events)


def test_thread_workers_wait_is_recorded():
    loader = DataLoader(SlowDataset(), batch_size=2, num_workers=2, worker_type="thread")
    with profile(peaks=PEAKS) as prof:
        batches = list(loader)
    assert len(batches) == 3 and len(prof._data) == 4
    assert 0 < prof.data_wait_ns <= prof.wall_ns


def test_cuda_activity_synchronises_around_each_op(monkeypatch):
    # no GPU here: pretend CUDA is available and count the backend's synchronize calls
    import importlib

    from ember.backend import get_backend

    profile_mod = importlib.import_module("ember.profiler.profile")  # the module, not the class

    monkeypatch.setattr(profile_mod, "try_backend", lambda kind: (object(), ""))
    cpu = get_backend("cpu")
    calls = []
    monkeypatch.setattr(cpu, "synchronize", lambda device=None: calls.append(device),
                        raising=False)
    x = ember.randn(3, requires_grad=True)
    with profile(activities=["cpu", "cuda"], peaks=PEAKS) as prof:
        (x * 2).sum().backward()
    assert prof.activities == ("cpu", "cuda")
    assert len(calls) == 2 * len(prof.events) == 8  # before and after each op and vjp


def test_record_function_labels_a_region():
    with ember.profiler.record_function("outside"):  # nothing profiling: a no-op
        pass
    with profile(peaks=PEAKS) as prof:
        with ember.profiler.record_function("step"):
            ember.ones(3).exp()
            time.sleep(0.01)
    ev = [e for e in prof.chrome_trace()["traceEvents"] if e["cat"] == "user_annotation"]
    assert [e["name"] for e in ev] == ["step"] and ev[0]["dur"] >= 1e4
    assert len(prof.events) == 1  # regions are not ops: the table is unchanged
