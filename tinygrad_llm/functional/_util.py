"""Small helpers shared by the functional ops: error types and argument checks (no formulas here)."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


class ShapeError(ValueError):
    """Raised when the shapes given to an op do not fit; the message names the op and the shapes."""


def shape_of(a):
    return a.shape if hasattr(a, "shape") else np.shape(a)


def broadcast_shape(op: str, *args):
    shapes = [tuple(shape_of(a)) for a in args]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"{op}: shapes {' and '.join(map(str, shapes))} cannot be broadcast together") from None


def data_of(a):
    return a.data if isinstance(a, Tensor) else a


def positive_int(op: str, name: str, value) -> int:
    """``value`` if it is an int >= 1 (``True`` is not), else a ValueError naming the op and the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{op}: {name} must be a whole number >= 1, got {value!r}")
    return value


def normalize_axis(op: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % max(ndim, 1)
