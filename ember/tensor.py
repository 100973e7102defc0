"""``ember.Tensor``: a backend array plus the state automatic differentiation needs.

A tensor holds ``data`` (a NumPy array on the CPU, a CuPy array on CUDA), ``requires_grad``,
``grad``, and -- when it was computed by a recorded op -- the node that produced it
(``grad_fn``). Arithmetic operators and methods (``x + y``, ``x.sum()``, ``x[0]``) call the ops
in ``ember/ops``; they are attached to the class in ``ember/ops/methods.py``.

Example:
    >>> import ember
    >>> x = ember.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([[2., 4.],
            [6., 8.]])
"""

from __future__ import annotations

import numpy as np

from . import dtypes as _dt
from .autograd import node as _node_mod
from .autograd.grad_mode import state as _state
from .backend import backend_of
from .errors import AutogradError, op_error


class Tensor:
    """An n-dimensional array with automatic differentiation."""

    __slots__ = ("data", "_rg", "grad", "_node", "_idx", "_version", "_base", "_hooks",
                 "_post_hooks", "_retains", "__weakref__")
    __array_priority__ = 1000  # NumPy defers `array * tensor` to Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False) -> None:
        self.data = data
        self._rg = requires_grad
        self.grad = None
        self._node = None
        self._idx = 0
        self._version = [0]
        self._base = None
        self._hooks = None
        self._post_hooks = None

    # ----------------------------------------------------------------- autograd state
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether autograd records operations on this leaf tensor; returns ``self``."""
        if requires_grad and self.data.dtype.kind not in "fc" and self.dtype.kind != "f":
            raise AutogradError(
                f"requires_grad: only floating-point tensors can require gradients, this one is "
                f"{self.dtype.name}. Convert it first, e.g. x.float().requires_grad_()"
            )
        if not requires_grad and self._node is not None:
            raise AutogradError(
                "requires_grad: cannot turn off gradients on a non-leaf tensor; use .detach()"
            )
        self._rg = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (user-created, or no grad)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The node that produced this tensor, or None for leaves."""
        return self._node

    def backward(self, gradient=None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Compute the gradient of this tensor with respect to the leaves that require grad.

        Args:
            gradient: the gradient of some scalar with respect to this tensor; may be omitted
                when this tensor has one element.
            retain_graph: keep the graph so backward can run through it again
                (defaults to ``create_graph``).
            create_graph: record the backward pass so higher-order gradients can be taken.
            inputs: accumulate only into these leaves.

        Example:
            >>> import ember
            >>> x = ember.tensor(3.0, requires_grad=True)
            >>> (x ** 2).backward()
            >>> x.grad.item()
            6.0
        """
        from .autograd import backward

        backward(self, gradient, retain_graph, create_graph, inputs)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one.

        Returns a handle whose ``remove()`` unregisters the hook.
        """
        if not self._rg:
            raise AutogradError(
                "register_hook: the tensor does not require grad, so no gradient will reach it"
            )
        if self._node is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            if self._node.hooks is None:
                self._node.hooks = {}
            hooks = self._node.hooks.setdefault(self._idx, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` on this leaf once backward has finished accumulating its ``.grad``.

        Fires once per backward pass, after the last gradient reaching the leaf was added
        (``DistributedDataParallel`` launches its all-reduces from here). Not called by
        ``autograd.grad``, which does not touch ``.grad``. Returns a handle with ``remove()``.

        Example:
            >>> import ember
            >>> w = ember.tensor([1.0, 2.0], requires_grad=True)
            >>> h = w.register_post_accumulate_grad_hook(lambda t: print(t.grad))
            >>> (w * w + w).sum().backward()
            tensor([3., 5.])
            >>> h.remove()
        """
        if self._node is not None or not self._rg:
            raise AutogradError(
                "register_post_accumulate_grad_hook: only leaf tensors that require grad "
                "accumulate a .grad; use register_hook on a computed tensor"
            )
        from .autograd import engine

        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(hook)
        engine._POST_HOOKS[0] += 1
        return _PostHookHandle(self, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if self._node is None:
            return
        if getattr(self, "_retains", False):
            return
        import weakref

        ref = weakref.ref(self)

        def keep(g):
            t = ref()
            if t is not None:
                t.grad = g.detach() if t.grad is None else (t.grad + g).detach()

        self._retains = True
        self.register_hook(keep)

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph."""
        t = Tensor(self.data)
        t._version = self._version
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place."""
        self._node = None
        self._rg = False
        return self

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple:
        return self.data.shape

    def size(self, dim: int | None = None):
        """The shape, or the size of dimension ``dim``."""
        return self.data.shape if dim is None else self.data.shape[dim]

    @property
    def dtype(self) -> _dt.DType:
        return _dt.from_numpy_dtype(self.data.dtype)

    @property
    def device(self):
        b = backend_of(self.data)
        return b.device_of(self.data) if b.multi_device else b.device

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        """The number of elements."""
        return int(self.data.size)

    def element_size(self) -> int:
        return self.data.itemsize

    @property
    def itemsize(self) -> int:
        return self.data.itemsize

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # ----------------------------------------------------------------- conversion
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The data as a NumPy array (shares memory on the CPU).

        Raises for tensors that require grad (call ``.detach().numpy()``), like PyTorch,
        unless ``force=True``.
        """
        if _state.tracer is not None:
            _state.tracer.check_concrete(self, "numpy()")
        if self._rg and not force:
            raise AutogradError(
                "numpy: the tensor requires grad; call tensor.detach().numpy() to get its values"
            )
        if isinstance(self.data, np.ndarray):
            return self.data
        return self.data.get()

    def __array__(self, dtype=None, copy=None):
        """NumPy's conversion protocol with NumPy 2's ``copy=``: True always copies, None
        copies only when needed (dtype change, GPU memory), False raises ValueError then."""
        if _state.tracer is not None:
            _state.tracer.check_concrete(self, "conversion to a NumPy array")
        arr = self.data
        if not isinstance(arr, np.ndarray):
            if copy is False:
                raise ValueError(f"__array__: the tensor is on {self.device}, so a NumPy "
                                 "array of it needs a copy, which copy=False forbids; call "
                                 ".cpu() first or pass copy=None")
            arr, copy = arr.get(), None  # already a fresh array
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            if copy is False:
                raise ValueError(f"__array__: converting {arr.dtype} to {np.dtype(dtype)} "
                                 "needs a copy, which copy=False forbids; pass copy=None")
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if _state.tracer is not None:
            _state.tracer.check_concrete(self, "item()")
        if self.data.size != 1:
            raise op_error(
                ValueError, "item", f"only a one-element tensor converts to a Python number, "
                f"this one has {self.data.size} elements", args=[self],
                hint="index it first, or use .tolist()",
            )
        return self.data.reshape(()).item()

    def tolist(self):
        """The data as (nested) Python lists."""
        if _state.tracer is not None:
            _state.tracer.check_concrete(self, "tolist()")
        arr = self.data
        return (arr if isinstance(arr, np.ndarray) else arr.get()).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if _state.tracer is not None:
            _state.tracer.check_concrete(self, "bool() (an `if` or `while` on a tensor)")
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.item())

    def __hash__(self) -> int:
        return id(self)

    def to(self, *args, dtype=None, device=None, copy: bool = False) -> Tensor:
        """Move and/or cast: ``x.to("cpu")``, ``x.to(ember.float64)``, ``x.to(other)``."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, str) and a.partition(":")[0] in ("cpu", "cuda"):
                device = a
            elif hasattr(a, "type") and hasattr(a, "index"):
                device = a
            else:
                dtype = a
        from . import ops

        out = self
        if device is not None:
            out = ops.to_device(out, device)
        if dtype is not None:
            out = ops.astype(out, dtype, copy=False)
        if copy and out is self:
            out = ops.clone(self)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, index: int | None = None) -> Tensor:
        return self.to("cuda" if index is None else f"cuda:{index}")

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def __array_namespace__(self, *, api_version: str | None = None):
        """The array API standard namespace for ember tensors (``ember.array_api``).

        Example:
            >>> import ember
            >>> ember.tensor([1.0]).__array_namespace__().__array_api_version__
            '2024.12'
        """
        if api_version not in (None, "2021.12", "2022.12", "2023.12", "2024.12"):
            raise ValueError(f"__array_namespace__: ember implements the array API standard "
                             f"2024.12 (and the earlier versions), not {api_version!r}")
        from . import array_api

        return array_api

    def to_device(self, device, /, *, stream=None) -> Tensor:
        """This tensor on ``device`` (the array API's name for ``.to(device)``)."""
        if stream is not None:
            raise ValueError("to_device: streams are not supported; pass stream=None")
        return self.to(device)

    # ----------------------------------------------------------------- repr
    def __repr__(self) -> str:
        arr = self.data if isinstance(self.data, np.ndarray) else self.data.get()  # GPU: copy
        if arr.dtype.kind == "V" or self.dtype.name == "bfloat16":
            arr = arr.astype(np.float32)
        body = np.array2string(arr, separator=", ", prefix="tensor(", threshold=200,
                               edgeitems=3, precision=4)
        extras = []
        d = self.dtype
        if d is not _dt.float32 and d is not _dt.int64 and d is not _dt.bool_:
            extras.append(f"dtype={d!r}")
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self._node is not None:
            extras.append(f"grad_fn={self._node!r}")
        elif self._rg:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class _PostHookHandle:
    def __init__(self, tensor, hook):
        self._tensor, self._hook = tensor, hook

    def remove(self) -> None:
        hooks = self._tensor._post_hooks
        if hooks is not None and self._hook in hooks:
            from .autograd import engine

            hooks.remove(self._hook)
            engine._POST_HOOKS[0] -= 1
            if not hooks:
                self._tensor._post_hooks = None


_node_mod.Tensor = Tensor

