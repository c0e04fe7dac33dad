"""Chapter 02 — Kernels, the walk-through. Run: python chapters/02_kernels/run.py [--fast] [--out DIR]"""
# %%
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
import time


import matplotlib.pyplot as plt
import numba
import numpy as np

import tinygrad_llm as tg
import tinygrad_llm.functional as F
from tinygrad_llm import backend, kernels
from tinygrad_llm.functional.softmax import softmax_forward
from tinygrad_llm.kernels import softmax as ksoftmax
from tinygrad_llm.kernels.fast_exp import exp as fast_exp
from tinygrad_llm.kernels.matmul import WINNER, bmm

from chapters.common import CHAPTERS, chapter_args

args = chapter_args("02_kernels", __doc__)
out = args.out
rng = np.random.default_rng(0)


def best_time(fn, budget=0.05 if args.fast else 0.3, repeats=3, cpu=False):
    """Fastest of ``repeats`` timings (wall seconds per call), each averaging enough calls to fill
    ``budget / repeats`` s; with ``cpu=True`` also the CPU seconds per call of that repeat (all threads).

    It first sleeps a moment: OpenBLAS workers keep spinning ~0.1 s after a call and would
    compete with whatever runs next (section 5 shows why that matters on 2 cores)."""
    time.sleep(0 if args.fast else 0.15)
    fn()                                                # compile / warm caches
    t0 = time.perf_counter()
    fn()
    number = max(1, int(budget / repeats / max(time.perf_counter() - t0, 1e-7)))
    best = (math.inf, math.inf)
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(number):
            fn()
        best = min(best, ((time.perf_counter() - t0) / number, (time.process_time() - c0) / number))
    return best if cpu else best[0]


info = kernels.threading_info()
args.results.record("threads", {"numba": info["numba_threads"], "layer": info["numba_layer_active"],
                                "blas": info["blas"]})
print("threading:", info)

# %% [markdown]
# ## 1. From C = AB to loops: the ladder, each rung equal to np.matmul
# %%
a = rng.standard_normal((37, 29)).astype(np.float32)
b = rng.standard_normal((29, 41)).astype(np.float32)
for f in (kernels.matmul_ijk, kernels.matmul_ikj, kernels.matmul_blocked):
    err = np.abs(f(a, b) - a @ b).max()
    print(f"{f.__name__:<15} max |C - numpy| = {err:.2e}")
    assert err < 1e-4

sizes = [32, 64] if args.fast else [64, 128, 256, 512, 1024]
rungs = {"ijk (naive)": kernels.matmul_ijk, "ikj + prange": kernels.matmul_ikj,
         "blocked + prange": kernels.matmul_blocked, "NumPy / OpenBLAS": np.matmul}
gflops = {name: [] for name in rungs}
for n in sizes:
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    for name, f in rungs.items():
        if name.startswith("ijk") and n > 512:
            gflops[name].append(np.nan)                  # minutes of waiting, nothing new to learn
            continue
        gflops[name].append(2 * n ** 3 / best_time(lambda: f(a, b)) / 1e9)
    print(f"n={n:5d} " + "  ".join(f"{k}: {v[-1]:6.1f}" for k, v in gflops.items()) + "  GFLOP/s")

args.results.record("matmul_gflops", {"n": sizes, **gflops})
fig, ax = plt.subplots(figsize=(6.4, 4))
for name, ys in gflops.items():
    ax.plot(sizes, ys, marker="o", label=name)
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("n  (C = A B, all n x n, float32)")
ax.set_ylabel("GFLOP/s  (2 n^3 / time)")
ax.set_title("Loop order and blocking, 2 cores")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
fig.tight_layout()
fig.savefig(out / "matmul_gflops.png", dpi=110)
ratio = gflops["blocked + prange"][sizes.index(256)] / gflops["NumPy / OpenBLAS"][sizes.index(256)] \
    if 256 in sizes else float("nan")
print(f"blocked / numpy at n=256: {ratio:.2f}")

# %% [markdown]
# ## 2. Many small matrices: the measured dispatch rule
# %%
bh = 8 if args.fast else 48
q = rng.standard_normal((bh, 64, 32)).astype(np.float32)
k = rng.standard_normal((bh, 64, 32)).astype(np.float32)
kt = k.swapaxes(-1, -2)                                 # K^T as a view, as attention makes it
t_blas = best_time(lambda: np.matmul(q, kt))
t_numba = best_time(lambda: bmm(q, kt))
kernels.matmul(q, kt)                                   # the first call of a shape runs the race
args.results.record("attention_race", {"shape": [bh, 64, 32], "blas_us": t_blas * 1e6, "numba_us": t_numba * 1e6,
                                       "pick": WINNER.get((bh, 64, 32, 64, q.dtype.str))})
