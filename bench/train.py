"""Train-step and generation speed of our GPT and LSTM LM against plain PyTorch models of the same
architecture (bench/torch_models.py), same initial weights, same batches, measured in this run.

    python bench/train.py [--threads 2] [--quick]

Prints median milliseconds per step (or tokens/s) and the ratio ours / torch (lower is better for
time, higher for throughput). Targets from issue 6: GPT-S step <= 1.2x torch, LSTM-S step <= 2.5x
torch nn.LSTM, cached generation >= 0.8x torch's tokens/s.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--quick", action="store_true", help="fewer repetitions")
p.add_argument("--blas-threads", type=int, default=None,
               help="NumPy's BLAS threads (default: --threads); 1 is much faster when other processes share the cores")
args = p.parse_args()
for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[k] = str(args.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads or args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_models import TorchGPT, TorchLSTMLM, copy_weights  # noqa: E402

from tinygrad_llm import backend, optim  # noqa: E402
from tinygrad_llm.models.gpt import GPT, GPTConfig  # noqa: E402
from tinygrad_llm.models.lstm_lm import LSTMConfig, LSTMLM  # noqa: E402

torch.set_num_threads(args.threads)
REPS = 10 if args.quick else 30
WARM = 3 if args.quick else 5


def median_ms(step, reps=REPS, warm=WARM):
    for _ in range(warm):
        step()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


def batches(V, B, T, n=64):
    rng = np.random.default_rng(0)
    return [(rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))) for _ in range(n)]


def bench_train(name, ours, theirs, data, loss_ours, loss_theirs):
    opt = optim.AdamW(optim.param_groups_for_weight_decay(ours, 0.1), lr=1e-3)
    topt = torch.optim.AdamW([{"params": [p for p in theirs.parameters() if p.ndim >= 2], "weight_decay": 0.1},
                              {"params": [p for p in theirs.parameters() if p.ndim < 2], "weight_decay": 0.0}], lr=1e-3)
    i = [0, 0]

    def step_ours():
        x, y = data[i[0] % len(data)]; i[0] += 1
        loss = loss_ours(x, y)
        opt.zero_grad(); loss.backward(); optim.clip_grad_norm_(ours.parameters(), 1.0); opt.step()

    def step_torch():
        x, y = data[i[1] % len(data)]; i[1] += 1
        loss = loss_theirs(torch.from_numpy(x), torch.from_numpy(y))
        topt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0); topt.step()

    a, b = median_ms(step_ours), median_ms(step_torch)
    return (f"{name} train step", f"{a:.1f} ms", f"{b:.1f} ms", a / b)


def main():
    rows = []
    backend.manual_seed(0)
    cfg = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
    gpt = GPT(cfg)
    tgpt = copy_weights(gpt, TorchGPT(65, 64, 4, 4, 128))
    rows.append(bench_train("GPT-S (L4 H4 C128, T64, B16)", gpt, tgpt, batches(65, 16, 64),
                            lambda x, y: gpt(x, y)[1], lambda x, y: tgpt(x, y)[1]))

    lstm = LSTMLM(LSTMConfig(vocab_size=65, n_embd=64, hidden_size=256))
    tlstm = copy_weights(lstm, TorchLSTMLM(65, 64, 256))
    rows.append(bench_train("LSTM-S (E64 H256, T64, B32)", lstm, tlstm, batches(65, 32, 64),
                            lambda x, y: lstm(x, y)[2], lambda x, y: tlstm(x, y)[2]))

    prompt = np.array([[1]])
    n_new = 200
    gpt.eval(); tgpt.eval()
    for use_cache in (False, True):
        ta = median_ms(lambda: gpt.generate(prompt, n_new, use_cache=use_cache), reps=3, warm=1) / 1e3
        tb = median_ms(lambda: tgpt.generate(torch.from_numpy(prompt), n_new, use_cache=use_cache), reps=3, warm=1) / 1e3
        ra, rb = n_new / ta, n_new / tb
        rows.append((f"GPT-S generate 200 tok, {'KV cache' if use_cache else 'no cache'}", f"{ra:.0f} tok/s",
                     f"{rb:.0f} tok/s", ra / rb))
    same = np.array_equal(gpt.generate(prompt, 50), tgpt.generate(torch.from_numpy(prompt), 50).numpy())

    print(f"threads={args.threads}, BLAS threads={os.environ['OPENBLAS_NUM_THREADS']}, torch {torch.__version__}, numpy {np.__version__}")
    print(f"| benchmark | tinygrad_llm | torch | ratio (ours/torch) |\n|---|---|---|---|")
    for name, a, b, r in rows:
        print(f"| {name} | {a} | {b} | {r:.2f}x |")
    print("(train rows: time ratio, lower is better; generation rows: throughput ratio, higher is better)")
    print(f"greedy tokens identical to torch's (50 new, float32): {same}")


if __name__ == "__main__":
    main()
