"""Kernel benchmarks: Numba kernels vs NumPy vs PyTorch CPU, measured in the same process run.

    python bench/kernels.py              # everything (a few minutes on 2 cores)
    python bench/kernels.py --quick      # fewer repeats, smaller sizes skipped
    python bench/kernels.py --threading  # also: BLAS next to an `omp` vs a `workqueue` Numba pool
    python bench/kernels.py --json F     # also write every row (rates, ratios, wall and CPU seconds per call,
                                         # the load average before and after) to the JSON file F

The full walk-through of chapter 02 (`python chapters/02_kernels/run.py`) runs ``--threading --json`` and
records the rows with its own numbers; the chapter's tables quote that record.

Prints GFLOP/s (matmul) or GB/s (memory-bound ops: bytes read + written once) and the ratio of
each Numba kernel to NumPy and to torch (``torch.set_num_threads(2)``). Best of several runs.
Not a test. If OPENBLAS_CORETYPE is set in the environment it pins OpenBLAS to an older kernel;
the header prints which kernel OpenBLAS actually runs (threadpoolctl), so read the numbers with it.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import subprocess
import sys
import time

from types import SimpleNamespace

import numpy as np

from tinygrad_llm import kernels as K
from tinygrad_llm.functional._dispatch import ROUTES
from tinygrad_llm.kernels.fast_exp import exp as fast_exp
from tinygrad_llm.kernels.matmul import bmm

kmm = importlib.import_module("tinygrad_llm.kernels.matmul")   # the module (K.matmul is the function)
R = SimpleNamespace(**{name: route.reference for name, route in ROUTES.items()})   # each kernel's reference

try:
    import torch
    torch.set_num_threads(2)
except ImportError:  # the bench still runs, with the torch column empty
    torch = None


SETTLE_S = 0.15   # OpenBLAS and OpenMP workers keep spinning for up to ~0.1 s after a call


def best_times(fns, min_time=0.2, rounds=5):
    """Time several functions in interleaved rounds and keep each one's fastest round: {name: (wall seconds
    per call, CPU seconds per call of the whole process in that round)}, or None for a missing contender.

    Interleaving spreads noise from other processes on the two cores over all contenders. Before
    each timed chunk we sleep ``SETTLE_S`` so the thread pool of the previous library (OpenBLAS,
    torch's OpenMP, Numba) has gone to sleep instead of competing for the cores, then make one
    untimed call so the pool of the library being timed is awake.
    """
    number = {}
    for name, fn in fns.items():
        if fn is None:
            continue
        fn()
        t0 = time.perf_counter()
        fn()
        number[name] = max(1, int(min_time / rounds / max(time.perf_counter() - t0, 1e-7)))
    best = {name: (math.inf, math.inf) for name in number}
    for _ in range(rounds):
        for name in number:
            fn = fns[name]
            time.sleep(SETTLE_S)
            fn()
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(number[name]):
                fn()
            wall, cpu = (time.perf_counter() - t0) / number[name], (time.process_time() - c0) / number[name]
            if wall < best[name][0]:
                best[name] = (wall, cpu)
    return {name: best.get(name) for name in fns}


ROWS = []          # one dict per printed row, what --json writes
WINNERS = {}       # the dispatch rule's pick for each attention shape it raced
THREADING = []     # the --threading rows


def compare(name, unit, work, numba_fn, numpy_fn, torch_fn=None, min_time=0.2, rounds=5):
    """Time the three contenders interleaved (see best_times) and print one row."""
    t = best_times({"numba": numba_fn, "numpy": numpy_fn, "torch": torch_fn if torch else None},
                   min_time, rounds)
    row(name, unit, work, t["numba"], t["numpy"], t["torch"])


def row(name, unit, work, t_numba, t_numpy, t_torch):
    """One row from the (wall, CPU) seconds per call of each contender (t_torch None without torch)."""
    rate = lambda t: work / t[0] / 1e9 if t else float("nan")  # noqa: E731
    r_np = t_numpy[0] / t_numba[0]
    r_t = t_torch[0] / t_numba[0] if t_torch else float("nan")
    ROWS.append({"case": name, "unit": f"{unit}/s", "numba": rate(t_numba), "numpy": rate(t_numpy),
                 "torch": rate(t_torch) if t_torch else None, "vs_numpy": r_np, "vs_torch": r_t if t_torch else None,
                 "seconds_per_call": {k: {"wall": t[0], "cpu": t[1]} for k, t in
                                      (("numba", t_numba), ("numpy", t_numpy), ("torch", t_torch)) if t}})
    print(f"{name:<44} {unit:>6} {rate(t_numba):9.2f} {rate(t_numpy):9.2f} {rate(t_torch):9.2f}"
          f" {r_np:8.2f}x {r_t:8.2f}x", flush=True)


def header(title):
    print(f"\n## {title}")
    print(f"{'case':<44} {'unit':>6} {'numba':>9} {'numpy':>9} {'torch':>9} {'vs numpy':>9} {'vs torch':>9}")


def tt(x):
    return torch.from_numpy(x) if torch is not None else None


def bench_matmul(quick):
    header("matmul float32: C = A B, GFLOP/s = 2 n^3 / t")
    rng = np.random.default_rng(0)
    for n in (64, 256, 512, 1024):
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        ta, tb = tt(a), tt(b)
        flop = 2 * n ** 3
        np_fn, to_fn = (lambda: a @ b), (lambda: torch.mm(ta, tb))
        if n <= (128 if quick else 256):
            compare(f"ijk naive n={n}", "GFLOP", flop, lambda: K.matmul_ijk(a, b), np_fn, to_fn, rounds=2)
        compare(f"ikj prange n={n}", "GFLOP", flop, lambda: K.matmul_ikj(a, b), np_fn, to_fn, rounds=3)
        compare(f"blocked n={n}", "GFLOP", flop, lambda: K.matmul_blocked(a, b), np_fn, to_fn)
        compare(f"dispatch kernels.matmul n={n} (-> BLAS)", "GFLOP", flop, lambda: K.matmul(a, b), np_fn, to_fn)


def bench_attention(quick):
    header("batched attention matmuls float32, (B*H, T, hs) with T=64, hs=32")
    rng = np.random.default_rng(1)
    for bh in ((48,) if quick else (16, 48, 96)):
        q = rng.standard_normal((bh, 64, 32), dtype=np.float32)
        k = rng.standard_normal((bh, 64, 32), dtype=np.float32)
        v = rng.standard_normal((bh, 64, 32), dtype=np.float32)
        p = rng.standard_normal((bh, 64, 64), dtype=np.float32)
        kt = k.swapaxes(-1, -2)                                        # (BH, hs, T) view
        tq, tkt, tp, tv = tt(q), tt(kt), tt(p), tt(v)
        flop = 2 * bh * 64 * 64 * 32
        compare(f"Q K^T (BH={bh}) (BH,64,32)@(BH,32,64)", "GFLOP", flop, lambda: bmm(q, kt),
                lambda: np.matmul(q, kt), lambda: torch.bmm(tq, tkt))
        compare(f"P V   (BH={bh}) (BH,64,64)@(BH,64,32)", "GFLOP", flop, lambda: bmm(p, v),
                lambda: np.matmul(p, v), lambda: torch.bmm(tp, tv))
        np.testing.assert_allclose(K.matmul(q, kt), q @ kt, atol=1e-4)      # runs the race
        key = (bh, 64, 32, 64, q.dtype.str)
        WINNERS[f"Q K^T (BH={bh})"] = kmm.WINNER[key]
        print(f"{'  kernels.matmul rule picks for Q K^T:':<44} {kmm.WINNER[key]}")


def bench_linear_gelu(quick):
    header("linear + bias + gelu float32, y = gelu(x W^T + b), GFLOP/s of the GEMM")
    rng = np.random.default_rng(2)
    for n, din, dout in ((1024, 256, 1024),) if quick else ((1024, 256, 1024), (4096, 128, 512)):
        x = rng.standard_normal((n, din), dtype=np.float32)
        w = rng.standard_normal((dout, din), dtype=np.float32) / 16
        b = rng.standard_normal(dout, dtype=np.float32)
        flop = 2 * n * din * dout
        tx, tw, tb = tt(x), tt(w), tt(b)
        for ap in ("none", "tanh"):
            compare(f"linear_bias_gelu {ap:<4} ({n},{din})->{dout}", "GFLOP", flop,
                    lambda: K.linear_bias_gelu(x, w, b, ap), lambda: R.linear_bias_gelu(x, w, b, ap),
                    lambda: torch.nn.functional.gelu(torch.nn.functional.linear(tx, tw, tb), approximate=ap))


def softmax_numpy(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def bench_softmax(quick):
    header("softmax / cross-entropy / gelu / layer_norm float32 (last axis), GB/s = bytes in+out / t")
    rng = np.random.default_rng(3)
    for shape in ((4096, 1024), (32768, 128)):
        x = rng.standard_normal(shape, dtype=np.float32)
        g = rng.standard_normal(shape, dtype=np.float32)
        y = softmax_numpy(x)
        tx, ty, tg = tt(x), tt(y), tt(g)
        nbytes = 2 * x.nbytes
        compare(f"softmax fwd {shape}", "GB", nbytes, lambda: K.softmax_forward(x),
                lambda: softmax_numpy(x), lambda: torch.softmax(tx, -1))
        compare(f"softmax bwd {shape}", "GB", 3 * x.nbytes, lambda: K.softmax_backward(y, g),
                lambda: R.softmax_backward(y, g),
                lambda: torch._softmax_backward_data(tg, ty, -1, torch.float32))
        t = rng.integers(0, shape[1], shape[0])
        t_t = torch.from_numpy(t) if torch else None
        compare(f"cross_entropy fwd {shape}", "GB", x.nbytes, lambda: K.cross_entropy_forward(x, t),
                lambda: R.cross_entropy_forward(x, t), lambda: torch.nn.functional.cross_entropy(tx, t_t))
        compare(f"gelu tanh fwd {shape}", "GB", nbytes, lambda: K.gelu_forward(x, "tanh"),
                lambda: R.gelu_forward(x, "tanh"), lambda: torch.nn.functional.gelu(tx, approximate="tanh"))
        compare(f"gelu erf fwd {shape}", "GB", nbytes, lambda: K.gelu_forward(x),
                lambda: R.gelu_forward(x), lambda: torch.nn.functional.gelu(tx))
        w = rng.standard_normal(shape[1], dtype=np.float32)
        bb = rng.standard_normal(shape[1], dtype=np.float32)
        tw, tbb = tt(w), tt(bb)
        compare(f"layer_norm fwd {shape}", "GB", nbytes, lambda: K.layer_norm_forward(x, w, bb),
                lambda: R.layer_norm_forward(x, w, bb),
                lambda: torch.nn.functional.layer_norm(tx, (shape[1],), tw, tbb))
        _, mean, rstd = K.layer_norm_forward(x, w, bb)
        if torch:
            xr = tx.clone().requires_grad_(True)
            out_t = torch.nn.functional.layer_norm(xr, (shape[1],), tw, tbb)

        def torch_ln_backward():
            torch.autograd.grad(out_t, xr, tg, retain_graph=True)
        compare(f"layer_norm bwd {shape}", "GB", 3 * x.nbytes, lambda: K.layer_norm_backward(x, w, mean, rstd, g),
                lambda: R.layer_norm_backward(x, w, mean, rstd, g), torch_ln_backward)
        if quick:
            break


def bench_lstm(quick):
    header("LSTM cell gates and state update float32, B=32 H=256 (one step of chapter 05's model), "
           "GB/s = bytes in+out / t")
    rng = np.random.default_rng(5)
    B, H = 32, 256
    z = (3 * rng.standard_normal((B, 4 * H))).astype(np.float32)
    c = rng.standard_normal((B, H), dtype=np.float32)
    gh, gc = (rng.standard_normal((B, H), dtype=np.float32) for _ in range(2))
    a, _, tc = R.lstm_cell_forward(z, c)
    # no torch column: torch fuses the cell inside its LSTM layer, not as a separate op
    compare("lstm cell fwd (32, 1024)", "GB", 4 * B * 11 * H, lambda: K.lstm_cell_forward(z, c),
            lambda: R.lstm_cell_forward(z, c))
    compare("lstm cell bwd (32, 1024)", "GB", 4 * B * 13 * H, lambda: K.lstm_cell_backward(a, c, tc, gh, gc),
            lambda: R.lstm_cell_backward(a, c, tc, gh, gc))


def bench_exp(quick):
    header("exp float32 / float64, 4M elements, GB/s = bytes in+out / t")
    rng = np.random.default_rng(4)
    for dt in (np.float32, np.float64):
        x = rng.uniform(-20, 20, 1 << 22).astype(dt)
        tx = tt(x)
        compare(f"exp {np.dtype(dt).name} (fast_exp vs np.exp)", "GB", 2 * x.nbytes, lambda: fast_exp(x),
                lambda: np.exp(x), lambda: torch.exp(tx))


# ----------------------------------------------------------------------------- threading
_PROBE = r"""
import os, sys, time, numpy as np, numba
layer = sys.argv[1]
os.environ["NUMBA_THREADING_LAYER"] = layer
numba.config.THREADING_LAYER = layer
from tinygrad_llm.kernels.softmax import _forward_parallel
a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
x = np.random.default_rng(1).standard_normal((256, 1024), dtype=np.float32)
y = np.empty_like(x)
softmax_forward = lambda x: _forward_parallel(x, y)
softmax_forward(x)
a @ a
def gemm():
    t = time.perf_counter(); a @ a; return 2 * 1024 ** 3 / (time.perf_counter() - t) / 1e9
alone = max(gemm() for _ in range(10))
mixed = []
for _ in range(10):
    softmax_forward(x)          # a parallel Numba kernel ...
    mixed.append(gemm())        # ... and right after it a BLAS GEMM
t = time.perf_counter()
for _ in range(200):
    softmax_forward(x)
launch = (time.perf_counter() - t) / 200 * 1e6
print(f"{numba.threading_layer()} {alone:.1f} {max(mixed):.1f} {np.median(mixed):.1f} {launch:.0f}")
"""


def bench_threading():
    print("\n## threading: float32 GEMM n=1024 right after a parallel Numba kernel (GFLOP/s)")
    print(f"{'layer':<10} {'GEMM alone':>10} {'after numba best':>17} {'median':>8} {'softmax(256x1024) us':>21}")
    for layer in ("omp", "workqueue"):
        out = subprocess.run([sys.executable, "-c", _PROBE, layer], capture_output=True, text=True,
                             env={**os.environ, "NUMBA_THREADING_LAYER": layer})
        if out.returncode:
            print(f"{layer:<10} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        name, alone, best, med, launch = out.stdout.split()
        THREADING.append({"layer": name, "gemm_alone": float(alone), "gemm_after_numba_best": float(best),
                          "gemm_after_numba_median": float(med), "softmax_us": float(launch)})
        print(f"{name:<10} {alone:>10} {best:>17} {med:>8} {launch:>21}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes")
    ap.add_argument("--threading", action="store_true", help="also compare Numba threading layers")
    ap.add_argument("--only", default="", help="comma list: matmul,attention,linear,softmax,lstm,exp")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    load_before, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    info = K.threading_info()
    print(f"numpy {np.__version__}, torch {torch.__version__ if torch else '-'}, numba threads "
          f"{info['numba_threads']} (layer {info['numba_layer_requested']}), BLAS {info['blas']}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}, "
          f"load {load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} on {os.cpu_count()} cores")
    parts = {"matmul": bench_matmul, "attention": bench_attention, "linear": bench_linear_gelu,
             "softmax": bench_softmax, "lstm": bench_lstm, "exp": bench_exp}
    for name, fn in parts.items():
        if not args.only or name in args.only.split(","):
            fn(args.quick)
    if args.threading:
        bench_threading()
    print(f"\nnumba threading layer in use: {K.threading_info()['numba_layer_active']}")
    if args.json:
        record = {"command": ["bench/kernels.py", *(argv if argv is not None else sys.argv[1:])],
                  "numpy": np.__version__, "torch": torch.__version__ if torch else None, "blas": info["blas"],
                  "numba_threads": info["numba_threads"], "numba_layer": K.threading_info()["numba_layer_active"],
                  "cpus": os.cpu_count(), "cpu_model": _cpu_model(),
                  "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
                  "seconds": {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0},
                  "rows": ROWS, "attention_rule_picks": WINNERS, "threading": THREADING}
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=1)
            fh.write("\n")
        print(f"rows written to {args.json}")


def _cpu_model() -> str | None:
    """The processor's name as the OS reports it (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), None)
    except OSError:
        return None


if __name__ == "__main__":
    main()
