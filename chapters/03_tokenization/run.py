"""Chapter 03 — Tokenization: the walk-through.

Run: python chapters/03_tokenization/run.py [--fast] [--out DIR]
"""
# %%
import time
import unicodedata
from collections import Counter

import numpy as np

from tinygrad_llm.data import get_batch, load_shakespeare, train_val_split
from tinygrad_llm.data.corpus import play_titles
from tinygrad_llm.tokenizers import ByteLevelBPE, CharTokenizer, WordPiece, clean_text, gpt2, pretokenize, ucd
from tinygrad_llm.tokenizers.bpe import bytes_to_unicode
from tinygrad_llm.tokenizers.wordpiece import BasicTokenizer

import matplotlib.pyplot as plt

from chapters.common import chapter_args

args = chapter_args("03_tokenization", __doc__)
out, results = args.out, args.results            # results.json: the numbers the chapter text quotes

# %% [markdown]
# ## 1. The corpus and cleaning
# The corpus is Shakespeare's 42 texts (about 5 MB of ASCII). The last 10 % is held out: every
# "tokens per character" below is measured on text the tokenizer was not trained on.
# %%
text = load_shakespeare()
if args.fast:
    text = text[:200_000]
train_text, val_text = train_val_split(text, val_fraction=0.1)
print(f"corpus: {len(play_titles())} texts, {len(text):,} characters; train {len(train_text):,} / "
      f"validation {len(val_text):,}")
results.record("corpus", {"texts": len(play_titles()), "characters": len(text), "train": len(train_text),
                          "val": len(val_text)})

messy = "  Crème\u00a0brûlée\u200b costs\t$5 —\x07 ¡Olé!  "
print("raw:    ", repr(messy))
print("cleaned:", repr(clean_text(messy)))
print("uncased, no accents:", repr(clean_text(messy, lowercase=True, accents=False)))

# %% [markdown]
# ## 2. Characters, words, sub-words
# A character vocabulary is tiny and never meets an unknown symbol, but every character is a token.
# A word vocabulary makes short sequences but is huge, and new words are unknown (OOV).
# %%
char_tok = CharTokenizer.train(train_text, unk_token="<unk>")
print(f"characters: V = {char_tok.vocab_size}, tokens/char = 1.000 by construction")
results.record("characters", {"distinct": len(set(train_text)), "vocab_size": char_tok.vocab_size})

words_train = Counter(w.strip() for w in pretokenize(train_text) if w.strip())
words_val = [w.strip() for w in pretokenize(val_text) if w.strip()]
word_sizes = [100, 1000, 3000, 10000, 30000] if not args.fast else [100, 1000, 3000]
oov = {}
for k in word_sizes:
    vocab = {w for w, _ in words_train.most_common(k)}
    oov[k] = sum(w not in vocab for w in words_val) / len(words_val)
print(f"words: {len(words_train):,} distinct in training; validation OOV rate by vocabulary size:")
for k, r in oov.items():
    print(f"  top {k:>6,} words: {100 * r:5.2f} % of validation words are unknown")
print(f"words: {len(words_val) / len(val_text):.3f} tokens/char (pieces of the GPT-2 pattern, spaces dropped)")
results.record("words", {"distinct": len(words_train), "oov": oov})

# %% [markdown]
# ## 3. Byte-level BPE: learn merges
# Training repeatedly merges the most frequent adjacent pair. The merges of a smaller vocabulary are a
# prefix of the merges of a larger one, so one training run gives every size.
# %%
max_merges = 4000 if not args.fast else 300
t, c = time.perf_counter(), time.process_time()
bpe = ByteLevelBPE.train(train_text, vocab_size=256 + max_merges + 1)
train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
print(f"trained {len(bpe.merges)} merges in {train_s:.1f} s ({train_cpu:.1f} s of CPU time)")
b2u = bytes_to_unicode()
show = lambda tok: "".join(b2u[b] for b in tok)                                           # noqa: E731
print("first 12 merges:", ", ".join(f"{show(a)}+{show(b)}" for a, b in bpe.merges[:12]))
longest = sorted(bpe.vocab, key=lambda tok: (-len(tok), tok))[:6]                     # longest first, ties A-Z
print("longest tokens:", [show(t) for t in longest])
as_text = lambda tok: tok.decode("utf-8", errors="replace")                              # noqa: E731
results.record("bpe_training", {"merges": len(bpe.merges), "seconds": {"wall": train_s, "cpu": train_cpu},
                                "first_merges": [[as_text(a), as_text(b)] for a, b in bpe.merges[:12]],
                                "longest_tokens": [as_text(t) for t in longest]})


