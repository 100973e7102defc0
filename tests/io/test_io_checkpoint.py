"""ember.io.save/load: round trips of nested structures, standard files, atomic writes."""

from __future__ import annotations

import json
import math
import os

import ml_dtypes
import numpy as np
import pytest
import safetensors
import safetensors.numpy
import safetensors.torch
import torch

import ember
import ember.io
import ember.optim
from ember.io import load, load_safetensors, save, save_safetensors

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
          "float64"]


def _array(dtype, shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.standard_normal(shape) * 50)
    if dtype == "bool":
        return np.asarray(a > 0)
    if dtype == "bfloat16":
        return a.astype(ml_dtypes.bfloat16)
    return a.astype(dtype)


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips(tmp_path, dtype):
    t = ember.Tensor(_array(dtype))
    save({"t": t, "scalar": ember.Tensor(_array(dtype, ())), "empty": ember.Tensor(
        _array(dtype, (0, 3)))}, tmp_path / "c.safetensors")
    out = load(tmp_path / "c.safetensors")
    _same(out["t"].data, t.data)
    assert out["scalar"].shape == () and out["empty"].shape == (0, 3)
    assert out["t"].dtype is t.dtype


def test_nested_structure_and_plain_values(tmp_path):
    obj = {
        "model": {"fc.weight": ember.randn(3, 2), "fc.bias": ember.zeros(3)},
        "epoch": 12, "big": 2 ** 100, "neg": -7, "lr": 0.1, "tiny": 5e-324,
        "inf": math.inf, "ninf": -math.inf, "name": "run \u00e9\u4e2d", "flag": True,
        "nothing": None, "betas": (0.9, 0.999), "history": [1.5, [2, (3, None)], {}],
        "by_index": {0: "a", 7: ember.ones(1), -1: [True]}, "by_tuple": {(1, "x"): 2},
        "np": np.arange(5, dtype=np.uint16), "np_scalar": np.float64(2.5),
        "keys with/slash": {"x/y": ember.ones(2)}, "x": {"y": ember.zeros(2)},
    }
    save(obj, tmp_path / "c.safetensors")
    out = load(tmp_path / "c.safetensors")
    assert out.keys() == obj.keys()
    for k in ("epoch", "big", "neg", "lr", "tiny", "inf", "ninf", "name", "flag", "nothing",
              "betas", "history", "by_tuple", "np_scalar"):
        assert out[k] == obj[k] and type(out[k]) is type(obj[k]) or k == "np_scalar"
    assert type(out["betas"]) is tuple and type(out["history"][1][1]) is tuple
    assert list(out["by_index"]) == [0, 7, -1] and out["by_index"][-1] == [True]
    np.testing.assert_array_equal(out["model"]["fc.weight"].numpy(),
                                  obj["model"]["fc.weight"].numpy())
    assert isinstance(out["np"], np.ndarray) and out["np"].dtype == np.uint16
    np.testing.assert_array_equal(out["keys with/slash"]["x/y"].numpy(), [1, 1])
    np.testing.assert_array_equal(out["x"]["y"].numpy(), [0, 0])


def test_nan_round_trips(tmp_path):
    save({"v": math.nan}, tmp_path / "c")
    assert math.isnan(load(tmp_path / "c")["v"])


def test_shared_tensor_is_stored_once(tmp_path):
    w = ember.randn(4, 4)
    save({"encoder": w, "decoder": w, "other": ember.randn(4, 4)}, tmp_path / "c")
    with safetensors.safe_open(tmp_path / "c", framework="np") as f:
        assert len(list(f.keys())) == 2
    out = load(tmp_path / "c")
    assert out["encoder"] is out["decoder"] and out["other"] is not out["encoder"]


def test_single_tensor_and_names_follow_paths(tmp_path):
    save(ember.ones(2), tmp_path / "a")
    assert isinstance(load(tmp_path / "a"), ember.Tensor)
    save({"opt": {"state": {0: {"exp_avg": ember.ones(1)}}}}, tmp_path / "b")
    with safetensors.safe_open(tmp_path / "b", framework="np") as f:
        assert list(f.keys()) == ["opt/state/0/exp_avg"]
        assert f.metadata()["format"] == "ember"


@pytest.mark.parametrize("view", ["transpose", "step", "negative", "permute3d", "column"])
def test_non_contiguous_tensors_are_written_correctly(tmp_path, view):
    base = np.arange(2 * 6 * 5, dtype=np.float32).reshape(2, 6, 5)
    arr = {"transpose": base[0].T, "step": base[:, ::2, 1::2], "negative": base[::-1, :, ::-1],
           "permute3d": base.transpose(2, 0, 1), "column": base[1, :, 3]}[view]
    assert not arr.flags.c_contiguous
    save({"t": ember.Tensor(arr)}, tmp_path / "c")
    save_safetensors({"t": ember.Tensor(arr)}, tmp_path / "w")
    np.testing.assert_array_equal(load(tmp_path / "c")["t"].numpy(), arr)
    np.testing.assert_array_equal(safetensors.numpy.load_file(tmp_path / "w")["t"], arr)