print(f"Q K^T ({bh},64,32)@({bh},32,64): BLAS {t_blas * 1e6:.0f} us, Numba {t_numba * 1e6:.0f} us;"
      f" rule picks {WINNER.get((bh, 64, 32, 64, q.dtype.str), 'blas (no race: NUMBA_DISABLE_JIT is set)')}")

# %% [markdown]
# ## 3. Softmax: one pass per row, and its Jacobian-vector product
# %%
x = rng.standard_normal(7)
y = softmax_forward(x)
J = np.diag(y) - np.outer(y, y)                         # dy_i/dx_j = y_i (delta_ij - y_j)
g = rng.standard_normal(7)
vjp = kernels.softmax_backward(y[None], g[None])[0]     # never builds J
print("softmax VJP, kernel vs explicit Jacobian:", np.abs(vjp - J.T @ g).max())
assert np.allclose(vjp, J.T @ g)


def softmax_numpy(v):
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


shapes = [(256, 128), (64, 1024)] if args.fast else [(4096, 1024), (32768, 128)]
sm_rates = {}
for shape in shapes:
    v = rng.standard_normal(shape).astype(np.float32)
    assert np.allclose(kernels.softmax_forward(v), softmax_numpy(v), atol=1e-6)
    gb = 2 * v.nbytes / 1e9                               # read once + write once
    t_np, t_nb = best_time(lambda: softmax_numpy(v)), best_time(lambda: kernels.softmax_forward(v))
    sm_rates[str(shape)] = (gb / t_np, gb / t_nb)
    print(f"softmax {shape}: NumPy expression {gb / t_np:5.2f} GB/s, fused Numba {gb / t_nb:5.2f} GB/s,"
          f" ratio {t_np / t_nb:.2f}x")

