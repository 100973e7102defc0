"""Dataset loaders on small files written here in the real formats (IDX, CIFAR binary, PNG
folders, CSV, .npy/.npz), and their errors."""

import gzip
import struct
import warnings

import numpy as np
import pytest
from PIL import Image

import ember
from ember.data import DataLoader, default_collate
from ember.data import transforms as T
from ember.data.datasets import (
    CIFAR10,
    CIFAR100,
    MNIST,
    CSVDataset,
    DatasetFormatError,
    DatasetNotFoundError,
    FashionMNIST,
    ImageFolder,
    NumpyDataset,
    digits,
    read_idx,
)

RNG = np.random.default_rng(0)
_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
          np.float64: 0x0E}


def idx_bytes(arr):
    arr = np.asarray(arr)
    head = struct.pack(">BBBB", 0, 0, _CODES[arr.dtype.type], arr.ndim)
    head += struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, data, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)


def make_mnist(folder, n_train=7, n_test=3, gz=False):
    sets = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = RNG.integers(0, 10, n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write(folder / f"{prefix}-images-idx3-ubyte{suffix}", idx_bytes(images), gz)
        write(folder / f"{prefix}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)
        sets[prefix] = images, labels
    return sets


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
def test_read_idx_every_type(tmp_path, dtype):
    arr = (RNG.standard_normal((3, 4, 2)) * 100).astype(dtype)
    write(tmp_path / "a.idx", idx_bytes(arr))
    out = read_idx(tmp_path / "a.idx")
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_plain_and_gzipped_idx(tmp_path, gz):
    sets = make_mnist(tmp_path if not gz else tmp_path / "MNIST" / "raw", gz=gz)
    train, test = MNIST(tmp_path), MNIST(tmp_path, train=False)
    assert len(train) == 7 and len(test) == 3 and train.classes[3] == "3 - three"
    img, label = train[4]
    assert img.shape == (28, 28) and img.dtype == np.uint8 and isinstance(label, int)
    np.testing.assert_array_equal(img, sets["train"][0][4])
    assert label == sets["train"][1][4]
    np.testing.assert_array_equal(test.data, sets["t10k"][0])
    x, y = next(iter(DataLoader(train, batch_size=7)))  # the fast path: one slice per batch
    assert x.dtype == ember.uint8 and x.shape == (7, 28, 28)
    np.testing.assert_array_equal(x.numpy(), sets["train"][0])
    np.testing.assert_array_equal(y.numpy(), sets["train"][1])


def test_mnist_with_transforms_and_fashion_layout(tmp_path):
    sets = make_mnist(tmp_path / "FashionMNIST" / "raw", gz=True)
    ds = FashionMNIST(tmp_path, transform=T.ToTensor(), target_transform=lambda y: y + 100)
    img, label = ds[0]
    assert img.shape == (1, 28, 28) and img.dtype == ember.float32 and label >= 100
    np.testing.assert_allclose(img.numpy()[0], sets["train"][0][0] / np.float32(255))
    assert ds.classes[-1] == "Ankle boot"
    loader = DataLoader(ds, batch_size=4, num_workers=2, timeout=30)
    assert not loader._fast and next(iter(loader))[0].shape == (4, 1, 28, 28)


def test_mnist_missing_files_say_which_and_where(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        MNIST(tmp_path / "nope")
    with pytest.raises(DatasetNotFoundError, match=r"cannot find train-images-idx3-ubyte in "
                       r".* or .*MNIST/raw.*t10k-labels-idx1-ubyte\[\.gz\].*does not download"):
        MNIST(tmp_path)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-5], r"is truncated: \d+ bytes, but a header of shape \(7, 28, 28\)"),
    (lambda b: b + b"xx", "longer than its header says"),
    (lambda b: b"\x08\x03" + b[2:], "not an IDX file: it starts with bytes 08 03"),
    (lambda b: b[:2] + b"\x07" + b[3:], "not an IDX file"),
    (lambda b: b[:9], "truncated inside its header"),
    (lambda b: b[:3], "is truncated: 3 bytes"),
    (lambda b: gzip.compress(b)[:-20], "damaged or truncated gzip"),
])
def test_bad_idx_files(tmp_path, damage, message):
    make_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DatasetFormatError, match=message):
        MNIST(tmp_path)


