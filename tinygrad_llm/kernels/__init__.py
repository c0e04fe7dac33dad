r"""Numba CPU kernels, each equal to the plain-array reference of its formula in ``functional/``.

NumPy arrays in, NumPy arrays out; nothing here knows about ``Tensor`` (this package imports only
``backend``, Numba and NumPy). Which kernel replaces which reference, and when, is decided in one
place, ``functional/_dispatch.py``; a kernel takes the same arguments as its reference.

Threading. Two thread pools share the two cores of a small machine: OpenBLAS (behind ``np.matmul``)
and Numba's parallel layer (behind every ``prange``). Numba's default layer here is OpenMP, whose
workers keep spinning for a while after a parallel loop ends; a BLAS call made right after
that runs with its threads fighting the spinning OpenMP threads: a float32 GEMM at n = 1024
measured 90-95 GFLOP/s right after a parallel kernel with ``omp`` against 170-186 with
``workqueue`` (``bench/kernels.py --threading``, chapter 02). The ``workqueue`` layer puts its workers to sleep instead, so we select it here,
before any parallel kernel is compiled or run. An explicit ``NUMBA_THREADING_LAYER`` in the
environment still wins.
"""
from __future__ import annotations

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

from .adam import adam_update  # noqa: E402
from .cross_entropy import cross_entropy_backward, cross_entropy_forward  # noqa: E402
from .fast_exp import exp  # noqa: E402
from .layernorm import layer_norm_backward, layer_norm_forward  # noqa: E402
from .linear import gelu_backward, gelu_forward, linear_bias_gelu, linear_bias_gelu_backward  # noqa: E402
from .lstm import lstm_cell_backward, lstm_cell_forward  # noqa: E402
from .matmul import matmul, matmul_blocked, matmul_ijk, matmul_ikj  # noqa: E402
from .softmax import softmax_backward, softmax_forward  # noqa: E402

__all__ = [
    "exp", "matmul", "matmul_ijk", "matmul_ikj", "matmul_blocked", "linear_bias_gelu",
    "linear_bias_gelu_backward", "softmax_forward", "softmax_backward", "cross_entropy_forward",
    "cross_entropy_backward", "layer_norm_forward", "layer_norm_backward", "gelu_forward",
    "gelu_backward", "lstm_cell_forward", "lstm_cell_backward", "adam_update", "threading_info",
]


def threading_info() -> dict:
    """Which Numba threading layer runs ``prange`` loops and how many threads each pool has."""
    info = {"numba_layer_requested": numba.config.THREADING_LAYER,
            "numba_threads": numba.get_num_threads()}
    try:
        info["numba_layer_active"] = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        info["numba_layer_active"] = None
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [(p.get("internal_api"), p.get("num_threads"), p.get("architecture"))
                        for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        info["blas"] = None
    return info