def bpe_with(n_merges):
    """The tokenizer after the first ``n_merges`` merges of the training run."""
    vocab = {bytes([i]): i for i in range(256)}
    for a, b in bpe.merges[:n_merges]:
        vocab.setdefault(a + b, len(vocab))
    return ByteLevelBPE(vocab, bpe.merges[:n_merges], {}, bpe.pattern)


merge_counts = [0, 100, 250, 500, 1000, 2000, 4000] if not args.fast else [0, 100, 300]
bpe_curve = []
for n in merge_counts:
    tok = bpe_with(n)
    bpe_curve.append((tok.vocab_size, len(tok.encode(val_text)) / len(val_text)))
    print(f"  BPE {tok.vocab_size:5d} tokens: {bpe_curve[-1][1]:.3f} tokens/char on validation")
results.record("bpe_curve", {"merges": merge_counts, "vocab_size": [v for v, _ in bpe_curve],
                             "tokens_per_char": [r for _, r in bpe_curve]})
sample = "Shall I compare thee to a summer's day?"
ids = bpe.encode(sample)
print(f"{sample!r} -> {[show(bpe.id_to_bytes[i]) for i in ids]}")
assert bpe.decode(ids) == sample

# %% [markdown]
# ## 4. GPT-2's tokenizer: the same engine with OpenAI's 50,000 merges
# %%
gpt2_point = None
try:
    g = gpt2()
    for s in ["Hello world", sample, "日本語 🙂"]:
        ids = g.encode(s)
        print(f"GPT-2 {s!r}: {ids} = {[show(g.id_to_bytes[i]) for i in ids]}")
    gpt2_point = (g.vocab_size, len(g.encode(val_text)) / len(val_text))
    print(f"GPT-2 on validation: {gpt2_point[1]:.3f} tokens/char")
    results.record("gpt2", {"vocab_size": g.vocab_size, "tokens_per_char": gpt2_point[1],
                            "tokens_of": {s: len(g.encode(s)) for s in ["日本語 🙂", "日"]}})
except FileNotFoundError as e:
    print(e)

# %% [markdown]
# The pre-tokenisation pattern asks whether a character is a letter (\p{L}) or a number (\p{N}). The answer
# depends on the Unicode version: count the code points on which Python's own tables and the pinned ones
# (Unicode 16.0, tiktoken's) disagree.
# %%
def letter_or_number(category):
    return [category(chr(o))[0] in "LN" for o in range(0x110000) if not ucd.is_surrogate(o)]


old, new = np.array(letter_or_number(unicodedata.category)), np.array(letter_or_number(ucd.category))
gained, lost = int((new & ~old).sum()), int((old & ~new).sum())
print(f"letters or numbers in the pinned Unicode {ucd.UNICODE_VERSION} but not in Python's "
      f"{unicodedata.unidata_version}: {gained:,} code points (and {lost} the other way round)")
results.record("unicode", {"python": unicodedata.unidata_version, "pinned": ucd.UNICODE_VERSION,
                           "letter_or_number_gained": gained, "letter_or_number_lost": lost})

