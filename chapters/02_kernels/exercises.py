"""Chapter 02 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch02_kernels.py --answers chapters/02_kernels/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import math
import numpy as np
from numba import njit, prange

from tinygrad_llm.kernels.fast_exp import fexp


@njit(parallel=True)
def matmul_jki(a, b):
    """Exercise 1. Write `matmul_jki`, the product with loop order j, k, i and `prange` over columns. Check it
    against `np.matmul`, then time it next to `matmul_ikj`. Which memory layout would make it the fast one?

    C = A B with loop order j, k, i: the inner loop walks down a column of A and of C.

    Fast when A and C are stored column by column (Fortran order); with NumPy's row-major arrays every step of
    the inner loop jumps a whole row. Columns of C go to threads."""
    raise NotImplementedError("exercise 1: write matmul_jki")


def softmax_jacobian(x):
    r"""Exercise 2. Build the softmax Jacobian $\mathrm{diag}(y) - y y^\top$ explicitly and check it against central
    differences. Show that it is symmetric, so the Jacobian-vector product (forward mode) is the same formula as
    the vector-Jacobian product of backward.

    J[i, j] = dy_i / dx_j = y_i (delta_ij - y_j) for one row x (C,): diag(y) - y y^T."""
    raise NotImplementedError("exercise 2: write softmax_jacobian")


def softmax_jvp(x, v):
    r"""Exercise 2. Build the softmax Jacobian $\mathrm{diag}(y) - y y^\top$ explicitly and check it against central
    differences. Show that it is symmetric, so the Jacobian-vector product (forward mode) is the same formula as
    the vector-Jacobian product of backward.

    J v in O(C): J is symmetric, so J v = y * (v - <y, v>) — the same formula as the VJP."""
    raise NotImplementedError("exercise 2: write softmax_jvp")


def log_softmax_rows(x):
    r"""Exercise 3. Write a fused `log_softmax` kernel (one pass per row, using `fexp`). It must agree with $x - m -
    \log\sum_j e^{x_j - m}$ for logits up to $\pm 10^4$ in float32 and float64.

    log_softmax(x) along the last axis, one pass per row: x - (m + log sum exp(x - m))."""
    raise NotImplementedError("exercise 3: write log_softmax_rows")


def parallel_break_even(launch_us: float, ns_per_element: float, threads: int) -> float:
    """Exercise 4. A parallel loop costs $L$ µs to start and then runs $P$ threads. A single thread needs $t$ ns
    per element. Derive the size $n^*$ where the two times are equal, $n^* = L / (t (1 - 1/P))$. Put in the
    numbers measured above.

    Elements n where serial time n t equals parallel time L + n t / P: $n^* = L / (t (1 - 1/P))$."""
    raise NotImplementedError("exercise 4: write parallel_break_even")
