"""DLPack exchange with NumPy and PyTorch: zero copy (a write on one side is seen on the
other), every dtype, non-contiguous views, and the refusals."""

import ml_dtypes
import numpy as np
import pytest
import torch

import ember
from ember.errors import AutogradError, DeviceError, DTypeError

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
TORCH = {"bool": torch.bool, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16,
         "int32": torch.int32, "int64": torch.int64, "float16": torch.float16,
         "float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def _values(name, shape=(3, 4)):
    return (np.arange(np.prod(shape)).reshape(shape) % 2).astype(name) if name == "bool" \
        else (np.arange(np.prod(shape)).reshape(shape) + 1).astype(name)


def _one(name):
    return True if name == "bool" else 42


@pytest.mark.parametrize("name", DTYPES)
def test_numpy_consumes_ember_without_copy(name):
    t = ember.from_numpy(np.zeros((3, 4), dtype=name))
    a = np.from_dlpack(t)
    assert a.dtype == np.dtype(name) and a.shape == (3, 4)
    a[1, 2] = _one(name)
    assert t.data[1, 2] == _one(name)
    t.data[0, 0] = _one(name)
    assert a[0, 0] == _one(name)


@pytest.mark.parametrize("name", DTYPES)
def test_ember_consumes_numpy_without_copy(name):
    a = _values(name)
    t = ember.from_dlpack(a)
    assert isinstance(t, ember.Tensor) and t.dtype.name == ("bool" if name == "bool" else name)
    np.testing.assert_array_equal(t.numpy(), a)
    t.data[2, 3] = _one(name)
    assert a[2, 3] == _one(name)
    assert np.shares_memory(t.data, a)


@pytest.mark.parametrize("name", DTYPES + ["bfloat16"])
def test_torch_round_trip_without_copy(name):
    np_dtype = ml_dtypes.bfloat16 if name == "bfloat16" else name
    t = ember.from_numpy(_values(name).astype(np_dtype))
    pt = torch.from_dlpack(t)
    assert pt.dtype == TORCH[name] and tuple(pt.shape) == (3, 4)
    np.testing.assert_array_equal(pt.float().numpy(), t.data.astype(np.float32))
    pt[0, 1] = _one(name)  # torch writes, ember sees
    assert float(t.data[0, 1]) == float(_one(name))
    back = ember.from_dlpack(pt)  # and back again: still the same memory
    assert back.dtype.name == ("bool" if name == "bool" else name)
    back.data[2, 2] = _one(name)
    assert float(pt[2, 2]) == float(_one(name))
    assert back.data.__array_interface__["data"][0] == pt.data_ptr()


@pytest.mark.parametrize("name", DTYPES + ["bfloat16"])
def test_ember_consumes_torch_without_copy(name):
    pt = torch.zeros(2, 5, dtype=TORCH[name])
    t = ember.from_dlpack(pt)
    assert tuple(t.shape) == (2, 5)
    t.data[1, 4] = _one(name)
    assert float(pt[1, 4]) == float(_one(name))


def test_non_contiguous_views_keep_strides():
    base = torch.arange(24.0).reshape(4, 6)
    view = base.t()[1:, ::2]  # transposed and strided
    t = ember.from_dlpack(view)
    np.testing.assert_array_equal(t.numpy(), view.numpy())
    t.data[0, 1] = -1.0
    assert float(view[0, 1]) == -1.0 and float(base[2, 1]) == -1.0

    e = ember.arange(24.0).reshape(4, 6)
    ev = ember.transpose(e, 0, 1)[::2, 1:]
    pv = torch.from_dlpack(ev)
    assert pv.stride() == tuple(s // 4 for s in ev.data.strides)
    np.testing.assert_array_equal(pv.numpy(), ev.numpy())
    pv[1, 0] = 100.0
    assert float(e.data[1, 2]) == 100.0

    rev = ember.from_dlpack(np.arange(5.0)[::-1])  # negative strides with NumPy
    np.testing.assert_array_equal(rev.numpy(), [4.0, 3.0, 2.0, 1.0, 0.0])


def test_zero_dim_and_empty():
    s = ember.tensor(3.5)
    assert torch.from_dlpack(s).item() == 3.5
    assert ember.from_dlpack(torch.tensor(7)).item() == 7
    assert ember.from_dlpack(np.zeros((0, 3))).shape == (0, 3)


def test_dlpack_device_and_versions():
    t = ember.ones(2)
    assert t.__dlpack_device__() == (1, 0)
    for version in (None, (1, 0)):
        cap = t.__dlpack__(max_version=version)
        expected = "dltensor_versioned" if version else "dltensor"
        assert f'"{expected}"' in repr(cap)
    copied = np.from_dlpack(t, copy=True)
    copied[0] = 9.0
    assert t.data[0] == 1.0


def test_from_dlpack_of_ember_tensor_shares_and_detaches():
    x = ember.ones(3, requires_grad=True)
    y = ember.from_dlpack(x)
    assert not y.requires_grad and np.shares_memory(y.data, x.data)
    z = ember.from_dlpack(x, copy=True)
    assert not np.shares_memory(z.data, x.data)


def test_refuses_tensor_requiring_grad():
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(AutogradError, match=r"__dlpack__: the tensor requires grad.*detach"):
        torch.from_dlpack(x)
    with pytest.raises(AutogradError, match="requires grad"):
        np.from_dlpack(x)
    assert torch.from_dlpack(x.detach()).shape == (3,)


@pytest.mark.skipif(ember.cuda.is_available(), reason="this machine has ember's CUDA backend")
def test_refuses_cuda_memory_on_a_cpu_only_build():
    class FakeCuda:
        def __dlpack__(self, **kwargs):
            raise AssertionError("must not be asked for its memory")

        def __dlpack_device__(self):
            return (2, 1)

    with pytest.raises(DeviceError, match=r"from_dlpack: the producer's memory is on cuda:1 "
                                          r"and ember's CUDA backend is not available here: "
                                          r".+cpu\(\)"):
        ember.from_dlpack(FakeCuda())
    with pytest.raises(DeviceError, match="device='cuda' is not available for CPU memory"):
        ember.from_dlpack(np.ones(2), device="cuda")

    class FakeMetal(FakeCuda):
        def __dlpack_device__(self):
            return (8, 0)

    with pytest.raises(DeviceError, match="memory is on metal:0 and ember has no backend"):
        ember.from_dlpack(FakeMetal())


def test_refuses_non_dlpack_objects_and_unsupported_dtypes():
    with pytest.raises(TypeError, match=r"from_dlpack: list does not implement DLPack.*"
                                        r"ember.tensor"):
        ember.from_dlpack([1.0, 2.0])
    with pytest.raises(DTypeError, match=r"from_dlpack: complex64 has no ember dtype.*"
                                         r"convert it in the producer"):
        ember.from_dlpack(torch.ones(2, dtype=torch.complex64))
    with pytest.raises(DTypeError, match="from_dlpack: uint16 has no ember dtype"):
        ember.from_dlpack(np.ones(2, dtype=np.uint16))


def test_read_only_view_needs_versioned_capsule():
    t = ember.broadcast_to(ember.ones(1, 3), (2, 3))
    assert not t.data.flags.writeable
    with pytest.raises(BufferError, match=r"__dlpack__:.*read-only.*clone\(\)"):
        t.__dlpack__()
    a = np.from_dlpack(t)  # NumPy asks for a versioned capsule, which marks it read-only
    assert not a.flags.writeable and a.shape == (2, 3)


def test_producer_without_versioned_dlpack():
    class Legacy:  # the DLPack 0.x protocol: no max_version / copy keywords
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, stream=None):
            return self.a.__dlpack__()

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    a = np.arange(3.0)
    shared = ember.from_dlpack(Legacy(a))
    a[0] = 5.0  # shared memory, which NumPy marks read-only for a pre-1.0 capsule
    assert shared.data[0] == 5.0 and not shared.data.flags.writeable
    copied = ember.from_dlpack(Legacy(a), copy=True)
    copied.data[1] = 7.0
    assert a[1] == 1.0


def test_export_to_another_device_is_refused_by_the_backend():
    with pytest.raises(BufferError, match=r"__dlpack__: the backend refused to export this "
                                          r"tensor \(2,\) float32"):
        ember.ones(2).__dlpack__(dl_device=(2, 0))


def _aligned(shape, dtype, alignment=64):
    """A NumPy array whose buffer starts on an ``alignment``-byte boundary."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.empty(n + alignment, dtype=np.uint8)
    off = (-buf.ctypes.data) % alignment
    return buf[off:off + n].view(dtype).reshape(shape)


def test_jax_round_trip():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3)
    t = ember.from_dlpack(x)  # JAX -> ember: shared, read-only (JAX arrays are immutable)
    assert t.data.__array_interface__["data"][0] == x.unsafe_buffer_pointer()
    assert not t.data.flags.writeable
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3))

    a = _aligned((2, 3), np.float32)  # ember -> JAX: JAX shares 64-byte aligned buffers
    a[...] = 1.0
    j = jnp.from_dlpack(ember.from_numpy(a))
    assert j.unsafe_buffer_pointer() == a.ctypes.data
    a[0, 0] = 42.0
    assert float(j[0, 0]) == 42.0

    b = ember.from_dlpack(jnp.ones(3, dtype=jnp.bfloat16))
    assert b.dtype is ember.bfloat16 and b.tolist() == [1.0, 1.0, 1.0]
    jb = jnp.from_dlpack(ember.from_numpy(_aligned((3,), ml_dtypes.bfloat16)))
    assert jb.dtype == jnp.bfloat16
