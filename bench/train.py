"""Train-step and generation speed of our GPT and LSTM LM against plain PyTorch models of the same
architecture (bench/torch_models.py): same initial weights, same batches, timed PAIRED and INTERLEAVED
in one process (bench/_paired.py), at 1 and at 2 threads (one child process per thread count, since
the thread counts must be set before NumPy and torch load).

    python bench/train.py                 # 1 and 2 threads, the full table (about 10 minutes on 2 quiet cores)
    python bench/train.py --quick         # fewer rounds, the small models only
    python bench/train.py --threads 2     # one setting, in this process
    python bench/train.py --big           # also GPT L8 H8 C512 T256 B4

Prints, per row, the median of each side, its spread (interquartile range / median), the ratio
ours / torch of the medians (time: lower is better; tokens/s: higher is better) and, for the GPT
train steps, the model FLOPs per second (6 N + 6 L T C per token, ``GPT.flops_per_token``) beside
the GEMM ceiling measured in the same run: NumPy's and torch's float32 GEMM on the model's MLP shape
(B*T, C) @ (C, 4C). The load average is printed with each table: on a shared machine the ratios are
what to read. Targets (issue 15): GPT train step <= 1.3x torch at GPT-S and <= 1.15x at L6 C384 T256,
LSTM-S step <= 1.5x nn.LSTM, GPT-S generation >= 1.0x torch's tokens/s with the KV cache and >= 0.8x
without.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--threads", default="1,2", help="thread counts, comma-separated (default 1,2)")
p.add_argument("--quick", action="store_true", help="fewer rounds; GPT-S, LSTM-S and generation only")
p.add_argument("--big", action="store_true", help="also GPT L8 H8 C512 T256 B4")
p.add_argument("--blas-threads", type=int, default=None, help="NumPy's BLAS threads (default: --threads)")
p.add_argument("--rounds", type=int, default=None, help="paired rounds per row (default 10, 4 with --quick; "
                                                        "L6 C384 and L8 C512 run 6 or fewer)")
args = p.parse_args()

if "," in args.threads:                   # the driver: one child per thread count, tables printed by each
    for n in args.threads.split(","):
        cmd = [sys.executable, __file__, "--threads", n] + (["--quick"] if args.quick else []) + \
              (["--big"] if args.big else []) + (["--rounds", str(args.rounds)] if args.rounds else [])
        subprocess.run(cmd, check=True)
    sys.exit(0)

THREADS = int(args.threads)
for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[k] = str(THREADS)
os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads or THREADS)

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _paired import blas_info, interleaved, load  # noqa: E402
from torch_models import TorchGPT, TorchLSTMLM, copy_weights  # noqa: E402

from tinygrad_llm import backend, optim  # noqa: E402
from tinygrad_llm.models.gpt import GPT, GPTConfig  # noqa: E402
from tinygrad_llm.models.lstm_lm import LSTMConfig, LSTMLM  # noqa: E402

torch.set_num_threads(THREADS)
ROUNDS = args.rounds or (4 if args.quick else 10)


def batches(V, B, T, n=64):
    rng = np.random.default_rng(0)
    return [(rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))) for _ in range(n)]


def train_steps(ours, theirs, data, loss_ours, loss_theirs):
    """One AdamW step (zero_grad, forward, backward, clip to norm 1, update) for each side."""
    opt = optim.AdamW(optim.param_groups_for_weight_decay(ours, 0.1), lr=1e-3)
    topt = torch.optim.AdamW([{"params": [p for p in theirs.parameters() if p.ndim >= 2], "weight_decay": 0.1},
                              {"params": [p for p in theirs.parameters() if p.ndim < 2], "weight_decay": 0.0}],
                             lr=1e-3)
    i = [0, 0]

    def step_ours():
        x, y = data[i[0] % len(data)]; i[0] += 1
        loss = loss_ours(x, y)
        opt.zero_grad(); loss.backward(); optim.clip_grad_norm_(ours.parameters(), 1.0); opt.step()

    def step_torch():
        x, y = data[i[1] % len(data)]; i[1] += 1
        loss = loss_theirs(torch.from_numpy(x), torch.from_numpy(y))
        topt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0); topt.step()
    return step_ours, step_torch


def gemm_ceiling(M, K, N):
    """GFLOP/s of NumPy's and torch's float32 GEMM (M, K) @ (K, N), interleaved."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((M, K), dtype=np.float32), rng.standard_normal((K, N), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    t = interleaved({"numpy": lambda: a @ b, "torch": lambda: ta @ tb}, rounds=ROUNDS, per_round=5)
    return 2 * M * K * N / t["numpy"].median / 1e9, 2 * M * K * N / t["torch"].median / 1e9


ROWS, NOTES = [], []