args.results.record("softmax_gbs", {s: {"numpy": r[0], "numba": r[1]} for s, r in sm_rates.items()})
fig, ax = plt.subplots(figsize=(6.4, 3.6))
pos = np.arange(len(sm_rates))
ax.bar(pos - 0.2, [r[0] for r in sm_rates.values()], 0.4, label="NumPy: e = exp(x - max); e / sum(e)")
ax.bar(pos + 0.2, [r[1] for r in sm_rates.values()], 0.4, label="fused Numba kernel")
ax.set_xticks(pos, [f"softmax {s}" for s in sm_rates])
ax.set_ylabel("GB/s (bytes in + out / time)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out / "softmax_gbs.png", dpi=110)

# %% [markdown]
# ## 4. An exp that vectorises
# %%
# The error in ulp (units in the last place of the result's type) against the exact value, computed in a wider
# type: float64 for float32 results, NumPy's long double (64-bit mantissa on x86) for float64 ones.
wide = {np.float32: np.float64, np.float64: np.longdouble}
exp_ulp = {}
for dt in (np.float32, np.float64):
    if dt is np.float64 and np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant:
        continue                                        # no wider type on this platform
    v = rng.uniform(-80, 80, 1 << (12 if args.fast else 22)).astype(dt)
    exact = np.exp(v.astype(wide[dt]))
    ulp = np.spacing(exact.astype(dt)).astype(wide[dt])
    exp_ulp[np.dtype(dt).name] = {name: float(np.max(np.abs(f(v).astype(wide[dt]) - exact) / ulp))
                                  for name, f in (("fast_exp", fast_exp), ("np.exp", np.exp))}
args.results.record("exp_max_ulp", exp_ulp)
v = rng.uniform(-80, 80, 1 << (12 if args.fast else 22)).astype(np.float32)
print(f"max error in ulp: {exp_ulp};"
      f" float32 {v.nbytes * 2 / best_time(lambda: fast_exp(v)) / 1e9:.1f} GB/s vs np.exp"
      f" {v.nbytes * 2 / best_time(lambda: np.exp(v)) / 1e9:.1f} GB/s")

# %% [markdown]
# ## 5. Threads are not free: serial vs prange
# %%
row_counts = [4, 16, 64] if args.fast else [16, 64, 128, 256, 512, 1024, 4096]
serial, parallel, cpu_us = [], [], {"serial": [], "prange": []}
for r in row_counts:
    v = rng.standard_normal((r, 1024)).astype(np.float32)
    yv = np.empty_like(v)
    for name, times, f in (("serial", serial, ksoftmax._forward_serial),
                           ("prange", parallel, ksoftmax._forward_parallel)):
        wall, cpu = best_time(lambda: f(v, yv), cpu=True)
        times.append(wall * 1e6)
        cpu_us[name].append(cpu * 1e6)
    print(f"softmax ({r}, 1024): serial {serial[-1]:8.0f} us   prange {parallel[-1]:8.0f} us")
elems = [r * 1024 for r in row_counts]
# A parallel loop costs L to start, then P threads share the work: prange ~ L + serial / P. The smallest size
# gives L; the largest the serial time per element, so L is worth L / (per element) elements of one thread.
P = info["numba_threads"]
pool_us = parallel[0] - serial[0] / P
ns_per_element = serial[-1] * 1e3 / elems[-1]
faster = [e for e, s_, p_ in zip(elems, serial, parallel) if p_ < s_]
args.results.record("threads_crossover", {
    "elements": elems, "serial_us": serial, "prange_us": parallel, "cpu_us": cpu_us, "threads": P,
    "pool_start_us": pool_us,
    "serial_ns_per_element": ns_per_element, "pool_start_in_elements": pool_us * 1e3 / ns_per_element,
    "prange_faster_from": faster[0] if faster else None, "PARALLEL_MIN": ksoftmax.PARALLEL_MIN})
print(f"starting the pool: ~{pool_us:.0f} us, the serial time of {pool_us * 1e3 / ns_per_element:,.0f} elements;"
      f" prange is faster from {faster[0] if faster else 'none of the sizes'} elements on")
fig, ax = plt.subplots(figsize=(6.4, 3.6))
ax.loglog(elems, serial, marker="o", label="one thread")
ax.loglog(elems, parallel, marker="o", label="prange, 2 threads")
ax.axvline(ksoftmax.PARALLEL_MIN, color="gray", ls="--", label="PARALLEL_MIN")
ax.set_xlabel("elements (rows x 1024, float32)")
ax.set_ylabel("time (us)")
ax.set_title("Waking the thread pool costs ~100 us")
ax.legend()
fig.tight_layout()
fig.savefig(out / "parallel_crossover.png", dpi=110)

# %% [markdown]
# ## 6. The framework uses them: the same op on both paths
# %%
xt = tg.Tensor(rng.standard_normal((8, 16)).astype(np.float32), requires_grad=True)
results = {}
for on in (True, False):
    xt.zero_grad()
    with backend.use_kernels(on):
        loss = F.cross_entropy(F.layer_norm(xt, 16), np.arange(8) % 16)
        loss.backward()
    results[on] = (loss.item(), xt.grad.numpy().copy())
print("kernels on / off loss:", results[True][0], results[False][0],
      " max grad diff:", np.abs(results[True][1] - results[False][1]).max())
assert np.allclose(results[True][1], results[False][1], atol=1e-6)

# %% [markdown]
# ## 7. Debugging: NUMBA_DISABLE_JIT=1 turns every kernel back into Python
# %%
probe = ("import numpy as np; from tinygrad_llm.kernels.softmax import softmax_row, softmax_forward;"
         "print(type(softmax_row).__name__, float(softmax_forward(np.arange(4.0)).sum()))")
for flag in ("0", "1"):
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       env={**os.environ, "NUMBA_DISABLE_JIT": flag})
    print(f"NUMBA_DISABLE_JIT={flag}: softmax_row is a {r.stdout.strip()}")
    assert r.returncode == 0, r.stderr

# %% [markdown]
# ## 8. The benchmark of the chapter's tables: bench/kernels.py, against NumPy and PyTorch in one process
# A full run runs all of it (a few minutes); a fast run only its exp rows. The rows are recorded with the load
# average before and after, and the chapter's tables quote the recorded run.
# %%
bench = CHAPTERS.parent / "bench" / "kernels.py"
if not bench.is_file():
    print(f"skipping the benchmark: {bench} is not here (it ships with the repository, not the package)")
elif numba.config.DISABLE_JIT:
    print("skipping the benchmark: NUMBA_DISABLE_JIT is set, so it would time every kernel as Python loops")
else:
    with tempfile.TemporaryDirectory() as tmp:
        record = pathlib.Path(tmp) / "kernels.json"
        options = ["--quick", "--only", "exp"] if args.fast else ["--threading"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CHAPTERS.parent), os.environ.get("PYTHONPATH", "")])}
        r = subprocess.run([sys.executable, str(bench), *options, "--json", str(record)], capture_output=True,
                           text=True, env=env)
        print(r.stdout)
        assert r.returncode == 0, r.stderr[-2000:]
        args.results.record("bench", json.loads(record.read_text()))

args.results.record_run_time()                  # CPU seconds include the benchmark's process
print("chapter 02 done")
