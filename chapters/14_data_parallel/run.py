"""Chapter 14 — Data parallelism, the walk-through. Run: python chapters/14_data_parallel/run.py [--fast] [--out DIR]

Needs the distributed extra (mpi4py and the mpich wheel, which brings mpiexec): pip install -e '.[distributed]'.
The MPI parts run as `mpiexec -n N python chapters/14_data_parallel/measure.py ...`, started from here."""
# %%
import json  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from tinygrad_llm import backend  # noqa: E402
from tinygrad_llm.distributed import alpha_beta_time, find_mpiexec, fit_alpha_beta, predict_step  # noqa: E402
from tinygrad_llm.models import registry  # noqa: E402

from chapters.common import CHAPTERS, chapter_args  # noqa: E402

args = chapter_args("14_data_parallel", __doc__)    # a notebook has no __file__
out = args.out
HERE = CHAPTERS / "14_data_parallel"
ROOT = HERE.parents[1]
results = {"fast": args.fast, "load_before": os.getloadavg()}


def mpirun(n, what, path, threads=1, timeout=900):
    """measure.py under mpiexec with n ranks (n = 0: one plain process), `threads` BLAS/Numba threads each."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[k] = str(threads)
    cmd = [sys.executable, str(HERE / "measure.py"), what, str(path)] + (["--fast"] if args.fast else [])
    if n:
        cmd = [find_mpiexec(), "-n", str(n)] + cmd
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return json.loads(pathlib.Path(path).read_text())


# %% [markdown]
# ## 1. The average of per-rank gradients is the gradient of the global mean loss
# One process, float64: the gradient of the mean loss over a batch of 8, against the mean of the gradients of
# 4 shards of 2 (what 4 ranks would compute and allreduce).
# %%
with backend.default_dtype("float64"):
    backend.manual_seed(0)
    model = registry.build("gpt", "tiny", vocab_size=20, block_size=16)
rng = np.random.default_rng(0)
x, y = rng.integers(0, 20, (8, 16)), rng.integers(0, 20, (8, 16))


def grads(xb, yb):
    model.zero_grad()
    model(xb, yb)[1].backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


full = grads(x, y)
shards = [grads(x[2 * r:2 * r + 2], y[2 * r:2 * r + 2]) for r in range(4)]
mean = [sum(s[i] for s in shards) / 4 for i in range(len(full))]
identity_err = max(float(np.abs(a - b).max()) for a, b in zip(full, mean))
print(f"max |grad(mean loss over 8) - mean of 4 shard grads| = {identity_err:.2e}")
results["identity_max_abs_diff"] = identity_err

# %% [markdown]
# ## 2. Ring allreduce by hand, checked against MPI's Allreduce, and the allreduce timings
# %%
rank_counts = [2] if args.fast else [2, 4]
fits = {}
for n in rank_counts:
    res = mpirun(n, "allreduce", out / f"allreduce_{n}.json")
    chk = res["ring_check"]
    print(f"{n} ranks: ring vs MPI Allreduce max |diff| = {chk['max_abs_diff_vs_mpi']:.1e}; bytes sent per rank "
          f"{chk['bytes_sent']:,} = 2(N-1)/N*M = {chk['formula_bytes']:,.0f}")
    sizes = [r["bytes"] for r in res["timings"]]
    times = [r["median_s"] for r in res["timings"]]
    alpha, beta = fit_alpha_beta(sizes, times, n)
    fits[n] = {"alpha_s": alpha, "beta_Bps": beta, "timings": res["timings"], "ring_check": chk,
               "load": res["load"]}
    print(f"  fitted alpha = {alpha * 1e6:.1f} us, beta = {beta / 1e9:.2f} GB/s (load average {res['load'][0]:.1f})")
    for r in res["timings"]:
        pred = float(alpha_beta_time(r["bytes"], n, alpha, beta))
        print(f"  {r['bytes']:>10,} B  measured {r['median_s'] * 1e3:9.3f} ms   model {pred * 1e3:9.3f} ms")
results["allreduce"] = {str(n): f for n, f in fits.items()}

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 4))
for n, f in fits.items():
    M = np.array([r["bytes"] for r in f["timings"]])
    ax.loglog(M, [r["median_s"] for r in f["timings"]], "o", label=f"measured, {n} ranks")
    ax.loglog(M, alpha_beta_time(M, n, f["alpha_s"], f["beta_Bps"]), "-", label=f"alpha-beta fit, {n} ranks")
ax.set_xlabel("message size M (bytes)")
ax.set_ylabel("allreduce time (s)")
ax.legend()
fig.tight_layout()
fig.savefig(out / "alpha_beta.png", dpi=110)

# %% [markdown]
# ## 3. Training GPT-S: 1 rank x 2 threads against 2 ranks x 1 thread; communication with and without overlap
# %%
single = mpirun(0, "train", out / "train_1.json", threads=2)
single1 = mpirun(0, "train", out / "train_1x1.json", threads=1)
multi = mpirun(2, "train", out / "train_2.json", threads=1)
s, s1 = single["modes"]["single"], single1["modes"]["single"]
o, b = multi["modes"]["overlap"], multi["modes"]["blocking"]
print(f"{single['preset']} preset, global batch {single['batch']}: 1 rank x 2 threads {s['tokens_per_s']:,.0f} tok/s; "
      f"1 rank x 1 thread {s1['tokens_per_s']:,.0f} tok/s; 2 ranks x 1 thread {o['tokens_per_s']:,.0f} tok/s "
      f"(overlap), {b['tokens_per_s']:,.0f} tok/s (blocking)")
print(f"2 ranks: time in finish() per step {o['finish'] * 1e3:.1f} ms with overlap, {b['finish'] * 1e3:.1f} ms without; "
      f"backward {o['backward'] * 1e3:.1f} / {b['backward'] * 1e3:.1f} ms (MPI calls inside backward with overlap: "
      f"{o['mpi_in_backward'] * 1e3:.1f} ms)")
pred_local = float(alpha_beta_time(o["grad_bytes"], 2, fits[2]["alpha_s"], fits[2]["beta_Bps"]))
print(f"alpha-beta prediction for one allreduce of the {o['grad_bytes']:,} gradient bytes on 2 ranks: "
      f"{pred_local * 1e3:.2f} ms")
results["train"] = {"single": single, "single_1_thread": single1, "two_ranks": multi,
                    "predicted_allreduce_s": pred_local}

# %% [markdown]
# ## 4. On paper: N nodes like this machine on a network
# Compute per step and node $t_c = 6 P \cdot \text{tokens} / F$ with $F$ the FLOP/s measured above (1 rank x 2
# threads); gradients $M = 4P$ bytes in buckets of 25 MB; $t_{comm} = k\,2(N-1)\alpha + 2\frac{N-1}{N}M/\beta$;
# backward ($\approx 2/3$ of $t_c$) hides communication: step $= t_c + \max(0, t_{comm} - \frac23 t_c)$.
# %%
best = max(s["tokens_per_s"], s1["tokens_per_s"], o["tokens_per_s"], b["tokens_per_s"])   # the machine's best
F = 6 * s["params"] * best
print(f"measured compute of this machine: {F / 1e9:.2f} GFLOP/s (6 P x {best:,.0f} tok/s, the fastest of the "
      f"runs above, {single['preset']} preset)")
MODELS = {"GPT-S (cpu preset)": (registry.get("gpt").config("cpu", vocab_size=65), 16),
          "baby preset": (registry.get("gpt").config("baby", vocab_size=65), 64),
          "GPT-2 small": (registry.get("gpt").config("gpt2"), 8)}
NETS = {"10 Gbit/s": (50e-6, 10e9 / 8), "100 Gbit/s": (5e-6, 100e9 / 8)}       # stated: alpha (s), beta (B/s)
NODES = [8, 16, 32, 64]
table = []
for name, (cfg, B) in MODELS.items():
    with backend.default_dtype("float32"):
        P = registry.get("gpt").model_class(cfg).num_parameters()
    for net, (alpha, beta) in NETS.items():
        for N in NODES:
            pred = predict_step(P, B * cfg.block_size, F, N, alpha, beta)
            table.append({"model": name, "params": P, "tokens_per_node": B * cfg.block_size, "network": net,
                          "nodes": N, **pred})
results["prediction"] = {"flops_measured": F, "networks": {k: {"alpha_s": a, "beta_Bps": b} for k, (a, b) in NETS.items()},
                         "rows": table}
print(f"{'model':20s} {'net':10s} {'N':>3s} {'compute':>10s} {'comm':>9s} {'eff':>6s} {'comm hides up to':>17s}")
for r in table:
    print(f"{r['model']:20s} {r['network']:10s} {r['nodes']:3d} {r['compute_s']:9.3f}s {r['comm_s'] * 1e3:7.2f}ms "
          f"{r['efficiency']:6.1%} {r['break_even_flops'] / 1e12:12.2f} TFLOP/s")

# %%
results["load_after"] = os.getloadavg()
(out / "results.json").write_text(json.dumps(results, indent=1))
print(f"load average before {results['load_before'][0]:.1f}, after {results['load_after'][0]:.1f} (2 cores)")
