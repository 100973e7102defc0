"""``GradScaler``: dynamic loss scaling for float16 training (PyTorch's ``torch.amp.GradScaler``).

float16 gradients underflow to zero below about 6e-8. Multiplying the loss by a large scale
keeps them representable; ``unscale_`` divides the float32 gradients of the (float32, master)
weights back before the optimiser sees them. A step whose gradients hold inf or NaN is
skipped and the scale shrinks by ``backoff_factor``; after ``growth_interval`` clean steps in
a row it grows by ``growth_factor``.
"""

from __future__ import annotations

import numpy as np

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor

_READY, _UNSCALED, _STEPPED = 0, 1, 2


class GradScaler:
    """Scales the loss, unscales gradients, skips steps with inf/NaN and adapts the scale.

    Args:
        device: ``"cuda"`` or ``"cpu"`` (accepted for PyTorch compatibility; the scaler works
            on whatever device the gradients are).
        init_scale: the first scale factor.
        growth_factor: multiplies the scale after ``growth_interval`` clean steps (> 1).
        backoff_factor: multiplies the scale after a step with inf/NaN (between 0 and 1).
        growth_interval: clean steps in a row before the scale grows.
        enabled: False makes every method a pass-through (``scale`` returns the loss as is).

    Example:
        >>> import ember
        >>> w = ember.nn.Parameter(ember.ones(2))
        >>> opt = ember.optim.SGD([w], lr=0.1)
        >>> scaler = ember.amp.GradScaler("cpu", init_scale=1024.0)
        >>> scaler.scale((w * 3.0).sum()).backward()
        >>> scaler.step(opt)
        >>> scaler.update()
        >>> w.detach().tolist(), scaler.get_scale()
        ([0.699999988079071, 0.699999988079071], 1024.0)
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        if device not in ("cuda", "cpu"):
            raise ValueError(f"GradScaler: device must be 'cuda' or 'cpu', got {device!r}")
        if not init_scale > 0:
            raise ValueError(f"GradScaler: init_scale must be > 0, got {init_scale!r}")
        if not growth_factor > 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor!r}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError("GradScaler: backoff_factor must lie between 0 and 1, got "
                             f"{backoff_factor!r}")
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, int) or \
                growth_interval <= 0:
            raise ValueError("GradScaler: growth_interval must be a positive integer, got "
                             f"{growth_interval!r}")
        self.device = device
        self._enabled = bool(enabled)
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer: dict[int, list] = {}  # id(opt) -> [stage, found_inf]

    # ------------------------------------------------------------------ the loop
    def scale(self, outputs):
        """``outputs`` (a tensor, or a list/tuple of them) multiplied by the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError("GradScaler.scale: expected a tensor or a list/tuple of tensors, got "
                        f"{type(outputs).__name__}")

    def _state(self, optimizer) -> list:
        return self._per_optimizer.setdefault(id(optimizer), [_READY, False])

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale in place and look for inf/NaN.

        Call it before clipping gradients; ``step`` calls it when you have not.
        """
        if not self._enabled:
            return
        st = self._state(optimizer)
        if st[0] == _UNSCALED:
            raise RuntimeError("GradScaler.unscale_: already called on this optimizer since "
                               "the last update(); call it once per step")
        if st[0] == _STEPPED:
            raise RuntimeError("GradScaler.unscale_: called after step(); call update() "
                               "first")
        inv = 1.0 / self._scale
        finite = []
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    a = g.data
                    if a.dtype.kind == "f" and a.dtype.itemsize == 2:
                        raise ValueError(
                            f"GradScaler.unscale_: a parameter of shape {tuple(p.shape)} has "
                            f"{g.dtype.name} gradients; keep the weights in float32 (master "
                            "weights) and let autocast cast them per op")
                    a *= a.dtype.type(inv)
                    g._version[0] += 1
                    finite.append(_all_finite(a))
        st[0] = _UNSCALED
        st[1] = bool(finite) and not bool(_xp(finite[0]).stack(finite).all())  # one sync

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step()`` unless the gradients hold inf/NaN; returns its result or None."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        st = self._state(optimizer)
        if st[0] == _STEPPED:
            raise RuntimeError("GradScaler.step: already called on this optimizer since the "
                               "last update(); call update() once per iteration")
        if st[0] == _READY:
            self.unscale_(optimizer)
        st[0] = _STEPPED
        if st[1]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale: float | None = None) -> None:
        """Adapt the scale to the steps since the last update (or set it to ``new_scale``)."""
        if not self._enabled:
            return
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                new_scale = new_scale.item()
            if not float(new_scale) > 0:
                raise ValueError(f"GradScaler.update: new_scale must be > 0, got {new_scale!r}")
            self._scale = float(new_scale)
        else:
            states = list(self._per_optimizer.values())
            if not states:
                raise RuntimeError("GradScaler.update: no unscale_() or step() was recorded "
                                   "since the last update()")
            if any(s[1] for s in states):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer.clear()

    # ------------------------------------------------------------------ accessors
    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, value: float) -> None:
        self._growth_factor = float(value)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, value: float) -> None:
        self._backoff_factor = float(value)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, value: int) -> None:
        self._growth_interval = int(value)

    def state_dict(self) -> dict:
        """The scale and the growth settings and counter (PyTorch's keys); {} when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned (also from a ``torch.amp.GradScaler``)."""
        if not self._enabled:
            return
        if not state:
            raise RuntimeError("GradScaler.load_state_dict: the state is empty; it was saved "
                               "from a disabled GradScaler")
        missing = {"scale", "growth_factor", "backoff_factor", "growth_interval",
                   "_growth_tracker"} - set(state)
        if missing:
            raise KeyError(f"GradScaler.load_state_dict: missing keys {sorted(missing)}")
        self._scale = float(_plain(state["scale"]))
        self._growth_factor = float(state["growth_factor"])
        self._backoff_factor = float(state["backoff_factor"])
        self._growth_interval = int(state["growth_interval"])
        self._growth_tracker = int(_plain(state["_growth_tracker"]))


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def _xp(a):
    """The array module of a backend array or a NumPy scalar."""
    if isinstance(a, (np.ndarray, np.generic)):
        return np
    from ..backend import backend_of

    return backend_of(a).xp


def _all_finite(a):
    """A device scalar: whether every element of ``a`` is finite (no host sync here)."""
    return _xp(a).isfinite(a).all()