def test_mnist_inconsistent_files(tmp_path):
    make_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DatasetFormatError, match=r"labels of shape \(5,\) for 7 images"):
        MNIST(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.full(7, 12, np.uint8)))
    with pytest.raises(DatasetFormatError, match="label 12, but there are only 10 classes"):
        MNIST(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((7, 28), np.uint8)))
    with pytest.raises(DatasetFormatError, match=r"shape \(7, 28\); expected uint8 images"):
        MNIST(tmp_path)


def cifar_bytes(images_chw, labels):
    """Records as the CIFAR binary version stores them: label byte(s), then R, G, B planes."""
    labels = np.asarray(labels, np.uint8).reshape(len(images_chw), -1)
    return b"".join(lab.tobytes() + img.tobytes() for lab, img in zip(labels, images_chw))


def test_cifar10_binary(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    written = []
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        imgs = RNG.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
        labels = RNG.integers(0, 10, 3)
        write(folder / name, cifar_bytes(imgs, labels))
        written.append((imgs, labels))
    (folder / "batches.meta.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n\n")
    train, test = CIFAR10(tmp_path), CIFAR10(tmp_path, train=False)
    assert len(train) == 15 and len(test) == 3 and train.classes[2] == "c2"
    img, label = train[4]  # batch 2, record 1
    assert img.shape == (32, 32, 3) and label == written[1][1][1]
    np.testing.assert_array_equal(img, written[1][0][1].transpose(1, 2, 0))
    np.testing.assert_array_equal(test.targets, written[5][1])
    x, y = next(iter(DataLoader(train, batch_size=15)))
    assert x.shape == (15, 32, 32, 3) and y.tolist() == np.concatenate(
        [w[1] for w in written[:5]]).tolist()
    chw = T.ToTensor()(img)
    np.testing.assert_allclose(chw.numpy(), written[1][0][1] / np.float32(255))


def test_cifar_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"data_batch_1.bin .*test_batch.bin.*"
                                                   r"binary version"):
        CIFAR10(tmp_path)
    for i in range(1, 6):
        write(tmp_path / f"data_batch_{i}.bin", cifar_bytes(np.zeros((2, 3, 32, 32),
                                                                     np.uint8), [1, 2]))
    write(tmp_path / "data_batch_3.bin", b"\x00" * 3073 * 2 + b"\x01" * 100)
    with pytest.raises(DatasetFormatError, match=r"data_batch_3.bin has 6246 bytes, which is "
                                                 r"not a whole number of 3073-byte records"):
        CIFAR10(tmp_path)
    write(tmp_path / "data_batch_3.bin", cifar_bytes(np.zeros((1, 3, 32, 32), np.uint8), [10]))
    with pytest.raises(DatasetFormatError, match="label 10, but there are only 10 classes"):
        CIFAR10(tmp_path)


