"""ember.io.pth reads torch.save files without torch and refuses anything that would run code;
ember.load returns them as ember tensors."""

import collections
import os
import pickle
import re

import numpy as np
import pytest
import torch

import ember
from ember.io import CheckpointError
from ember.io.pth import UnsafeCheckpointError, read_pth


def _np(t: torch.Tensor) -> np.ndarray:
    if t.dtype == torch.bfloat16:
        return t.float().numpy()
    return t.detach().numpy()


@pytest.fixture(params=[True, False], ids=["zip", "legacy"])
def save(request, tmp_path):
    def write(obj, name="ckpt.pt"):
        path = tmp_path / name
        torch.save(obj, path, _use_new_zipfile_serialization=request.param)
        return path
    return write


def test_state_dict_and_optimizer_state(save):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3),
                                torch.nn.Flatten(), torch.nn.Linear(12, 4))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(5, 2, 4, 4)).sum().backward()
    opt.step()
    path = save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
                 "best": float("inf"), "tags": ["a", ("b", 2)], "none": None})
    got = read_pth(path)
    assert isinstance(got["model"], collections.OrderedDict)
    assert list(got["model"]) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert got["model"][k].dtype == _np(v).dtype, k
        np.testing.assert_array_equal(got["model"][k], _np(v), err_msg=k)
    assert got["model"]["1.num_batches_tracked"].dtype == np.int64
    ref = opt.state_dict()
    assert got["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert got["optimizer"]["param_groups"][0]["params"] == ref["param_groups"][0]["params"]
    for i, st in ref["state"].items():
        for k, v in st.items():
            np.testing.assert_array_equal(got["optimizer"]["state"][i][k], _np(v))
    assert got["epoch"] == 3 and got["best"] == float("inf") and got["none"] is None
    assert got["tags"] == ["a", ("b", 2)]


def test_dtypes(save):
    torch.manual_seed(1)
    tensors = {"f32": torch.randn(3, 2), "f64": torch.randn(4, dtype=torch.float64),
               "f16": torch.randn(2, 3).half(), "bf16": torch.randn(5).bfloat16(),
               "i64": torch.arange(-3, 4), "i32": torch.arange(3, dtype=torch.int32),
               "u8": torch.arange(250, 256, dtype=torch.uint8), "bool": torch.tensor([1, 0, 1]) > 0,
               "i8": torch.tensor([-128, 127], dtype=torch.int8), "scalar": torch.tensor(2.5)}
    got = read_pth(save(tensors))
    for k, t in tensors.items():
        want = _np(t)
        have = got[k].astype(np.float32) if k == "bf16" else got[k]
        assert have.dtype == want.dtype and have.shape == want.shape, k
        np.testing.assert_array_equal(have, want, err_msg=k)
    assert str(got["bf16"].dtype) == "bfloat16"
    loaded = ember.load(save(tensors, "again.pt"))
    assert loaded["bf16"].dtype == ember.bfloat16 and loaded["f16"].dtype == ember.float16
    assert loaded["bool"].dtype == ember.bool and loaded["i64"].dtype == ember.int64
    np.testing.assert_array_equal(loaded["i64"].numpy(), tensors["i64"].numpy())


def test_views_strides_and_shared_storage(save):
    base = torch.arange(24.0).reshape(4, 6)
    objs = {"base": base, "t": base.t(), "col": base[:, 2], "slice": base[1:3, ::2],
            "expand": torch.arange(3.0).expand(4, 3), "perm": torch.randn(2, 3, 4).permute(2, 0, 1)}
    got = read_pth(save(objs))
    for k, t in objs.items():
        np.testing.assert_array_equal(got[k], t.numpy(), err_msg=k)
    assert got["t"].strides == (4, 24)  # the transposed view keeps torch's strides
    assert np.shares_memory(got["base"], got["col"])  # one storage, as in torch
    got["expand"][0, 0] = 7.0  # an overlapping view is copied, so this changes one element
    assert got["expand"][1, 0] == 0.0


def test_parameters_and_nested_containers(save):
    lin = torch.nn.Linear(3, 2)
    path = save({"params": [lin.weight, lin.bias], "size": torch.Size([2, 3]),
                 "set": {1, 2}, "nested": {"deep": {"x": torch.ones(2)}}})
    got = read_pth(path)
    np.testing.assert_array_equal(got["params"][0], lin.weight.detach().numpy())
    assert got["size"] == (2, 3) and got["set"] == {1, 2}
    out = ember.load(path)
    assert isinstance(out["params"][0], ember.Tensor) and out["params"][0].shape == (2, 3)
    assert not out["params"][0].requires_grad
    assert out["nested"]["deep"]["x"].tolist() == [1.0, 1.0]


def test_numpy_values(save):
    got = read_pth(save({"arr": np.arange(4.0).reshape(2, 2), "best": np.float64(0.25),
                         "step": np.int64(9)}))
    np.testing.assert_array_equal(got["arr"], [[0.0, 1.0], [2.0, 3.0]])
    assert got["best"] == 0.25 and isinstance(got["best"], np.float64) and got["step"] == 9
    got = read_pth(save({"device": torch.device("cuda", 1), "cpu": torch.device("cpu"),
                         "dtype": torch.float16}, "meta.pt"))
    assert got == {"device": "cuda:1", "cpu": "cpu", "dtype": "torch.float16"}


def test_ember_load_plain_tensor(save):
    t = torch.arange(6, dtype=torch.int64).reshape(2, 3)
    out = ember.load(save(t))
    assert isinstance(out, ember.Tensor) and out.tolist() == [[0, 1, 2], [3, 4, 5]]


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_reduce_payload_is_refused(save, tmp_path):
    marker = tmp_path / "pwned"
    path = save({"weight": torch.ones(2), "evil": _Payload(marker)})
    with pytest.raises(UnsafeCheckpointError, match=r"'(posix|os)\.system'.*nothing was run"):
        read_pth(path)
    with pytest.raises(UnsafeCheckpointError, match="allow-list"):
        ember.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("builtins", "getattr"),
                                         ("torch", "load"), ("subprocess", "Popen"),
                                         ("torch._utils", "_rebuild_sparse_tensor")])
