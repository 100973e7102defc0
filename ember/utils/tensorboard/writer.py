"""``SummaryWriter``: scalars, histograms, images, text and graphs in TensorBoard event files.

The API is PyTorch's ``torch.utils.tensorboard.SummaryWriter``. Files are real TensorBoard
event files (``events.out.tfevents.<time>.<host>.<pid>.<n>``): TFRecords of ``Event``
protocol buffers encoded in ``proto.py``, with PNG images from ``png.py``. Nothing imports
tensorboard or protobuf; run ``tensorboard --logdir runs`` to look at them.

Records go to the file's buffer at once and reach the disk on ``flush()``, ``close()``, every
``max_queue`` records, or with the first record written ``flush_secs`` after the last flush.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from datetime import datetime

import numpy as np

from . import proto
from .png import encode_png
from .record import frame


def _default_bins() -> np.ndarray:
    """TensorFlow's histogram buckets: +-1e-12 growing by 10% up to 1e20, and 0."""
    v, pos = 1e-12, []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return np.array([-x for x in reversed(pos)] + [0.0] + pos)


_TF_BINS = _default_bins()
_FILE_COUNTER = itertools.count()  # orders the files of one process opened in one second


def _numpy(x, what: str) -> np.ndarray:
    """A float/int NumPy array of a tensor, array, list or number (detached)."""
    data = getattr(x, "data", None)
    if data is not None and hasattr(x, "detach"):  # an ember tensor
        x = x.detach().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "V" or arr.dtype.name == "bfloat16":
            return arr.astype(np.float32)
        raise TypeError(f"SummaryWriter.{what}: expects numbers, got an array of {arr.dtype}")
    return arr


def _scalar(value, what: str) -> float:
    arr = _numpy(value, what)
    if arr.size != 1:
        raise ValueError(f"SummaryWriter.{what}: expects one number, got shape {arr.shape}; "
                         "log a reduction (mean, sum) or use add_histogram")
    return float(arr.reshape(()))


def _to_hwc(img: np.ndarray, dataformats: str) -> np.ndarray:
    """An ``(H, W, C)`` image from ``dataformats`` (CHW, HWC, HW, NCHW, NHWC ...); grayscale
    becomes three channels and a batch becomes a grid of 8 columns, as PyTorch does."""
    fmt = dataformats.upper()
    if sorted(fmt) not in (sorted("HW"), sorted("CHW"), sorted("NCHW")):
        raise ValueError(f"dataformats={dataformats!r} is not a permutation of HW, CHW or NCHW")
    if img.ndim != len(fmt):
        raise ValueError(f"the image has shape {img.shape} ({img.ndim}-d), which does not "
                         f"fit dataformats={dataformats!r}")
    if len(fmt) == 2:
        img = img.transpose([fmt.find(c) for c in "HW"])
        return np.stack([img, img, img], 2)
    if len(fmt) == 3:
        img = img.transpose([fmt.find(c) for c in "HWC"])
    else:
        img = _grid(img.transpose([fmt.find(c) for c in "NCHW"])).transpose(1, 2, 0)
    if img.shape[2] == 1:
        img = np.concatenate([img, img, img], 2)
    if img.shape[2] not in (3, 4):
        raise ValueError(f"an image needs 1, 3 or 4 channels, got {img.shape[2]}")
    return img


def _grid(batch: np.ndarray, ncols: int = 8) -> np.ndarray:
    """Tile an ``(N, C, H, W)`` batch into one ``(C, rows*H, cols*W)`` image."""
    if batch.shape[1] == 1:
        batch = np.concatenate([batch, batch, batch], 1)
    n, c, h, w = batch.shape
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    canvas = np.zeros((c, h * nrows, w * ncols), dtype=batch.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h:(y + 1) * h, x * w:(x + 1) * w] = batch[i]
    return canvas