# %% [markdown]
# ## 5. WordPiece: greedy longest match, and a vocabulary trained on the corpus
# %%
basic = BasicTokenizer()
print("basic tokenizer:", basic("Thou art more lovely, and more TEMPERATE!"))
wp_max = 4000 if not args.fast else 400
t, c = time.perf_counter(), time.process_time()
wp = WordPiece.train(train_text, vocab_size=wp_max)
wp_s, wp_cpu = time.perf_counter() - t, time.process_time() - c
print(f"trained a WordPiece vocabulary of {wp.vocab_size} in {wp_s:.1f} s ({wp_cpu:.1f} s of CPU time)")
pieces = {w: wp.tokenize(w) for w in ("unthinkably", "temperate")}
print("pieces:", wp.tokenize("Thou art more lovely and more temperate, unthinkably"))
full_vocab = [wp.itos[i] for i in range(wp.vocab_size)]
alphabet = sum(1 for tok in full_vocab if len(tok.replace("##", "")) == 1 or tok.startswith("["))
wp_sizes = sorted({alphabet, *[s for s in (250, 500, 1000, 2000, 4000) if alphabet < s <= wp_max]})
val_words = sum(1 for _ in basic(val_text))
wp_curve = []
for size in wp_sizes:
    tok = WordPiece(full_vocab[:size])
    n = len(tok.encode(val_text, add_special_tokens=False))
    wp_curve.append((size, n / len(val_text)))
    unk = tok.encode(val_text, add_special_tokens=False).count(tok.unk_id)
    print(f"  WordPiece {size:5d} tokens: {wp_curve[-1][1]:.3f} tokens/char, {unk} [UNK] "
          f"({n / val_words:.2f} pieces per word)")
results.record("wordpiece", {"vocab_size": wp.vocab_size, "seconds": {"wall": wp_s, "cpu": wp_cpu}, "pieces": pieces,
                             "curve": {"vocab_size": [v for v, _ in wp_curve],
                                       "tokens_per_char": [r for _, r in wp_curve]}})

# %% [markdown]
# ## 6. Vocabulary size vs sequence length
# %%
fig, ax = plt.subplots(1, 2, figsize=(11, 4))
ax[0].plot(*zip(*bpe_curve), "o-", label="byte-level BPE (trained here)")
ax[0].plot(*zip(*wp_curve), "s-", label="WordPiece (trained here; spaces dropped)")
ax[0].plot([char_tok.vocab_size], [1.0], "k^", label="characters")
if gpt2_point:
    ax[0].plot(*gpt2_point, "r*", markersize=12, label="GPT-2 (50,257; trained on web text)")
ax[0].set_xscale("log")
ax[0].set_xlabel("vocabulary size")
ax[0].set_ylabel("tokens per character (validation)")
ax[0].set_title("Bigger vocabulary, shorter sequences")
ax[0].grid(alpha=0.3)
ax[0].legend(loc="upper right", fontsize=8)
ax[1].plot(list(oov), [100 * r for r in oov.values()], "o-", color="C3")
ax[1].set_xscale("log")
ax[1].set_xlabel("word vocabulary size (most frequent training words)")
ax[1].set_ylabel("unknown validation words (%)")
ax[1].set_title("Word-level: the open-vocabulary problem")
ax[1].grid(alpha=0.3)
fig.tight_layout()
fig.savefig(out / "vocab_vs_tokens_per_char.png", dpi=110)
print(f"saved {out / 'vocab_vs_tokens_per_char.png'}")

# %% [markdown]
# ## 7. Encoding the corpus and cutting batches
# %%
ids = np.array(bpe.encode(train_text), dtype=np.int64)
train_ids, val_ids = train_val_split(ids, val_fraction=0.1)
x, y = get_batch(train_ids, batch_size=4, block_size=8, rng=np.random.default_rng(0))
print(f"encoded training text: {len(ids):,} ids (from {len(train_text):,} characters)")
results.record("encoded", {"characters": len(train_text), "ids": len(ids)})
print("x[0] =", x[0].tolist())
print("y[0] =", y[0].tolist(), "(x shifted by one)")
print("x[0] decodes to", repr(bpe.decode(x[0])))
results.record_run_time()