def test_any_other_global_is_refused_by_name(tmp_path, module, name):
    path = tmp_path / "evil.pt"
    path.write_bytes(b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R.")
    with pytest.raises(UnsafeCheckpointError, match=f"'{module}.{name}'"):
        read_pth(path)


def test_hostile_pickle_inside_zip(tmp_path):
    marker = tmp_path / "pwned2"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(1)}, path)
    import zipfile

    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    pkl = next(n for n in entries if n.endswith("data.pkl"))
    entries[pkl] = pickle.dumps(_Payload(marker), protocol=2)
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        ember.load(path)
    assert not marker.exists()


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weights file"):
        ember.load(tmp_path / "missing.pth")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_pth(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x02\x8a\x0a" + b"\x00" * 10)
    with pytest.raises(CheckpointError, match="magic number|cannot read"):
        read_pth(junk)
    path = tmp_path / "trunc.pt"
    torch.save({"w": torch.ones(100)}, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CheckpointError, match="truncated"):
        read_pth(path)


def test_out_of_range_view_is_refused(tmp_path):
    # a tensor record whose stride reaches beyond its storage must not read other memory
    path = tmp_path / "oob.pt"
    torch.save(torch.ones(4), path)
    import zipfile

    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    pkl = next(n for n in entries if n.endswith("data.pkl"))
    entries[pkl] = entries[pkl].replace(b"K\x04\x85", b"M\x00\x10\x85", 1)  # size 4 -> 4096
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    with pytest.raises(CheckpointError, match="corrupted"):
        read_pth(path)


def test_a_whole_pickled_module_is_refused_with_what_to_do(save):
    path = save(torch.nn.Linear(2, 2))
    with pytest.raises(UnsafeCheckpointError,
                       match=r"'torch\.nn\.modules\.linear\.Linear'.*save model\.state_dict\(\)"):
        ember.load(path)


def test_legacy_storage_larger_than_the_file_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.pt"
    torch.save({"w": torch.ones(3)}, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    # the storage record's element count (3, after the 'cpu' location) -> 2**40
    data = re.sub(rb"cpuq(.)K\x03", lambda m: b"cpuq" + m.group(1) + b"\x8a\x06"
                  + (2 ** 40).to_bytes(6, "little"), data, count=1, flags=re.S)
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="claims 1099511627776 elements"):
        read_pth(path)