class SummaryWriter:
    """Write TensorBoard event files into ``log_dir``.

    Args:
        log_dir: the folder; default ``runs/<date>_<host><comment>``.
        comment: appended to the default ``log_dir``.
        purge_step: when a run resumes from a checkpoint at this step, readers drop the
            events logged earlier at this step or later (a ``SessionLog START`` event).
        max_queue: records written before the file is flushed to disk.
        flush_secs: flush at the next record once this many seconds have passed.
        filename_suffix: appended to the event file's name.

    Example:
        >>> import ember, tempfile
        >>> from ember.utils.tensorboard import SummaryWriter
        >>> with SummaryWriter(tempfile.mkdtemp()) as w:
        ...     for step in range(3):
        ...         w.add_scalar("loss", 1.0 / (step + 1), step)
        ...     w.add_histogram("weights", ember.randn(100), 0)
    """

    def __init__(self, log_dir: str | None = None, comment: str = "",
                 purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self.max_queue, self.flush_secs = int(max_queue), float(flush_secs)
        self.filename_suffix = filename_suffix
        self.purge_step = purge_step
        os.makedirs(self.log_dir, exist_ok=True)
        self._file = None
        self._pending = 0
        self._last_flush = time.time()
        self._children: dict[str, SummaryWriter] = {}
        self._closed = False
        self._open()

    def _open(self) -> None:
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_FILE_COUNTER)}{self.filename_suffix}")
        self.path = os.path.join(self.log_dir, name)
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._write(proto.event(time.time(), file_version="brain.Event:2"))
        if self.purge_step is not None:
            self._write(proto.event(time.time(), int(self.purge_step),
                                    session_status=proto.SESSION_START))
        self.flush()

    def get_logdir(self) -> str:
        """The folder this writer writes into."""
        return self.log_dir

    # ---------------------------------------------------------------- writing
    def _write(self, event: bytes) -> None:
        if self._closed:
            raise ValueError("SummaryWriter: the writer is closed; create a new one")
        self._file.write(frame(event))
        self._pending += 1
        if self._pending >= self.max_queue or time.time() - self._last_flush >= self.flush_secs:
            self.flush()

    def _summary(self, value: bytes, step, walltime) -> None:
        wall = time.time() if walltime is None else float(walltime)
        self._write(proto.event(wall, int(step or 0), summary=proto.summary(value)))

    def add_scalar(self, tag: str, scalar_value, global_step: int | None = None,
                   walltime: float | None = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """Log one number.

        Args:
            tag: the chart's name (``"loss/train"``).
            scalar_value: a Python number or a one-element tensor or array.
            global_step: the x coordinate.
            walltime: seconds since the epoch (default: now).
            new_style: store a scalar tensor with the scalars plugin's metadata instead of
                the classic float32 ``simple_value``.
            double_precision: with ``new_style``, keep float64.
        """
        x = _scalar(scalar_value, "add_scalar")
        if new_style:
            value = proto.value(tag, tensor=proto.scalar_tensor(x, double_precision),
                                metadata=proto.metadata("scalars"))
        else:
            value = proto.value(tag, simple_value=x)
        self._summary(value, global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step: int | None = None,
                    walltime: float | None = None) -> None:
        """Log several numbers in one chart: each key goes to the run
        ``<log_dir>/<main_tag>_<key>`` under the tag ``main_tag``, as PyTorch does."""
        for key, val in tag_scalar_dict.items():
            sub = os.path.join(self.log_dir, f"{main_tag.replace('/', '_')}_{key}")
            child = self._children.get(sub)
            if child is None:
                child = self._children[sub] = SummaryWriter(
                    sub, max_queue=self.max_queue, flush_secs=self.flush_secs,
                    filename_suffix=self.filename_suffix)
            child.add_scalar(main_tag, val, global_step, walltime)

    def add_histogram(self, tag: str, values, global_step: int | None = None,
                      bins="tensorflow", walltime: float | None = None,
                      max_bins: int | None = None) -> None:
        """Log the distribution of ``values``; ``bins`` as for ``np.histogram``, or
        ``"tensorflow"`` (TensorFlow's exponential buckets). Empty leading and trailing
        buckets are dropped; ``bucket_limit[i]`` is the right edge of ``bucket[i]``."""
        arr = _numpy(values, "add_histogram").astype(np.float64).ravel()
        if arr.size == 0:
            raise ValueError("SummaryWriter.add_histogram: no values to summarise")
        if not np.isfinite(arr).all():
            raise ValueError("SummaryWriter.add_histogram: the values contain NaN or "
                             "infinity; filter them first (x[x.isfinite()])")
        if isinstance(bins, str) and bins == "tensorflow":
            bins = _TF_BINS
        counts, limits = np.histogram(arr, bins=bins)
        if max_bins is not None and len(counts) > max_bins:
            group = len(counts) // max_bins  # PyTorch's grouping: at most ~2 * max_bins
            pad = -len(counts) % group
            counts = np.pad(counts, (0, pad)).reshape(-1, group).sum(1)
            limits = np.concatenate([limits[:-1:group], limits[-1:]])
        nonzero = np.flatnonzero(counts)
        start, end = int(nonzero[0]), int(nonzero[-1]) + 1
        counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
        limits = limits[start:end + 1]
        histo = proto.histogram(arr.min(), arr.max(), arr.size, arr.sum(), arr.dot(arr),
                                limits, counts)
        self._summary(proto.value(tag, histo=histo), global_step, walltime)

    def add_image(self, tag: str, img_tensor, global_step: int | None = None,
                  walltime: float | None = None, dataformats: str = "CHW") -> None:
        """Log an image: floats in [0, 1] (scaled by 255) or uint8; 1, 3 or 4 channels."""
        self._image(tag, img_tensor, global_step, walltime, dataformats, "add_image")

    def add_images(self, tag: str, img_tensor, global_step: int | None = None,
                   walltime: float | None = None, dataformats: str = "NCHW") -> None:
        """Log a batch of images as one grid of up to 8 columns."""
        self._image(tag, img_tensor, global_step, walltime, dataformats, "add_images")

    def _image(self, tag, img, step, walltime, dataformats, what) -> None:
        arr = _numpy(img, what)
        try:
            hwc = _to_hwc(arr, dataformats)
        except ValueError as e:
            raise ValueError(f"SummaryWriter.{what}: {e}") from None
        scale = 1.0 if hwc.dtype == np.uint8 else 255.0
        pixels = (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
        height, width, channels = pixels.shape
        image = proto.image(height, width, channels, encode_png(pixels))
        self._summary(proto.value(tag, image=image), step, walltime)

    def add_figure(self, tag: str, figure, global_step: int | None = None, close: bool = True,
                   walltime: float | None = None) -> None:
        """Log a matplotlib figure (or a list of them, as a grid) rendered to an RGBA image.

        Args:
            figure: a ``matplotlib.figure.Figure`` or a list of figures of one size.
            close: close the figure(s) after rendering, as PyTorch does.
        """
        figures = figure if isinstance(figure, (list, tuple)) else [figure]
        images = []
        for fig in figures:
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba()).copy())
            if close:
                fig.clf()
                import matplotlib.pyplot as plt  # only reached with a matplotlib figure

                plt.close(fig)
        if len(images) == 1:
            self._image(tag, images[0], global_step, walltime, "HWC", "add_figure")
        else:
            self._image(tag, np.stack(images), global_step, walltime, "NHWC", "add_figure")

    def add_text(self, tag: str, text_string: str, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        """Log text (Markdown) under ``<tag>/text_summary`` for the text dashboard."""
        value = proto.value(f"{tag}/text_summary", tensor=proto.string_tensor([text_string]),
                            metadata=proto.metadata("text"))
        self._summary(value, global_step, walltime)

    def add_graph(self, model, input_to_model=None, verbose: bool = False,
                  use_strict_trace: bool = True) -> None:
        """Log the graph of ``model(*input_to_model)``, traced by ``ember.graph``.

        Args:
            model: an ``ember.nn.Module`` or a function of tensors.
            input_to_model: an example tensor, or a tuple of them.
            verbose: print the traced graph's node names.
            use_strict_trace: accepted for PyTorch compatibility.
        """
        from .graph import _nodes, _root, trace_model

        if input_to_model is None:
            raise ValueError("SummaryWriter.add_graph: pass input_to_model, an example input "
                             "(the graph is traced by running the model once)")
        nodes = _nodes(trace_model(model, input_to_model), _root(model))
        if verbose:
            for name, op, ins, _ in nodes:
                print(f"{name} = {op}({', '.join(ins)})")
        graph = proto.graph_def(proto.node_def(n, op, ins, attrs) for n, op, ins, attrs in nodes)
        self._write(proto.event(time.time(), graph_def=graph))

    # ---------------------------------------------------------------- lifetime
    def flush(self) -> None:
        """Write buffered records to disk."""
        if self._file is not None and not self._closed:
            self._file.flush()
        self._pending = 0
        self._last_flush = time.time()
        for child in self._children.values():
            child.flush()

    def close(self) -> None:
        """Flush and close the event files (also those of ``add_scalars``)."""
        if self._closed:
            return
        self.flush()
        self._file.close()
        self._closed = True
        for child in self._children.values():
            child.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __del__(self) -> None:
        if getattr(self, "_file", None) is not None and not self._closed:
            self.close()
