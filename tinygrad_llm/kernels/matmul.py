r"""Matrix product $C = AB$, $C_{ij} = \sum_k A_{ik} B_{kj}$: a teaching ladder and the production dispatch.

The gradients ($\bar A = \bar C B^\top$, $\bar B = A^\top \bar C$) are matrix products too, so the
same kernels serve the backward pass (``functional/matmul.py``).

The ladder, each rung equal to ``np.matmul`` (tests) and measured in ``bench/kernels.py``:

1. ``matmul_ijk`` — the formula as written. The innermost loop walks down a column of $B$,
   one element per cache line touched, and carries a dependency through ``s``: slow.
2. ``matmul_ikj`` — swap the two inner loops: $C_{i,:} \mathrel{+}= A_{ik} B_{k,:}$. Now the
   innermost loop runs along rows of $B$ and $C$ (contiguous, so SIMD), and ``prange`` hands
   rows of $C$ to different threads (no two threads write the same row).
3. ``matmul_blocked`` — the same update on tiles: ``KB`` rows of $B$ stay in the L2 cache
   while a block of rows of $A$ streams past them, and a 4 x 4 block of $A$ is applied per
   sweep: each element of $B$ loaded feeds four rows of $C$, each load/store of $C$ four
   fused multiply-adds (16 FMAs per 4 loads of $B$ and 4 loads + 4 stores of $C$). The hot loop indexes the 2-D
   arrays directly: taking a slice such as ``b[k]`` inside it costs a reference-count update
   that the two threads fight over (measured: the sliced version ran 4x slower).

Production rule (``matmul``). OpenBLAS wins every single product here (hand-written
register-blocked assembly; measured at n = 256: ~150 GFLOP/s against ~35-55 for the best rung
above), so 2-D products, broadcasting products and large batched ones go straight to
``np.matmul``. NumPy runs a batched product as one single-threaded BLAS call per matrix, so for
many *small* matrices (attention: (B·H, T, hs) @ (B·H, hs, T)) a Numba loop that hands whole
matrices to threads *can* win — on a machine where waking threads is cheap. On this 2-core VM a
``prange`` launch costs 100-150 us and BLAS keeps winning (chapter 02 has the numbers), so the rule is
decided by measurement, once per shape: the first product of a candidate shape (same dtype
float32/float64, equal batch dims with at least ``BATCH_MIN`` matrices, ``M·N·K <= SMALL_MAX``) runs
both paths, times them, and remembers the faster one in ``WINNER``. Both paths compute the same
sums in a different order, so results agree to rounding.
"""
from __future__ import annotations

import math
import time

import numpy as np
from numba import config, get_num_threads, njit, prange

BATCH_MIN = 4                    # matrices
SMALL_MAX = 128 * 128 * 128      # M*N*K per matrix
KB = 128                         # rows of B kept in cache by matmul_blocked


# [start:matmul-ijk]
@njit(cache=True)
def matmul_ijk(a, b):
    """C = A B with the textbook loop order i, j, k."""
    M, K = a.shape
    N = b.shape[1]
    c = np.zeros((M, N), dtype=a.dtype)
    for i in range(M):
        for j in range(N):
            s = a.dtype.type(0)
            for k in range(K):
                s += a[i, k] * b[k, j]
            c[i, j] = s
    return c
# [end:matmul-ijk]


# [start:matmul-ikj]
@njit(cache=True, parallel=True, fastmath={"contract"})
def matmul_ikj(a, b):
    """C = A B with loop order i, k, j: the inner loop runs along rows; rows go to threads."""
    M, K = a.shape
    N = b.shape[1]
    c = np.zeros((M, N), dtype=a.dtype)
    for i in prange(M):
        for k in range(K):
            aik = a[i, k]
            for j in range(N):
                c[i, j] += aik * b[k, j]
    return c
# [end:matmul-ikj]


@njit(cache=True, fastmath={"contract"})
def row_panel(a, b, c, i, k0, k1, j0, j1):
    """c[i, j0:j1] += a[i, k0:k1] @ b[k0:k1, j0:j1], four rows of b per sweep over c[i]."""
    k = k0
    while k + 4 <= k1:
        a0, a1, a2, a3 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
        for j in range(j0, j1):
            c[i, j] += a0 * b[k, j] + a1 * b[k + 1, j] + a2 * b[k + 2, j] + a3 * b[k + 3, j]
        k += 4
    while k < k1:                                                 # the last K % 4 rows
        ak = a[i, k]
        for j in range(j0, j1):
            c[i, j] += ak * b[k, j]
        k += 1


