"""Device handling through the backend registry, with a stand-in second device.

No GPU is needed: a subclass of ndarray registered as the "cuda" backend behaves like a
second device, which is enough to check that ops refuse mixed devices and that moving a
tensor is differentiable.
"""

import numpy as np
import pytest

import ember
from ember import backend as B
from ember.errors import DeviceError


class FakeDeviceArray(np.ndarray):
    pass


class _FakeXP:
    """NumPy, but arrays it creates are FakeDeviceArray."""

    def __getattr__(self, name):
        fn = getattr(np, name)
        if not callable(fn):
            return fn

        def wrapped(*a, **k):
            out = fn(*a, **k)
            return out.view(FakeDeviceArray) if isinstance(out, np.ndarray) else out

        return wrapped


@pytest.fixture
def fake_cuda():
    backend = B.Backend("fake", _FakeXP(), FakeDeviceArray)
    backend.device = ember.device("cuda:0")
    saved = dict(B._BY_DEVICE_TYPE)
    B.register_backend(backend, "cuda")
    yield backend
    B._BY_TYPE.pop(FakeDeviceArray, None)
    B._BY_DEVICE_TYPE.clear()
    B._BY_DEVICE_TYPE.update(saved)


def test_mixed_devices_are_refused_with_a_hint(fake_cuda):
    a = ember.ones(3)
    b = ember.ones(3).to("cuda")
    assert b.device == "cuda:0" and a.device == "cpu"
    with pytest.raises(DeviceError, match=r"add: expected all tensors on one device.*cpu.*"
                                          r"cuda:0.*\.to\(device\)"):
        a + b


def test_moving_between_devices_is_differentiable(fake_cuda):
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("cuda") * 3
    assert isinstance(y.data, FakeDeviceArray)
    z = y.to("cpu").sum()
    z.backward()
    assert x.grad.tolist() == [3.0, 3.0] and x.grad.device == "cpu"


def test_unknown_device_says_what_to_install():
    with pytest.raises(DeviceError, match="CuPy"):
        ember.ones(2).to("cuda")
    with pytest.raises(DeviceError, match="unknown device type"):
        ember.device("tpu")
