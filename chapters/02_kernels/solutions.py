"""Chapter 02 — solutions to the exercises (tested in tests/chapters/test_ch02_kernels.py)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from tinygrad_llm.kernels.fast_exp import fexp

# No cache=True here: the tests load this file by path, and Numba's on-disk cache can only be
# reloaded for modules that Python can import by name.


# Exercise 1: the loop order j, k, i.
@njit(parallel=True)
def matmul_jki(a, b):
    """C = A B with loop order j, k, i: the inner loop walks down a column of A and of C.

    Fast when A and C are stored column by column (Fortran order); with NumPy's row-major
    arrays every step of the inner loop jumps a whole row. Columns of C go to threads.
    """
    M, K = a.shape
    N = b.shape[1]
    c = np.zeros((M, N), dtype=a.dtype)
    for j in prange(N):
        for k in range(K):
            bkj = b[k, j]
            for i in range(M):
                c[i, j] += a[i, k] * bkj
    return c


# Exercise 2: the softmax Jacobian, and the product with a vector without it.
def softmax_jacobian(x):
    """J[i, j] = dy_i / dx_j = y_i (delta_ij - y_j) for one row x (C,): diag(y) - y y^T."""
    e = np.exp(x - x.max())
    y = e / e.sum()
    return np.diag(y) - np.outer(y, y)


def softmax_jvp(x, v):
    """J v in O(C): J is symmetric, so J v = y * (v - <y, v>) — the same formula as the VJP."""
    e = np.exp(x - x.max())
    y = e / e.sum()
    return y * (v - np.dot(y, v))


# Exercise 3: a fused log-softmax kernel.
@njit(fastmath={"reassoc", "contract", "nsz"})
def _log_softmax_row(x, out):
    m = x[0]
    for j in range(1, x.shape[0]):
        m = max(m, x[j])
    s = x.dtype.type(0)
    for j in range(x.shape[0]):
        s += fexp(x[j] - m)
    lse = m + math.log(s)
    for j in range(x.shape[0]):
        out[j] = x[j] - lse


@njit
def _log_softmax_rows(x, out):
    for i in range(x.shape[0]):
        _log_softmax_row(x[i], out[i])


def log_softmax_rows(x):
    """log_softmax(x) along the last axis, one pass per row: x - (m + log sum exp(x - m))."""
    x = np.ascontiguousarray(x)
    x2 = x.reshape(-1, x.shape[-1])
    out = np.empty_like(x2)
    _log_softmax_rows(x2, out)
    return out.reshape(x.shape)


# Exercise 4: when do threads pay?
def parallel_break_even(launch_us: float, ns_per_element: float, threads: int) -> float:
    """Elements n where serial time n t equals parallel time L + n t / P:
    $n^* = L / (t (1 - 1/P))$."""
    if threads < 2:
        return math.inf
    return launch_us * 1e3 / (ns_per_element * (1 - 1 / threads))