# [start:matmul-panel]
@njit(cache=True, fastmath={"contract"})
def quad_panel(a, b, c, i, k0, k1):
    """c[i:i+4, :] += a[i:i+4, k0:k1] @ b[k0:k1, :]: a 4 x 4 block of A per sweep over the rows."""
    k = k0
    while k + 4 <= k1:
        p0, p1, p2, p3 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
        q0, q1, q2, q3 = a[i + 1, k], a[i + 1, k + 1], a[i + 1, k + 2], a[i + 1, k + 3]
        r0, r1, r2, r3 = a[i + 2, k], a[i + 2, k + 1], a[i + 2, k + 2], a[i + 2, k + 3]
        s0, s1, s2, s3 = a[i + 3, k], a[i + 3, k + 1], a[i + 3, k + 2], a[i + 3, k + 3]
        for j in range(b.shape[1]):                # 4 loads of B feed 16 multiply-adds
            b0, b1, b2, b3 = b[k, j], b[k + 1, j], b[k + 2, j], b[k + 3, j]
            c[i, j] += p0 * b0 + p1 * b1 + p2 * b2 + p3 * b3
            c[i + 1, j] += q0 * b0 + q1 * b1 + q2 * b2 + q3 * b3
            c[i + 2, j] += r0 * b0 + r1 * b1 + r2 * b2 + r3 * b3
            c[i + 3, j] += s0 * b0 + s1 * b1 + s2 * b2 + s3 * b3
        k += 4
    for r in range(4):                             # the last K % 4 rows of B
        row_panel(a, b, c, i + r, k, k1, 0, b.shape[1])
# [end:matmul-panel]


# [start:matmul-blocked]
@njit(cache=True, parallel=True)
def _blocked(a, b, c, mb):
    M, K = a.shape
    N = b.shape[1]
    for ib in prange((M + mb - 1) // mb):          # a block of rows of C per task
        i0, i1 = ib * mb, min(ib * mb + mb, M)
        for k0 in range(0, K, KB):                 # rows b[k0:k0+KB] stay in cache ...
            k1 = min(k0 + KB, K)
            i = i0
            while i + 4 <= i1:                     # ... while the block's rows use them
                quad_panel(a, b, c, i, k0, k1)
                i += 4
            while i < i1:                          # leftover rows, one at a time
                row_panel(a, b, c, i, k0, k1, 0, N)
                i += 1
# [end:matmul-blocked]


def matmul_blocked(a, b):
    """C = A B, cache-blocked and parallel over blocks of rows (2-D, C-contiguous copies made)."""
    a, b = _check2d(a, b, "matmul_blocked")
    c = np.zeros((a.shape[0], b.shape[1]), dtype=a.dtype)
    mb = 4 * max(1, min(16, -(-a.shape[0] // (4 * get_num_threads()))))   # a multiple of 4 rows
    _blocked(a, b, c, mb)
    return c


# [start:matmul-batched]
@njit(cache=True, parallel=True)
def _batched(a, b, c):                             # (P, M, K) @ (P, K, N) -> (P, M, N)
    for p in prange(a.shape[0]):                   # whole matrices go to threads
        ap, bp, cp = a[p], b[p], c[p]
        for i in range(ap.shape[0]):
            row_panel(ap, bp, cp, i, 0, ap.shape[1], 0, bp.shape[1])
# [end:matmul-batched]


def _check2d(a, b, op):
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"{op}: expected (M, K) @ (K, N), got {a.shape} and {b.shape}")
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: expected two float32 or two float64 arrays, got {a.dtype} and {b.dtype}")
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def use_numba(a_shape, b_shape, dtype_a, dtype_b) -> bool:
    """Whether a product of these shapes is a candidate for the Numba batched kernel."""
    if dtype_a != dtype_b or dtype_a not in (np.float32, np.float64):
        return False
    if len(a_shape) < 3 or a_shape[:-2] != b_shape[:-2] or a_shape[-1] != b_shape[-2]:
        return False
    M, K = a_shape[-2:]
    N = b_shape[-1]
    batch = int(np.prod(a_shape[:-2]))
    return batch >= BATCH_MIN and 0 < M * N * K <= SMALL_MAX


WINNER: dict = {}   # (batch, M, K, N, dtype) -> "numba" or "blas", filled by measurement


def _race(a, b) -> str:
    """Time both paths on this very product (after a warm-up call each) and name the faster."""
    best = {}
    for name, fn in (("numba", bmm), ("blas", np.matmul)):
        fn(a, b)                                   # warm-up (and JIT load)
        t = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            fn(a, b)
            t = min(t, time.perf_counter() - t0)
        best[name] = t
    return min(best, key=best.get)


def bmm(a, b):
    """Batched C = A B on (..., M, K) and (..., K, N) with equal batch dims, by the Numba kernel."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim < 3 or a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"bmm: expected (..., M, K) @ (..., K, N) with equal batch dims, "
                         f"got {a.shape} and {b.shape}")
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    a3 = np.ascontiguousarray(a).reshape(-1, M, K)
    b3 = np.ascontiguousarray(b).reshape(-1, K, N)   # copies a transposed view (K^T) once
    c = np.zeros((a3.shape[0], M, N), dtype=a.dtype)
    _batched(a3, b3, c)
    return c.reshape(a.shape[:-2] + (M, N))


def matmul(a, b):
    """``np.matmul`` semantics (batched, broadcasting); Numba or BLAS chosen by the measured rule."""
    a, b = np.asarray(a), np.asarray(b)
    if config.DISABLE_JIT:                         # the Numba loops would run as Python: no race
        return np.matmul(a, b)
    if a.ndim >= 3 and b.ndim >= 3 and use_numba(a.shape, b.shape, a.dtype, b.dtype):
        key = (int(np.prod(a.shape[:-2])),) + a.shape[-2:] + (b.shape[-1], a.dtype.str)
        if key not in WINNER:
            WINNER[key] = _race(a, b)
        if WINNER[key] == "numba":
            return bmm(a, b)
    return np.matmul(a, b)
