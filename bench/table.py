"""The bench table of docs/performance.md in one command (about 10 minutes on 2 quiet cores):

    python bench/table.py              # writes bench/results/table.txt as well as printing it
    python bench/table.py --fast       # fewer rounds (a smoke run, a few minutes)

Runs, each in its own process and each paired and interleaved against its reference:
``bench/train.py`` at 1 and 2 threads (GPT-S and GPT L6 C384 train steps with model GFLOP/s beside
the GEMM ceiling, LSTM-S train step, GPT-S generation with and without the KV cache, against
PyTorch), ``bench/smollm2.py`` (SmolLM2-135M decoding and prefill against transformers at 1 and 2
threads and with a busy core), ``bench/tokenizers.py --paragraphs`` (GPT-2 BPE one call per
paragraph against tiktoken, and the first pass of a fresh tokenizer against a warm one) and
``bench/kernels.py --only matmul --quick`` (the teaching matmul ladder against NumPy). Every part
prints the load average with its numbers; run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="fewer rounds")
    ap.add_argument("--out", default=str(HERE / "results" / "table.txt"))
    args = ap.parse_args()
    r = ["--rounds", "3"] if args.fast else ["--rounds", "6"]
    parts = [
        ("train.py", [str(HERE / "train.py"), "--threads", "1,2"] + r),
        ("smollm2.py", [str(HERE / "smollm2.py"), "--rounds", "2" if args.fast else "3"]),
        ("tokenizers.py", [str(HERE / "tokenizers.py"), "--paragraphs", "--rounds", "2" if args.fast else "3"]),
        ("kernels.py", [str(HERE / "kernels.py"), "--only", "matmul", "--quick"]),
    ]
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    with out.open("w") as f:
        for name, cmd in parts:
            head = f"\n===== bench/{name} {' '.join(cmd[1:])} ({time.strftime('%Y-%m-%d %H:%M:%S')})\n"
            print(head, end="", flush=True)
            f.write(head)
            p = subprocess.Popen([sys.executable] + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 env=env)
            for line in p.stdout:
                if "Warning" in line or line.startswith("  warnings.warn") or "it/s]" in line:
                    continue
                print(line, end="", flush=True)
                f.write(line)
            if p.wait():
                f.write(f"(bench/{name} exited with {p.returncode})\n")
        f.write(f"\nwhole table: {time.perf_counter() - t0:.0f} s\n")
    print(f"\nwhole table: {time.perf_counter() - t0:.0f} s; written to {out}")


if __name__ == "__main__":
    main()
