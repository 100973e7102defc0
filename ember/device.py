"""Devices: ``ember.device("cpu")``, ``"cuda"``, ``"cuda:1"``.

Example:
    >>> import ember
    >>> ember.device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

from .errors import DeviceError


class device:  # noqa: N801 - PyTorch's name
    """A device: a type (``"cpu"`` or ``"cuda"``) and an optional index."""

    __slots__ = ("type", "index")

    def __init__(self, spec: str | device, index: int | None = None) -> None:
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise DeviceError(f"device: expected a string such as 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise DeviceError(f"device: unknown device type {spec!r}; use 'cpu' or 'cuda[:N]'")
        self.type = kind
        self.index = int(idx) if idx else index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type={self.type!r})"
        return f"device(type={self.type!r}, index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))


cpu = device("cpu")
