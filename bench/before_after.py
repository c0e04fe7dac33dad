"""What a change bought: the library at a base revision against the working tree, paired and interleaved
in ONE process (bench/_paired.py), on the same weights and batches.

    python bench/before_after.py --base main~3                # GPT-S and LSTM-S steps, GPT-S generation
    python bench/before_after.py --base 6a49480 --threads 2 --what gpt-s,gpt-m

The base revision's ``tinygrad_llm/`` is exported with ``git archive`` into a temporary folder and
imported as the package ``tinygrad_llm_base`` (the library imports itself relatively), next to the
working tree's ``tinygrad_llm``. Prints median ms per step (or tokens/s) of each, the spread, the
ratio after / before from wall time and from CPU time (the steadier one at 1 thread on a shared
machine), and the load average.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import subprocess
import sys
import tempfile

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--base", required=True, help="git revision to compare against (e.g. main, HEAD~1, a hash)")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--what", default="gpt-s,lstm,gen", help="comma list: gpt-s, gpt-m (L6 C384 T256 B8), lstm, gen, "
                                                       "gen-nocache, adamw (AdamW.step alone on L6 C384's "
                                                       "parameters)")
p.add_argument("--rounds", type=int, default=8)
args = p.parse_args()
for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[k] = str(args.threads)

ROOT = pathlib.Path(__file__).resolve().parent.parent
tmp = tempfile.mkdtemp(prefix="tg_base_")
archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "tinygrad_llm"], check=True,
                         capture_output=True).stdout
subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
os.rename(os.path.join(tmp, "tinygrad_llm"), os.path.join(tmp, "tinygrad_llm_base"))
sys.path.insert(0, tmp)
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from _paired import blas_info, interleaved, load  # noqa: E402

new = importlib.import_module("tinygrad_llm")
old = importlib.import_module("tinygrad_llm_base")


def gpt_pair(lib, L, H, C, T):
    gpt_mod = importlib.import_module(f"{lib.__name__}.models.gpt")
    lib.backend.manual_seed(0)
    return gpt_mod.GPT(gpt_mod.GPTConfig(vocab_size=65, block_size=T, n_layer=L, n_head=H, n_embd=C))


def lstm_model(lib):
    m = importlib.import_module(f"{lib.__name__}.models.lstm_lm")
    lib.backend.manual_seed(0)
    return m.LSTMLM(m.LSTMConfig(vocab_size=65, n_embd=64, hidden_size=256))


def train_step(lib, model, data, loss_of):
    opt = lib.optim.AdamW(lib.optim.param_groups_for_weight_decay(model, 0.1), lr=1e-3)
    i = [0]

    def step():
        x, y = data[i[0] % len(data)]
        i[0] += 1
        loss = loss_of(model, x, y)
        opt.zero_grad()
        loss.backward()
        lib.optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def batches(B, T, n=16):
    rng = np.random.default_rng(0)
    return [(rng.integers(0, 65, (B, T)), rng.integers(0, 65, (B, T))) for _ in range(n)]


def report(name, t, unit="ms", work=None):
    b, a = t["before"], t["after"]
    if unit == "ms":
        cells = f"{1e3 * b.median:.1f} ms ±{b.spread:.0%} -> {1e3 * a.median:.1f} ms ±{a.spread:.0%}"
        r, rc = a.median / b.median, a.cpu / b.cpu
    else:
        cells = f"{work / b.median:.0f} tok/s ±{b.spread:.0%} -> {work / a.median:.0f} tok/s ±{a.spread:.0%}"
        r, rc = b.median / a.median, b.cpu / a.cpu
    print(f"| {name} | {cells} | {r:.2f}x | {rc:.2f}x |", flush=True)


def main():
    what = args.what.split(",")
    print(f"base {args.base} vs working tree; threads={args.threads} (BLAS {blas_info()}); {load()}")
    print("| workload | before -> after | after/before (wall) | after/before (CPU time) |\n|---|---|---|---|")
    gpt_loss = lambda m, x, y: m(x, y)[1]  # noqa: E731
    for key, (L, H, C, T, B) in (("gpt-s", (4, 4, 128, 64, 16)), ("gpt-m", (6, 6, 384, 256, 8))):
        if key in what:
            data = batches(B, T)
            steps = {"before": train_step(old, gpt_pair(old, L, H, C, T), data, gpt_loss),
                     "after": train_step(new, gpt_pair(new, L, H, C, T), data, gpt_loss)}
            report(f"GPT L{L} H{H} C{C} T{T} B{B} train step", interleaved(steps, args.rounds, 3))
    if "adamw" in what:
        steps = {}
        for k, lib in (("before", old), ("after", new)):
            m = gpt_pair(lib, 6, 6, 384, 256)
            for q in m.parameters():
                q.grad = lib.Tensor(np.random.default_rng(1).standard_normal(q.shape).astype(q.dtype) * 1e-3)
            steps[k] = lib.optim.AdamW(lib.optim.param_groups_for_weight_decay(m, 0.1), lr=1e-4).step
        report(f"AdamW.step, GPT L6 C384 ({sum(q.size for q in m.parameters()) / 1e6:.1f} M parameters)",
               interleaved(steps, args.rounds, 3))
    if "lstm" in what:
        data = batches(32, 64)
        lstm_loss = lambda m, x, y: m(x, y)[2]  # noqa: E731
        steps = {"before": train_step(old, lstm_model(old), data, lstm_loss),
                 "after": train_step(new, lstm_model(new), data, lstm_loss)}
        report("LSTM-S train step", interleaved(steps, args.rounds, 3))
    for key, cache in (("gen", True), ("gen-nocache", False)):
        if key in what:
            models = {"before": gpt_pair(old, 4, 4, 128, 64).eval(), "after": gpt_pair(new, 4, 4, 128, 64).eval()}
            prompt = np.array([[1]])
            fns = {k: (lambda m=m: m.generate(prompt, 200, use_cache=cache)) for k, m in models.items()}
            report(f"GPT-S generate 200 tokens, {'KV cache' if cache else 'no cache'}",
                   interleaved(fns, max(3, args.rounds // 2), 1), unit="tok/s", work=200)
    print(f"({load()} at the end)")


if __name__ == "__main__":
    main()
