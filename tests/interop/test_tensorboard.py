"""ember's SummaryWriter files read back by tensorboard's own reader (EventAccumulator), and
compared with what PyTorch's SummaryWriter writes for the same calls."""

import glob
import io
import os
import struct

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tb_masked_crc

import ember
from ember.utils.tensorboard import SummaryWriter
from ember.utils.tensorboard.png import encode_png
from ember.utils.tensorboard.record import crc32c, frame, masked_crc32c

KEEP_ALL = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0, "distributions": 0}


def _read(path):
    acc = EventAccumulator(str(path), size_guidance=KEEP_ALL)
    acc.Reload()
    return acc


def _png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


# ---------------------------------------------------------------- building blocks
def test_crc32c_known_values_and_tensorboards_masked_crc():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros
    assert crc32c(b"\xff" * 32) == 0x62A8AB43  # RFC 3720 B.4: 32 bytes of 0xff
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 9, 63, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert masked_crc32c(data) == tb_masked_crc(data), n


def test_frame_layout():
    rec = frame(b"abc")
    assert struct.unpack("<Q", rec[:8])[0] == 3
    assert struct.unpack("<I", rec[8:12])[0] == tb_masked_crc(rec[:8])
    assert rec[12:15] == b"abc" and struct.unpack("<I", rec[15:])[0] == tb_masked_crc(b"abc")


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_decodes_to_the_same_pixels(channels):
    pixels = np.random.default_rng(channels).integers(0, 256, (5, 7, channels), dtype=np.uint8)
    decoded = _png_pixels(encode_png(pixels))
    np.testing.assert_array_equal(decoded.reshape(pixels.shape), pixels)


def test_png_rejects_bad_input():
    with pytest.raises(TypeError, match="encode_png: expects uint8"):
        encode_png(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"C in 1-4, got shape \(2, 2, 5\)"):
        encode_png(np.zeros((2, 2, 5), dtype=np.uint8))


# ---------------------------------------------------------------- the writer
def test_scalars_are_read_back_exactly_as_float32(tmp_path):
    values = [1.0, 0.5, 1 / 3, 1e-8, -2.75, 123456.789]
    with SummaryWriter(tmp_path) as w:
        for step, v in enumerate(values):
            w.add_scalar("loss/train", ember.tensor(v) if step % 2 else v, step * 10)
    events = _read(tmp_path).Scalars("loss/train")
    assert [e.step for e in events] == [0, 10, 20, 30, 40, 50]
    assert [e.value for e in events] == [float(np.float32(v)) for v in values]
    assert len(glob.glob(os.path.join(tmp_path, "events.out.tfevents.*"))) == 1