@pytest.mark.parametrize("dtype", [d for d in DTYPES if d != "bfloat16"])
def test_files_open_with_the_safetensors_package(tmp_path, dtype):
    arrays = {"a": _array(dtype), "b": _array(dtype, (5,), seed=1).T}
    save_safetensors({k: ember.Tensor(v) for k, v in arrays.items()}, tmp_path / "w",
                     metadata={"who": "ember"})
    got = safetensors.numpy.load_file(tmp_path / "w")
    for k, v in arrays.items():
        _same(got[k], v)
    with safetensors.safe_open(tmp_path / "w", framework="np") as f:
        assert f.metadata() == {"who": "ember"}


def test_bfloat16_written_by_ember_reads_in_torch(tmp_path):
    a = _array("bfloat16", (4, 3))
    save_safetensors({"w": ember.Tensor(a), "wt": ember.Tensor(a.T)}, tmp_path / "w")
    with safetensors.safe_open(tmp_path / "w", framework="pt") as f:
        w, wt = f.get_tensor("w"), f.get_tensor("wt")
    assert w.dtype == torch.bfloat16
    np.testing.assert_array_equal(w.float().numpy(), a.astype(np.float32))
    np.testing.assert_array_equal(wt.float().numpy(), a.T.astype(np.float32))


def test_files_written_by_safetensors_load_in_ember(tmp_path):
    arrays = {d: _array(d) for d in DTYPES if d != "bfloat16"}
    safetensors.numpy.save_file(arrays, tmp_path / "np")
    got = load_safetensors(tmp_path / "np")
    for k, v in arrays.items():
        _same(got[k].data, v)
    t = torch.randn(3, 5, dtype=torch.float32).to(torch.bfloat16)
    safetensors.torch.save_file({"w": t}, tmp_path / "pt")
    w = load(tmp_path / "pt")["w"]  # no ember structure: a plain dict of tensors
    assert w.dtype is ember.bfloat16
    np.testing.assert_array_equal(w.data.astype(np.float32), t.float().numpy())


def test_optimizer_and_rng_state_round_trip(tmp_path):
    w = ember.randn(3, 2, requires_grad=True)
    opt = ember.optim.Adam([w], lr=0.1, amsgrad=True)
    (w ** 2).sum().backward()
    opt.step()
    gen = ember.Generator(seed=5)
    gen.np.random(3)
    save({"opt": opt.state_dict(), "rng": ember.get_rng_state(), "gen": gen.get_state()},
         tmp_path / "c")
    out = load(tmp_path / "c")
    assert out["rng"] == ember.get_rng_state() and out["gen"] == gen.get_state()
    json.dumps(out["gen"])  # plain JSON values come back
    opt2 = ember.optim.Adam([w], lr=0.5)
    opt2.load_state_dict(out["opt"])
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999) and opt2.param_groups[0]["amsgrad"]
    np.testing.assert_array_equal(opt2.state[w]["max_exp_avg_sq"].numpy(),
                                  opt.state[w]["max_exp_avg_sq"].numpy())


def test_load_to_device_and_tensors_are_writable(tmp_path):
    save({"t": ember.ones(3)}, tmp_path / "c")
    t = load(tmp_path / "c", device="cpu")["t"]
    t.data[0] = 5  # arrays own their memory
    assert t.data.flags.writeable and t.data.flags.aligned


def test_missing_directory_is_named(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=f"directory '{missing}' does not exist"):
        save({"a": 1}, missing / "c.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_safetensors({"a": ember.ones(1)}, missing / "w.safetensors")


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a set at stuff/1"):
        save({"stuff": [1, {2}]}, tmp_path / "c")
    with pytest.raises(TypeError, match="cannot store a SGD at the top level"):
        save(ember.optim.SGD([ember.zeros(1, requires_grad=True)], lr=0.1), tmp_path / "c")
    with pytest.raises(TypeError, match="tensor cannot be a dict key"):
        save({ember.ones(1): 1}, tmp_path / "c")
    with pytest.raises(TypeError, match="'w' is a list, not a tensor"):
        save_safetensors({"w": [1.0]}, tmp_path / "c")
    with pytest.raises(TypeError, match="metadata must map str to str"):
        save_safetensors({"w": ember.ones(1)}, tmp_path / "c", metadata={"n": 1})
    with pytest.raises(ValueError, match="names must be strings"):
        save_safetensors({"__metadata__": ember.ones(1)}, tmp_path / "c")
    assert not os.listdir(tmp_path)


def test_save_replaces_atomically_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    save({"v": 1, "t": ember.ones(3)}, path)
    save({"v": 2, "t": ember.zeros(3)}, path)
    assert load(path)["v"] == 2 and os.listdir(tmp_path) == ["c.safetensors"]

    def broken_fsync(fd):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        save({"v": 3, "t": ember.ones(3)}, path)
    monkeypatch.undo()
    assert load(path)["v"] == 2 and os.listdir(tmp_path) == ["c.safetensors"]


def test_file_permissions_follow_the_umask(tmp_path):
    path = tmp_path / "c"
    save({"a": 1}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
