"""ember.utils.summary, Keras summary FLOPs, benchmark_device and ``ember info --bench``."""

import io

import numpy as np
import pytest

import ember
from ember import cli
from ember.errors import DeviceError, ShapeError
from ember.utils.benchmark import benchmark_device, format_benchmark

nn = ember.nn


def w2_cnn():
    ember.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 3 * 3, 64), nn.ReLU(), nn.Linear(64, 10))


def test_summary_of_the_w2_cnn_matches_hand_counts():
    s = ember.utils.summary(w2_cnn(), (1, 1, 28, 28))
    rows = {r["name"]: r for r in s.rows}
    expect = {  # name: (output shape, params, forward FLOPs)
        "0": ((1, 32, 26, 26), 320, 32 * 26 * 26 * (2 * 9 + 1)),
        "1": ((1, 32, 26, 26), 0, 32 * 26 * 26),
        "2": ((1, 32, 13, 13), 0, 32 * 13 * 13 * 4),
        "3": ((1, 64, 11, 11), 18496, 64 * 11 * 11 * (2 * 32 * 9 + 1)),
        "5": ((1, 64, 5, 5), 0, 64 * 5 * 5 * 4),
        "6": ((1, 64, 3, 3), 36928, 64 * 3 * 3 * (2 * 64 * 9 + 1)),
        "8": ((1, 576), 0, 0),
        "9": ((1, 64), 36928, 64 * (2 * 576 + 1)),
        "11": ((1, 10), 650, 10 * (2 * 64 + 1)),
    }
    for name, (shape, params, flops) in expect.items():
        r = rows[name]
        assert (r["output_shape"], r["params"], r["flops"]) == (shape, params, flops), name
        assert r["activation_bytes"] == 4 * int(np.prod(shape))
    assert s.total_params == 93322 and s.trainable_params == 93322
    assert s.forward_flops == sum(r["flops"] for r in s.rows)
    # backward: the first conv needs only its weight and bias gradients
    conv0 = rows["0"]["backward_flops"]
    assert conv0 == 2 * (32 * 26 * 26) * 9 + 32 * 26 * 26
    assert s.training_flops == s.forward_flops + s.backward_flops
    text = str(s)
    assert "0 (Conv2d)" in text and "Training step" in text and "93,322" in text


def test_summary_bad_shape_names_the_layer():
    with pytest.raises(ShapeError, match=r"layer Sequential\.0 \(Conv2d\) rejected its input "
                       r"of shape \(1, 3, 28, 28\)"):
        ember.utils.summary(w2_cnn(), (1, 3, 28, 28))
    with pytest.raises(ShapeError, match=r"layer Sequential\.9 \(Linear\) rejected its input "
                       r"of shape \(1, 1024\)"):
        ember.utils.summary(w2_cnn(), (1, 1, 32, 32))
    with pytest.raises(ShapeError, match="must be a tuple of ints"):
        ember.utils.summary(w2_cnn(), "28x28")
    with pytest.raises(ShapeError, match="has a dimension below 1"):
        ember.utils.summary(w2_cnn(), (0, 1, 28, 28))


def test_summary_changes_nothing():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    before = [b.numpy().copy() for b in model.buffers()]
    state = ember.get_rng_state()
    ember.utils.summary(model, (3, 4))
    for b0, b1 in zip(before, model.buffers()):
        np.testing.assert_array_equal(b0, b1.numpy())
    assert ember.get_rng_state() == state
    assert all(p.grad is None for p in model.parameters())


def test_keras_summary_has_flops():
    from ember import keras
    from ember.keras import layers

    keras.backend.clear_session()
    model = keras.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3), layers.Flatten(),
                              layers.Dense(2)])
    out = io.StringIO()
    model.summary(print_fn=lambda s: print(s, file=out))
    text = out.getvalue()
    conv = 4 * 6 * 6 * (2 * 9 + 1)
    dense = 2 * (2 * 144 + 1)
    assert "FLOPs" in text and f"{conv:,}" in text and f"{dense:,}" in text
    assert f"FLOPs per sample: {conv + dense:,} forward" in text


def test_benchmark_matmul_rate_is_numpys(monkeypatch):
    # ember's matmul on large matrices is NumPy's plus microseconds: within 10% (best-of,
    # interleaved; measured again when the machine's noise gets in the way). oneDNN off: its
    # recent use (other tests) would hold OpenBLAS to one thread for ember's matmul.
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    for _ in range(4):
        r = benchmark_device("cpu", n=768, copy_mib=32, rounds=5)["cpu"]
        m = r["matmul"]["float32"]
        if abs(m["gflops"] / m["library_gflops"] - 1) <= 0.10:
            break
    assert abs(m["gflops"] / m["library_gflops"] - 1) <= 0.10, m
    assert r["bandwidth_gbs"] > 0.1 and r["library"].startswith("BLAS:")
    text = format_benchmark({"cpu": r})
    assert "matmul float32 768x768" in text and "memory bandwidth" in text


def test_benchmark_bad_arguments():
    with pytest.raises(ValueError, match="must be positive"):
        benchmark_device("cpu", n=0)
    gpu, _ = ember.backend.try_backend("cuda")
    if gpu is None:
        with pytest.raises(DeviceError, match="cuda is not available"):
            benchmark_device("cuda")


def test_info_bench_cli(monkeypatch):
    import functools

    from ember.utils import benchmark

    assert cli._parser().parse_args(["info", "--bench"]).bench
    small = functools.partial(benchmark.benchmark_device, n=256, copy_mib=16, rounds=2)
    monkeypatch.setattr(benchmark, "benchmark_device", small)  # the wiring, not the speed
    out = io.StringIO()
    cli.info(out=out, bench=True)
    text = out.getvalue()
    assert "matmul float32 256x256" in text and "NumPy's own matmul" in text
    assert "GB/s (copy of 16 MiB, bytes read + written)" in text and "BLAS: " in text


def test_keras_summary_of_a_token_model_counts_with_integer_zeros():
    from ember import keras
    from ember.keras import layers

    keras.backend.clear_session()
    model = keras.Sequential([layers.Input((5,), dtype="int64"), layers.Embedding(20, 4),
                              layers.Flatten(), layers.Dense(2)])
    out = io.StringIO()
    model.summary(print_fn=lambda s: print(s, file=out))
    # embedding: a lookup (0 FLOPs); dense: 2 * (2 * 20 + 1); backward: weight 80 + bias 2 +
    # the input gradient 80 (it flows into the embedding table)
    assert "FLOPs per sample: 82 forward, 244 training step" in out.getvalue()
