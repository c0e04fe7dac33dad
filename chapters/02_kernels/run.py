"""Chapter 02 — Kernels, the walk-through. Run: python chapters/02_kernels/run.py [--fast] [--out DIR]"""
# %%
import math
import os
import subprocess
import sys
import time


import matplotlib.pyplot as plt
import numpy as np

import tinygrad_llm as tg
import tinygrad_llm.functional as F
from tinygrad_llm import backend, kernels
from tinygrad_llm.functional.softmax import softmax_forward
from tinygrad_llm.kernels import softmax as ksoftmax
from tinygrad_llm.kernels.fast_exp import exp as fast_exp
from tinygrad_llm.kernels.matmul import WINNER, bmm

from chapters.common import chapter_args

args = chapter_args("02_kernels", __doc__)
out = args.out
rng = np.random.default_rng(0)


def best_time(fn, budget=0.05 if args.fast else 0.3, repeats=3):
    """Fastest of ``repeats`` timings, each averaging enough calls to fill ``budget / repeats`` s.

    It first sleeps a moment: OpenBLAS workers keep spinning ~0.1 s after a call and would
    compete with whatever runs next (section 5 shows why that matters on 2 cores)."""
    time.sleep(0 if args.fast else 0.15)
    fn()                                                # compile / warm caches
    t0 = time.perf_counter()
    fn()
    number = max(1, int(budget / repeats / max(time.perf_counter() - t0, 1e-7)))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


print("threading:", kernels.threading_info())

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
v = rng.uniform(-80, 80, 1 << (12 if args.fast else 22)).astype(np.float32)
ulp = np.abs(fast_exp(v).astype(np.float64) - np.exp(v.astype(np.float64))) \
    / np.spacing(np.exp(v.astype(np.float64)).astype(np.float32))
print(f"fast exp float32: max error {ulp.max():.2f} ulp;"
      f" {v.nbytes * 2 / best_time(lambda: fast_exp(v)) / 1e9:.1f} GB/s vs np.exp"
      f" {v.nbytes * 2 / best_time(lambda: np.exp(v)) / 1e9:.1f} GB/s")

# %% [markdown]
# ## 5. Threads are not free: serial vs prange
# %%
row_counts = [4, 16, 64] if args.fast else [16, 64, 128, 256, 512, 1024, 4096]
serial, parallel = [], []
for r in row_counts:
    v = rng.standard_normal((r, 1024)).astype(np.float32)
    yv = np.empty_like(v)
    serial.append(best_time(lambda: ksoftmax._forward_serial(v, yv)) * 1e6)
    parallel.append(best_time(lambda: ksoftmax._forward_parallel(v, yv)) * 1e6)
    print(f"softmax ({r}, 1024): serial {serial[-1]:8.0f} us   prange {parallel[-1]:8.0f} us")
fig, ax = plt.subplots(figsize=(6.4, 3.6))
elems = [r * 1024 for r in row_counts]
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
print("chapter 02 done")
