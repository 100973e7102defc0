"""default_collate and default_convert against PyTorch's rules, and their errors."""

from collections import namedtuple

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate as torch_collate

import ember
from ember.data import default_collate, default_convert
from ember.errors import ShapeError

Point = namedtuple("Point", ["x", "label"])


def _to_torch(obj):
    if isinstance(obj, ember.Tensor):
        return torch.from_numpy(np.array(obj.numpy()))
    if isinstance(obj, dict):
        return {k: _to_torch(v) for k, v in obj.items()}
    if isinstance(obj, Point):
        return Point(*(_to_torch(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_torch(v) for v in obj)
    return obj


def _same(ours, theirs):
    """Structure, values and dtypes equal (PyTorch's output is the reference)."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ember.Tensor), type(ours)
        want = theirs.numpy()
        assert ours.numpy().dtype == want.dtype, (ours.numpy().dtype, want.dtype)
        np.testing.assert_array_equal(ours.numpy(), want)
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs)
        for k in theirs:
            _same(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b)
    else:
        assert ours == theirs


SAMPLES = {
    "tensors": [ember.tensor([1.0, 2.0]), ember.tensor([3.0, 4.0])],
    "int tensors": [ember.tensor([[1, 2]]), ember.tensor([[3, 4]])],
    "arrays": [np.arange(6, dtype=np.uint8).reshape(2, 3), np.ones((2, 3), np.uint8)],
    "numpy scalars": [np.float32(1.5), np.float32(2.5)],
    "ints": [1, 2, 3],
    "floats": [1.0, 2.5],
    "bools": [True, False],
    "strings": ["a", "bc"],
    "tuples": [(np.zeros(2, np.float32), 1), (np.ones(2, np.float32), 0)],
    "lists": [[1, 2.0], [3, 4.0]],
    "dicts": [{"img": np.zeros((1, 2)), "y": 3, "name": "a"},
              {"img": np.ones((1, 2)), "y": 4, "name": "b"}],
    "nested": [{"pair": (1, [2.0, 3.0])}, {"pair": (4, [5.0, 6.0])}],
    "namedtuples": [Point(np.zeros(2), 1), Point(np.ones(2), 2)],
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_default_collate_matches_pytorch(name):
    batch = SAMPLES[name]
    _same(default_collate(batch), torch_collate(_to_torch(batch)))


def test_collated_tensors_stack_along_a_new_first_dim():
    xs = [ember.randn(3, 4) for _ in range(5)]
    out = default_collate(xs)
    assert out.shape == (5, 3, 4)
    np.testing.assert_array_equal(out.numpy(), np.stack([x.numpy() for x in xs]))


def test_collate_keeps_autograd_when_samples_require_grad():
    a = ember.ones(2, requires_grad=True)
    out = default_collate([a, ember.zeros(2)])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])


def test_default_convert_matches_pytorch():
    data = {"a": np.arange(3), "b": (np.ones(2), "s"), "c": 4, "d": np.float64(2.0)}
    ours = default_convert(data)
    theirs = torch.utils.data.default_convert(data)
    assert list(ours) == list(theirs)
    _same(ours["a"], theirs["a"])
    _same(ours["b"], theirs["b"])
    assert ours["c"] == 4
    _same(ours["d"], theirs["d"])


def test_collate_shape_mismatch_names_the_field_and_shapes():
    batch = [{"image": np.zeros((3, 32, 32))}, {"image": np.zeros((3, 28, 28))}]
    with pytest.raises(ShapeError, match=r"field \['image'\].*sample 0 has shape \(3, 32, 32\)"
                                         r" but sample 1 has shape \(3, 28, 28\)"):
        default_collate(batch)
    with pytest.raises(ShapeError, match=r"field \[0\]: sample 0 has shape \(2,\)"):
        default_collate([(ember.zeros(2), 1), (ember.zeros(3), 2)])


def test_collate_structure_errors():
    with pytest.raises(TypeError, match=r"keys \['a'\] in sample 0 but \['b'\] in sample 1"):
        default_collate([{"a": 1}, {"b": 2}])
    with pytest.raises(ShapeError, match="length 2 in sample 0 but 3 in sample 1"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(TypeError, match=r"cannot collate field \[1\] of type .*object.*ToTensor"):
        default_collate([(1, object()), (2, object())])
    with pytest.raises(TypeError, match="is a number in sample 0 but str 'x' in sample 1"):
        default_collate([1, "x"])
    with pytest.raises(TypeError, match="is a tensor in sample 0 but a ndarray in sample 1"):
        default_collate([ember.zeros(2), np.zeros(2)])
    with pytest.raises(TypeError, match="dtype <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(ValueError, match="empty"):
        default_collate([])
