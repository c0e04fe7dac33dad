"""Paired, interleaved timing for the benchmarks in bench/ (not a test, not part of the library).

Two contenders (ours and torch, or before and after) are timed in alternating rounds in one process:
round r runs ``per_round`` calls of A, then ``per_round`` calls of B (the order flips every round),
each call timed alone. Noise from other processes then falls on both, and the result is the median
of each side, its spread (the 25th-75th percentile range as a fraction of the median) and the ratio
of the medians. Each call's CPU time (``time.process_time``: all threads of the process) is kept
too: with one thread it barely moves when other processes take the cores, so on a shared machine the
CPU-time ratio of a 1-thread run is the steadier figure (with 2 threads it also counts spinning
workers, so read wall time there). Before each block we sleep ``SETTLE_S``: OpenBLAS and OpenMP workers spin for up to
~0.1 s after a call and would otherwise run against the next contender's threads; the first call of
each block (which wakes the pool again) is not kept.
"""
from __future__ import annotations

import os
import time

import numpy as np

SETTLE_S = 0.05


def load() -> str:
    """The 1-, 5- and 15-minute load averages and the core count, for the table's caption."""
    a, b, c = os.getloadavg()
    return f"load {a:.1f} / {b:.1f} / {c:.1f} on {os.cpu_count()} cores"


class Timing:
    def __init__(self, ts, cpu=None):
        self.ts = np.asarray(ts, dtype=np.float64)
        self.cpu_ts = np.asarray(cpu if cpu is not None else ts, dtype=np.float64)

    @property
    def cpu(self):
        """Median CPU seconds per call (all threads)."""
        return float(np.median(self.cpu_ts))

    @property
    def median(self):
        return float(np.median(self.ts))

    @property
    def spread(self):
        """Interquartile range over the median (0.05 = the middle half of the calls within 5 %)."""
        q1, q3 = np.percentile(self.ts, [25, 75])
        return float((q3 - q1) / self.median)


def interleaved(fns: dict, rounds: int = 10, per_round: int = 3, settle: float = SETTLE_S) -> dict:
    """{name: Timing} for each callable in ``fns``, timed in interleaved rounds (see the module doc)."""
    names = list(fns)
    ts = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            fn = fns[n]
            time.sleep(settle)
            fn()                                   # wakes this library's thread pool; not kept
            for _ in range(per_round):
                c, t = time.process_time(), time.perf_counter()
                fn()
                ts[n].append(time.perf_counter() - t)
                cpu[n].append(time.process_time() - c)
    return {n: Timing(ts[n], cpu[n]) for n in names}


def blas_info() -> str:
    """Which BLAS NumPy runs and with how many threads (threadpoolctl), e.g. 'openblas Haswell x2'."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "?"
    out = [f"{p.get('internal_api')} {p.get('architecture') or ''} x{p.get('num_threads')}".replace("  ", " ")
           for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(out) or "?"