def add_row(name, t_ours, t_torch, unit="ms", work=None, ceiling=None):
    if unit == "ms":
        a, b = 1e3 * t_ours.median, 1e3 * t_torch.median
        ratio, cpu_ratio = a / b, t_ours.cpu / t_torch.cpu
        cells = (f"{a:.1f} ms ±{t_ours.spread:.0%}", f"{b:.1f} ms ±{t_torch.spread:.0%}")
    else:                                                  # work = tokens per call: tokens/s
        a, b = work / t_ours.median, work / t_torch.median
        ratio, cpu_ratio = a / b, t_torch.cpu / t_ours.cpu
        cells = (f"{a:.0f} tok/s ±{t_ours.spread:.0%}", f"{b:.0f} tok/s ±{t_torch.spread:.0%}")
    flops = ""
    if ceiling is not None:
        fl, (c_np, c_t) = ceiling
        flops = (f"{fl / t_ours.median / 1e9:.0f} / {fl / t_torch.median / 1e9:.0f} GFLOP/s "
                 f"(GEMM {c_np:.0f} / {c_t:.0f})")
    ROWS.append((name, *cells, f"{ratio:.2f}x", f"{cpu_ratio:.2f}x", flops))
    print(f"  {name}: {cells[0]} vs {cells[1]} -> {ratio:.2f}x (CPU time {cpu_ratio:.2f}x) {flops}", flush=True)


def bench_gpt(name, L, H, C, T, B, rounds=ROUNDS):
    backend.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=65, block_size=T, n_layer=L, n_head=H, n_embd=C))
    tgpt = copy_weights(gpt, TorchGPT(65, T, L, H, C))
    so, st = train_steps(gpt, tgpt, batches(65, B, T), lambda x, y: gpt(x, y)[1], lambda x, y: tgpt(x, y)[1])
    t = interleaved({"ours": so, "torch": st}, rounds=rounds, per_round=3)
    flops = gpt.flops_per_token() * B * T
    add_row(f"GPT {name} train step", t["ours"], t["torch"], ceiling=(flops, gemm_ceiling(B * T, C, 4 * C)))
    return gpt, tgpt


def main():
    header = (f"threads={THREADS} (BLAS {blas_info()}), torch {torch.__version__}, numpy {np.__version__}, "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}")
    print(header, "\n", load(), flush=True)
    load0 = load()
    gpt, tgpt = bench_gpt("S (L4 H4 C128, T64, B16)", 4, 4, 128, 64, 16)
    if not args.quick:
        bench_gpt("L6 H6 C384, T256, B8", 6, 6, 384, 256, 8, rounds=min(6, ROUNDS))
    if args.big:
        bench_gpt("L8 H8 C512, T256, B4", 8, 8, 512, 256, 4, rounds=min(6, ROUNDS))

    backend.manual_seed(0)
    lstm = LSTMLM(LSTMConfig(vocab_size=65, n_embd=64, hidden_size=256))
    tlstm = copy_weights(lstm, TorchLSTMLM(65, 64, 256))
    so, st = train_steps(lstm, tlstm, batches(65, 32, 64), lambda x, y: lstm(x, y)[2], lambda x, y: tlstm(x, y)[2])
    t = interleaved({"ours": so, "torch": st}, rounds=ROUNDS, per_round=3)
    add_row("LSTM-S (E64 H256, T64, B32) train step", t["ours"], t["torch"])

    prompt, n_new = np.array([[1]]), 200
    gpt.eval(); tgpt.eval()
    tprompt = torch.from_numpy(prompt)
    for use_cache in (True, False):
        t = interleaved({"ours": lambda: gpt.generate(prompt, n_new, use_cache=use_cache),
                         "torch": lambda: tgpt.generate(tprompt, n_new, use_cache=use_cache)},
                        rounds=max(3, ROUNDS // 2), per_round=1)
        add_row(f"GPT-S generate 200 tokens, {'KV cache' if use_cache else 'no cache'}", t["ours"], t["torch"],
                unit="tok/s", work=n_new)
    same = np.array_equal(gpt.generate(prompt, 50), tgpt.generate(tprompt, 50).numpy())

    print(f"\n{header}\n{load0} at the start, {load()} at the end")
    print("| benchmark | tinygrad_llm | torch | ratio | CPU-time ratio | model FLOP/s ours / torch (GEMM ceiling numpy / torch) |")
    print("|---|---|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")
    print("(±: interquartile range / median; train rows: time ratio ours/torch, lower is better; generation "
          "rows: throughput ratio ours/torch, higher is better; CPU-time ratio: the same from process CPU "
          "time, the steadier figure at 1 thread on a shared machine)")
    print(f"greedy tokens identical to torch's (50 new, float32): {same}")


if __name__ == "__main__":
    main()
