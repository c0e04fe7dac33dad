r"""Fused softmax along the last axis: forward and backward, one row at a time.

$$y_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}},\quad m = \max_j x_j
\qquad\qquad \bar x_i = y_i\Big(\bar y_i - \sum_j \bar y_j y_j\Big)$$

The NumPy expression ``e = exp(x - max); e / sum(e)`` walks the whole array five times (max,
subtract, exp, sum, divide) and allocates three temporaries. Here each row (a few KiB, so it
stays in the L1 cache) is read from memory once and written once: max, then exp-and-sum, then
scale. The exponential is :func:`fast_exp.fexp`, which LLVM turns into SIMD code (``math.exp``
would be a scalar library call). Rows are spread over threads with ``prange`` only when the array
is large enough to pay for waking the thread pool (``PARALLEL_MIN`` elements; measured in
``bench/kernels.py``), otherwise a serial loop runs the same row function.

The backward pass needs only the saved output $y$: $\bar x = y \odot (\bar y - \langle \bar y, y\rangle)$,
one dot product and one fused multiply per row.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .fast_exp import fexp

# reassoc lets LLVM split a sum into SIMD partial sums; arcp turns "/ s" into "* (1/s)".
# No nnan/ninf: rows may hold -inf (masked attention scores).
FASTMATH = {"reassoc", "contract", "arcp", "nsz"}
# Waking Numba's thread pool costs 100-150 us on this 2-core VM; softmax of (rows, 1024) float32
# measured serial vs prange (us): 131k elements 144 vs 311, 262k 288 vs 448, 524k 594 vs 422,
# 4.2M 4993 vs 2884. So rows go to threads from half a million elements on.
PARALLEL_MIN = 1 << 19   # elements


# [start:softmax-row]
@njit(cache=True, fastmath=FASTMATH)
def softmax_row(x, y):
    """y = softmax(x) for one row x (C,), written into y (C,)."""
    m = x[0]
    for j in range(1, x.shape[0]):          # pass 1: the row maximum
        m = max(m, x[j])
    s = x.dtype.type(0)
    for j in range(x.shape[0]):             # pass 2: exponentials and their sum
        e = fexp(x[j] - m)
        y[j] = e
        s += e
    for j in range(x.shape[0]):             # pass 3: normalise
        y[j] = y[j] / s
# [end:softmax-row]


# [start:softmax-backward-row]
@njit(cache=True, fastmath=FASTMATH)
def softmax_backward_row(y, g, gx):
    """gx = y * (g - <g, y>) for one row."""
    d = y.dtype.type(0)
    for j in range(y.shape[0]):
        d += g[j] * y[j]
    for j in range(y.shape[0]):
        gx[j] = y[j] * (g[j] - d)
# [end:softmax-backward-row]


@njit(cache=True)
def _forward_serial(x, y):                  # x, y (N, C)
    for i in range(x.shape[0]):
        softmax_row(x[i], y[i])


@njit(cache=True, parallel=True)
def _forward_parallel(x, y):
    for i in prange(x.shape[0]):
        softmax_row(x[i], y[i])


@njit(cache=True)
def _backward_serial(y, g, gx):
    for i in range(y.shape[0]):
        softmax_backward_row(y[i], g[i], gx[i])


@njit(cache=True, parallel=True)
def _backward_parallel(y, g, gx):
    for i in prange(y.shape[0]):
        softmax_backward_row(y[i], g[i], gx[i])


def _rows(a, op):
    """View a (..., C) float array as C-contiguous rows (N, C), copying only when needed."""
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: expected float32 or float64, got {a.dtype}")
    if a.ndim == 0:
        raise ValueError(f"{op}: expected at least one dimension, got a scalar")
    return np.ascontiguousarray(a).reshape(math.prod(a.shape[:-1]), a.shape[-1])


def _check_axis(a, axis, op):
    if axis not in (-1, np.ndim(a) - 1):
        raise ValueError(f"{op}: the kernel works along the last axis only, got axis={axis} for {np.ndim(a)} dims")


def softmax_forward(x, axis=-1):
    """softmax(x) along the last axis; x (..., C) float32/float64 -> same shape and dtype.
    Same arguments and values as the reference ``functional.softmax.softmax_forward``."""
    _check_axis(x, axis, "softmax_forward")
    x2 = _rows(np.asarray(x), "softmax_forward")
    y = np.empty_like(x2)
    if x2.size:
        (_forward_parallel if x2.size >= PARALLEL_MIN else _forward_serial)(x2, y)
    return y.reshape(np.shape(x))


def softmax_backward(y, g, axis=-1):
    """The gradient w.r.t. the softmax input, from the output y and the upstream gradient g."""
    _check_axis(y, axis, "softmax_backward")
    if np.shape(y) != np.shape(g) or np.asarray(y).dtype != np.asarray(g).dtype:
        raise ValueError(f"softmax_backward: y {np.shape(y)} {np.asarray(y).dtype} and "
                         f"g {np.shape(g)} {np.asarray(g).dtype} must match")
    y2, g2 = _rows(np.asarray(y), "softmax_backward"), _rows(np.asarray(g), "softmax_backward")
    gx = np.empty_like(y2)
    if y2.size:
        (_backward_parallel if y2.size >= PARALLEL_MIN else _backward_serial)(y2, g2, gx)
    return gx.reshape(np.shape(y))