def test_cifar100_fine_and_coarse(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    imgs = RNG.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    labels = np.array([[3, 77], [19, 5], [0, 99], [7, 42]])
    write(folder / "train.bin", cifar_bytes(imgs, labels))
    write(folder / "test.bin", cifar_bytes(imgs[:1], labels[:1]))
    (folder / "coarse_label_names.txt").write_text("\n".join(f"super{i}" for i in range(20)))
    fine, coarse = CIFAR100(tmp_path), CIFAR100(tmp_path, label_mode="coarse")
    assert fine.targets.tolist() == [77, 5, 99, 42] and coarse.targets.tolist() == [3, 19, 0, 7]
    assert coarse.classes[19] == "super19" and len(fine.classes) == 100
    np.testing.assert_array_equal(fine[2][0], imgs[2].transpose(1, 2, 0))
    assert len(CIFAR100(tmp_path, train=False)) == 1
    write(folder / "train.bin", b"\x00" * 3073)
    with pytest.raises(DatasetFormatError, match="3074-byte records"):
        CIFAR100(tmp_path)
    with pytest.raises(ValueError, match="label_mode"):
        CIFAR100(tmp_path, label_mode="medium")


def make_folder(root):
    images = {}
    for rel, mode in (("cat/1.png", "RGB"), ("cat/sub/2.png", "RGB"), ("dog/3.png", "L"),
                      ("dog/4.PNG", "RGB")):
        shape = (6, 5, 3) if mode == "RGB" else (6, 5)
        arr = RNG.integers(0, 256, shape, dtype=np.uint8)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr, mode).save(path)
        images[rel] = arr if mode == "RGB" else np.repeat(arr[:, :, None], 3, 2)
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "bird").mkdir()
    (root / "bird" / "5.bmp").write_bytes(b"")
    Image.fromarray(RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(root / "bird" / "6.bmp")
    return images


def test_image_folder(tmp_path):
    images = make_folder(tmp_path)
    (tmp_path / "bird" / "5.bmp").unlink()
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["bird", "cat", "dog"] and ds.class_to_idx["dog"] == 2
    rels = [p[len(str(tmp_path)) + 1:] for p, _ in ds.samples]
    assert rels == ["bird/6.bmp", "cat/1.png", "cat/sub/2.png", "dog/3.png", "dog/4.PNG"]
    assert ds.targets == [0, 1, 1, 2, 2] and len(ds) == 5
    for i, rel in enumerate(rels[1:], 1):
        img, target = ds[i]
        assert img.dtype == np.uint8 and img.shape == (6, 5, 3) and target == ds.targets[i]
        np.testing.assert_array_equal(img, images[rel])
    loader = DataLoader(ImageFolder(tmp_path, transform=T.Compose([T.ToTensor(),
                                                                  T.Resize((4, 4))])),
                        batch_size=5, num_workers=2, timeout=30)
    x, y = next(iter(loader))
    assert x.shape == (5, 3, 4, 4) and y.tolist() == [0, 1, 1, 2, 2]


def test_image_folder_bad_files(tmp_path):
    make_folder(tmp_path)
    ds = ImageFolder(tmp_path)
    bad = str(tmp_path / "bird" / "5.bmp")
    with pytest.raises(DatasetFormatError, match=f"cannot read {bad}.*skip_bad=True"):
        ds[0]
    with pytest.raises(DatasetFormatError, match="5.bmp") as info:
        list(DataLoader(ds, batch_size=2, num_workers=1, timeout=30, collate_fn=list))
    assert "sample index 0" in "".join(getattr(info.value, "__notes__", []))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        good = ImageFolder(tmp_path, skip_bad=True)
    assert any("skipped 1 file" in str(w.message) for w in caught)
    assert len(good) == 5 and good.skipped[0][0] == bad
    assert default_collate([good[i] for i in range(5)])[0].shape == (5, 6, 5, 3)


def test_image_folder_missing_things(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "nope")
    with pytest.raises(DatasetNotFoundError, match=r"no class folders .*cat/001.png"):
        ImageFolder(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.txt").write_text("x")
    with pytest.raises(DatasetNotFoundError, match="no files matching extensions .* for the "
                                                   "classes cat"):
        ImageFolder(tmp_path)


def test_csv_dataset(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("length, width ,species\n5.1,3.5,setosa\n\n7.0,3.25,versicolor\n"
                    "6.3,3.3,setosa\n")
    ds = CSVDataset(path, target="species")
    assert ds.columns == ["length", "width"] and ds.classes == ["setosa", "versicolor"]
    x, y = next(iter(DataLoader(ds, batch_size=3)))
    np.testing.assert_array_equal(x.numpy(), np.float32([[5.1, 3.5], [7.0, 3.25], [6.3, 3.3]]))
    assert y.tolist() == [0, 1, 0] and y.dtype == ember.int64
    path.write_text("a;b;c\n1;2;3\n4;5;6\n")
    ints = CSVDataset(path, delimiter=";")
    assert ints[1][1].dtype == ember.int64 and ints[1][0].tolist() == [4.0, 5.0]
    first = CSVDataset(path, target=0, delimiter=";", dtype=ember.float64)
    assert first[0][0].dtype == ember.float64 and first[0][1].item() == 1
    path.write_text("1,2,0.5\n3,4,1.5\n")
    floats = CSVDataset(path, header=False)
    assert floats[1][1].dtype == ember.float32 and floats[1][1].item() == 1.5
    assert len(CSVDataset(path, header=False, target=None)[0]) == 1


def test_csv_errors(tmp_path):
    path = tmp_path / "d.csv"
    with pytest.raises(DatasetNotFoundError, match="no file at"):
        CSVDataset(path)
    path.write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(DatasetFormatError, match=r"line 3, column 0: cannot read 'x' as a "
                                                 "number"):
        CSVDataset(path, target="a")
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(DatasetFormatError, match="line 3 has 1 fields, the header has 2"):
        CSVDataset(path)
    path.write_text("a,b\n")
    with pytest.raises(DatasetFormatError, match="no data rows"):
        CSVDataset(path)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="has no column 'c'; its columns are a, b"):
        CSVDataset(path, target="c")
    with pytest.raises(ValueError, match="out of range for 2 columns"):
        CSVDataset(path, target=5)


def test_numpy_dataset(tmp_path):
    x = RNG.standard_normal((6, 3)).astype(np.float32)
    y = np.arange(6)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "xy.npz", labels=y, features=x)
    single = NumpyDataset(tmp_path / "x.npy", mmap_mode="r")
    np.testing.assert_array_equal(single[2][0].numpy(), x[2])
    both = NumpyDataset(tmp_path / "xy.npz", keys=["features", "labels"])
    fx, fy = next(iter(DataLoader(both, batch_size=6)))
    np.testing.assert_array_equal(fx.numpy(), x)
    assert fy.tolist() == y.tolist() and both.keys == ["features", "labels"]
    assert NumpyDataset(tmp_path / "xy.npz").keys == ["labels", "features"]
    with pytest.raises(KeyError, match="no array named 'z'; it holds labels, features"):
        NumpyDataset(tmp_path / "xy.npz", keys=["z"])
    with pytest.raises(ValueError, match="keys apply to .npz"):
        NumpyDataset(tmp_path / "x.npy", keys=["a"])
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetFormatError, match="Python objects, which would need unpickling"):
        NumpyDataset(tmp_path / "obj.npy")
    np.savez(tmp_path / "objz.npz", a=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetFormatError, match="cannot be read without unpickling"):
        NumpyDataset(tmp_path / "objz.npz")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(DatasetFormatError, match="is not a .npy or .npz file"):
        NumpyDataset(tmp_path / "junk.npy")
    with pytest.raises(DatasetNotFoundError, match="no file at"):
        NumpyDataset(tmp_path / "missing.npz")


def test_digits_matches_scikit_learn():
    from sklearn.datasets import load_digits

    ref = load_digits()
    ds = digits()
    assert len(ds) == 1797 and ds.classes == list(range(10))
    x, y = ds[10]
    assert x.shape == (1, 8, 8) and x.dtype == ember.float32 and y.dtype == ember.int64
    np.testing.assert_allclose(x.numpy().ravel(), ref.data[10] / 16, rtol=1e-6)
    assert int(y) == ref.target[10]
    flat = digits(flatten=True)
    assert flat[0][0].shape == (64,)
    assert float(flat.arrays[0].max()) == 1.0 and float(flat.arrays[0].min()) == 0.0
