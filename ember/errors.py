"""ember's exception types and the one helper that builds op error messages.

Every error a user can provoke names the op (or layer), the shapes, dtypes or devices
involved, and what to do. The classes subclass the built-in exception a Python user would
catch (``ValueError``, ``TypeError``, ``RuntimeError``, ``IndexError``).
"""

from __future__ import annotations


class EmberError(Exception):
    """Base of all ember errors."""


class ShapeError(EmberError, ValueError):
    """Shapes that do not fit together (broadcasting, matmul, reshape …)."""


class DTypeError(EmberError, TypeError):
    """An unknown dtype, or a dtype an op cannot take."""


class DeviceError(EmberError, RuntimeError):
    """Tensors on different devices, or a device that does not exist."""


class AutogradError(EmberError, RuntimeError):
    """Misuse of automatic differentiation (backward twice, in-place on saved tensors …)."""


class EmberIndexError(EmberError, IndexError):
    """An index outside a tensor's bounds."""


class LinAlgError(EmberError, ValueError):
    """A singular or otherwise invalid matrix in ``ember.linalg``."""


class DomainError(EmberError, ValueError):
    """Input values outside what an op accepts (probabilities outside [0, 1] …), found by the
    op's forward on the arrays themselves, so compiled graphs raise it too."""


def describe(x) -> str:
    """A short description of an argument for error messages: shape and dtype for tensors."""
    shape = getattr(x, "shape", None)
    if shape is None:
        return repr(x)
    dtype = getattr(x, "dtype", None)
    name = getattr(dtype, "name", dtype)
    return f"shape {tuple(shape)} {name}"


def op_error(cls, op: str, problem: str, *, args=(), hint: str = "") -> EmberError:
    """Build an error ``cls`` for op ``op``: ``"<op>: <problem> (inputs: …). <hint>"``."""
    msg = f"{op}: {problem}"
    if args:
        msg += " (inputs: " + ", ".join(describe(a) for a in args) + ")"
    if hint:
        msg += ". " + hint
    return cls(msg)
