r"""The decoding loops' thread policy: the first step (the prompt, many rows) runs with the thread pools
as they are; every later step with a KV cache runs with ONE thread in NumPy's BLAS and in Numba.

Why, by measurement (docs/performance.md, "thread policy"): a cached step multiplies one row per
sequence by each weight matrix. Split over two threads, each product ends with a wait for the slower
thread; when another process holds one of the cores, that wait is a scheduler time slice, every
product of every layer pays it, and SmolLM2-135M fell from 1.7 to 0.3 tokens/s on this 2-core machine
(load ~20). With one thread the step cannot wait for a second worker, and on an idle machine the
second thread buys little on such thin products. The prompt's products are full matrix-matrix
products, which do gain from threads, so the first step keeps them.
"""
from __future__ import annotations

from .. import backend

DECODE_THREADS = 1


def decode_steps(n: int, use_cache: bool, start: int = 0):
    """``range(start, start + n)`` for a decoding loop; from the second step on (with ``use_cache``) the loop body runs
    inside ``backend.limit_threads(DECODE_THREADS)``. Leaving the loop early (``break``) closes the
    generator and restores the pools."""
    if n <= 0:
        return
    yield start
    with backend.limit_threads(DECODE_THREADS if use_cache else None):
        yield from range(start + 1, start + n)