def test_new_style_scalars_are_tensors_of_the_scalars_plugin(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("f32", 1 / 3, 1, new_style=True)
        w.add_scalar("f64", 1 / 3, 2, new_style=True, double_precision=True)
    acc = _read(tmp_path)
    (f32,), (f64,) = acc.Tensors("f32"), acc.Tensors("f64")
    assert f32.step == 1 and list(f32.tensor_proto.float_val) == [float(np.float32(1 / 3))]
    assert f64.step == 2 and list(f64.tensor_proto.double_val) == [1 / 3]
    assert acc.SummaryMetadata("f32").plugin_data.plugin_name == "scalars"
    assert len(f32.tensor_proto.tensor_shape.dim) == 0


def test_add_scalars_writes_one_run_per_key(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(3):
            w.add_scalars("loss", {"train": 1.0 + step, "val": 2.0 * step}, step)
    train = _read(tmp_path / "loss_train").Scalars("loss")
    val = _read(tmp_path / "loss_val").Scalars("loss")
    assert [e.value for e in train] == [1.0, 2.0, 3.0]
    assert [e.value for e in val] == [0.0, 2.0, 4.0]


def test_histogram_counts_and_limits(tmp_path):
    values = np.array([0.1, 0.2, 0.2, 0.5, 0.9, 1.3, 1.3, 1.7, 2.0])
    edges = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("w", ember.tensor(values), 3, bins=edges)
    (event,) = _read(tmp_path).Histograms("w")
    h = event.histogram_value
    counts, _ = np.histogram(values, edges)
    assert event.step == 3
    assert (h.min, h.max, h.num) == (0.1, 2.0, 9)
    assert h.sum == pytest.approx(values.sum(), rel=1e-15)
    assert h.sum_squares == pytest.approx((values ** 2).sum(), rel=1e-15)
    # TensorFlow's layout: bucket_limit[i] is the right edge of bucket[i]; an empty one leads
    assert h.bucket_limit == edges.tolist()
    assert h.bucket == [0.0] + counts.tolist()


def test_histogram_matches_pytorch_writer(tmp_path):
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    values = np.random.default_rng(0).normal(size=1000)
    for bins, max_bins in (("tensorflow", None), (10, None), ("auto", None), (100, 7),
                           ("tensorflow", 30)):
        with SummaryWriter(tmp_path / "ember") as w:
            w.add_histogram(f"h_{bins}_{max_bins}", values, 1, bins=bins, max_bins=max_bins)
        tw = TorchWriter(str(tmp_path / "torch"))
        tw.add_histogram(f"h_{bins}_{max_bins}", values, 1, bins=bins, max_bins=max_bins)
        tw.close()
        mine = _read(tmp_path / "ember").Histograms(f"h_{bins}_{max_bins}")[0].histogram_value
        ref = _read(tmp_path / "torch").Histograms(f"h_{bins}_{max_bins}")[0].histogram_value
        assert mine.bucket == ref.bucket, bins
        np.testing.assert_allclose(mine.bucket_limit, ref.bucket_limit, rtol=1e-12)
        assert (mine.min, mine.max, mine.num) == (ref.min, ref.max, ref.num)


def test_images_decode_to_the_same_pixels_as_pytorch_writes(tmp_path):
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    rng = np.random.default_rng(1)
    chw = rng.random((3, 6, 9)).astype(np.float32)
    hwc_u8 = rng.integers(0, 256, (4, 5, 4), dtype=np.uint8)
    gray = rng.random((6, 9))
    batch = rng.random((10, 1, 4, 5))
    calls = [("add_image", "chw", chw, {}), ("add_image", "rgba", hwc_u8, {"dataformats": "HWC"}),
             ("add_image", "gray", gray, {"dataformats": "HW"}),
             ("add_images", "batch", batch, {})]
    with SummaryWriter(tmp_path / "ember") as w:
        for method, tag, img, kw in calls:
            getattr(w, method)(tag, ember.tensor(img) if tag == "chw" else img, 2, **kw)
    tw = TorchWriter(str(tmp_path / "torch"))
    for method, tag, img, kw in calls:
        getattr(tw, method)(tag, img, 2, **kw)
    tw.close()
    mine, ref = _read(tmp_path / "ember"), _read(tmp_path / "torch")
    for _, tag, _, _ in calls:
        (a,), (b,) = mine.Images(tag), ref.Images(tag)
        assert (a.width, a.height, a.step) == (b.width, b.height, b.step), tag
        np.testing.assert_array_equal(_png_pixels(a.encoded_image_string),
                                      _png_pixels(b.encoded_image_string), err_msg=tag)
    # and against values computed here: float in [0, 1] scaled by 255, truncated to uint8
    chw_img = mine.Images("chw")[0]
    assert (chw_img.height, chw_img.width) == (6, 9)
    expected = (chw.transpose(1, 2, 0) * 255).clip(0, 255).astype(np.uint8)
    np.testing.assert_array_equal(_png_pixels(chw_img.encoded_image_string), expected)
    grid = mine.Images("batch")[0]
    assert (grid.height, grid.width) == (2 * 4, 8 * 5)  # 10 images: 2 rows of 8 columns


def test_text(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_text("notes", "lr = 0.1, **Adam** ü", 5)
    (event,) = _read(tmp_path).Tensors("notes/text_summary")
    assert event.step == 5
    assert event.tensor_proto.string_val == ["lr = 0.1, **Adam** ü".encode()]


class _Net(ember.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = ember.nn.Linear(3, 4)
        self.fc2 = ember.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu())


def test_graph_node_names_and_edges(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_graph(_Net(), ember.ones(5, 3))
    graph = _read(tmp_path).Graph()
    nodes = {n.name: n for n in graph.node}
    assert set(nodes) == {"input/input", "_Net/fc1/weight", "_Net/fc1/bias", "_Net/fc2/weight",
                          "_Net/fc2/bias", "_Net/fc1/linear_0", "_Net/relu_1",
                          "_Net/fc2/linear_2", "output/output0"}
    assert list(nodes["_Net/fc2/linear_2"].input) == ["_Net/relu_1", "_Net/fc2/weight",
                                                      "_Net/fc2/bias"]
    assert nodes["_Net/fc1/linear_0"].op == "linear"
    shape = nodes["_Net/fc1/linear_0"].attr["_output_shapes"].list.shape[0]
    assert [d.size for d in shape.dim] == [5, 4]
    assert nodes["input/input"].op == "Placeholder"


def test_flush_close_and_bad_input(tmp_path):
    w = SummaryWriter(tmp_path, max_queue=1000, flush_secs=1000)
    w.add_scalar("a", 1.0, 0)
    assert _read(tmp_path).Tags()["scalars"] == []  # buffered, not yet on disk
    w.flush()
    assert _read(tmp_path).Tags()["scalars"] == ["a"]
    with pytest.raises(ValueError, match=r"add_scalar: expects one number, got shape \(3,\)"):
        w.add_scalar("b", ember.ones(3))
    with pytest.raises(ValueError, match="add_histogram: the values contain NaN"):
        w.add_histogram("h", np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"add_image: the image has shape \(2, 2\).*'CHW'"):
        w.add_image("i", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="add_graph: pass input_to_model"):
        w.add_graph(_Net())
    w.close()
    with pytest.raises(ValueError, match="the writer is closed"):
        w.add_scalar("a", 2.0, 1)
    assert w.get_logdir() == str(tmp_path)


def test_purge_step_drops_events_from_the_resumed_step_on(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(10):
            w.add_scalar("loss", float(step), step)
    with SummaryWriter(tmp_path, purge_step=5) as w:  # resumed from a checkpoint at step 5
        for step in range(5, 8):
            w.add_scalar("loss", 100.0 + step, step)
    events = _read(tmp_path).Scalars("loss")
    assert [(e.step, e.value) for e in events] == (
        [(s, float(s)) for s in range(5)] + [(s, 100.0 + s) for s in range(5, 8)])


def test_figure_is_rendered_to_its_pixels(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1, 2], [1, 0, 1])
    fig.canvas.draw()
    expected = np.asarray(fig.canvas.buffer_rgba()).copy()
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 3)
    (img,) = _read(tmp_path).Images("fig")
    assert (img.height, img.width, img.step) == (75, 100, 3)
    np.testing.assert_array_equal(_png_pixels(img.encoded_image_string), expected)
    assert not plt.fignum_exists(fig.number)  # closed after rendering
