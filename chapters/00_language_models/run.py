"""Chapter 00 — What a language model is: the walk-through.

Run: python chapters/00_language_models/run.py [--fast] [--out DIR]
"""
# %%
import math
import time

import numpy as np

from tinygrad_llm.metrics.perplexity import perplexity
from tinygrad_llm.models.ngram import NGramLM

import matplotlib.pyplot as plt

from chapters.common import chapter_args

args = chapter_args("00_language_models", __doc__)
out, results = args.out, args.results            # results.json: the numbers the chapter text quotes

# %% [markdown]
# ## 1. Text becomes integers
# A language model works on token ids. Here a token is one character, so the vocabulary is the sorted set
# of characters of the corpus (the complete works of Shakespeare, about 5 MB) and a character's id is its
# position in that list.
# %%
from tinygrad_llm.data.corpus import load_shakespeare, train_val_split
from tinygrad_llm.tokenizers.char import CharTokenizer

text = load_shakespeare()
if args.fast:
    text = text[:300_000]
tok = CharTokenizer.train(text)                 # vocabulary = sorted(set(text)), id = position


def encode(s: str) -> np.ndarray:
    return np.array(tok.encode(s), dtype=np.int64)


def decode(ids) -> str:
    return tok.decode([int(i) for i in ids])


ids = encode(text)
train_ids, val_ids = train_val_split(ids, val_fraction=0.1)
V = tok.vocab_size
print(f"corpus: {len(text):,} characters, vocabulary V = {V}, train {len(train_ids):,} / val {len(val_ids):,}")
results.record("corpus", {"characters": len(text), "vocab_size": V, "train": len(train_ids), "val": len(val_ids)})
print("encode('To be') =", encode("To be").tolist(), "-> decode:", repr(decode(encode("To be"))))

# %% [markdown]
# ## 2. The chain rule: a sequence's probability is a product of next-token probabilities
# $P(w_1..w_T) = \prod_t P(w_t | w_{<t})$. A trigram model looks at the last two characters only.
# %%
tri = NGramLM(3, V, smoothing="kneser_ney").fit(train_ids)
phrase = "To be, or not"
log_p = tri.log_prob_sequence(encode(phrase))
for c, lp in zip(phrase, log_p):
    print(f"  P({c!r:5} | previous two chars) = {math.exp(lp):.4f}")
print(f"log P({phrase!r}) = {log_p.sum():.3f}  (sum of the log-probabilities above)")
scrambled = "".join(sorted(phrase))
log_p_scrambled = tri.log_prob_sequence(encode(scrambled))
print(f"log P({scrambled!r}) = {log_p_scrambled.sum():.3f}  (same letters, less likely)")
results.record("phrase", {"text": phrase, "p": np.exp(log_p), "log_p": log_p.sum(), "scrambled": scrambled,
                          "log_p_scrambled": log_p_scrambled.sum()})

# %% [markdown]
# ## 3. The autoregressive loop: predict a distribution, choose, append, repeat
# %%
model5 = NGramLM(5, V, smoothing="kneser_ney").fit(train_ids)
prompt = "ROMEO.\n"
p = model5.probs(encode(prompt)[-4:])
top = np.argsort(p)[::-1][:5]
print("most likely next characters after", repr(prompt), [(decode([i]), round(float(p[i]), 3)) for i in top])
# How much of each sample is real words: the share of its words that occur as words in the training text.
train_words = set(text[:len(train_ids)].split())    # the training part is the first 90 %
samples = {}
for n in (2, 3, 5):
    m = tri if n == 3 else model5 if n == 5 else NGramLM(n, V).fit(train_ids)
    sample = decode(m.sample(encode(prompt), 120 if args.fast else 300, rng=0))
    words = sample.split()
    known = sum(w in train_words for w in words) / max(len(words), 1)
    samples[n] = {"text": sample, "known_words": known}
    print(f"\n--- {n}-gram sample (seed 0; {known:.0%} of its words occur in the training text) ---\n{prompt}{sample}")
results.record("samples", samples)

# %% [markdown]
# ## 4. Perplexity: how surprised is the model by text it has not seen?
# $\mathrm{PPL} = \exp(-\frac1N\sum_t \log p_t)$. The uniform model has PPL = V.
# %%
uniform = results.record("uniform_ppl", perplexity(np.full(len(val_ids), -math.log(V))))
print(f"uniform model: PPL = {uniform:.1f} = V")

orders = range(1, 5) if args.fast else range(1, 7)
methods = {"add-k (k=0.01)": dict(smoothing="add_k", k=0.01), "add-k (k=1)": dict(smoothing="add_k", k=1.0),
           "Jelinek-Mercer (λ=0.8)": dict(smoothing="jelinek_mercer", lam=0.8),
           "Kneser-Ney": dict(smoothing="kneser_ney")}
table = {name: [] for name in methods}
fit_seconds, fit_cpu_seconds = [], []
for n in orders:
    t0, c0 = time.perf_counter(), time.process_time()
    kn = NGramLM(n, V, smoothing="kneser_ney").fit(train_ids)   # continuation counts below the top order
    fit_seconds.append(time.perf_counter() - t0)
    fit_cpu_seconds.append(time.process_time() - c0)
    raw = NGramLM(n, V, smoothing="add_k").fit(train_ids)       # raw counts: add-k and Jelinek-Mercer
    for name, params in methods.items():
        m = kn if params["smoothing"] == "kneser_ney" else raw
        for key, value in params.items():                       # smoothing parameters change without refitting
            setattr(m, key, value)
        table[name].append(m.perplexity(val_ids))
print("\nvalidation perplexity (character level)")
print("n  " + "".join(f"{name:>24}" for name in methods) + "   fit s")
for i, n in enumerate(orders):
    print(f"{n}  " + "".join(f"{table[name][i]:>24.3f}" for name in methods) + f"   {fit_seconds[i]:.2f}")
results.record("validation_ppl", {"orders": list(orders), **table})
results.record("kneser_ney_fit_seconds", {"wall": fit_seconds, "cpu": fit_cpu_seconds})

fig, ax = plt.subplots(figsize=(6.4, 4.2))
for name in methods:
    ax.plot(list(orders), table[name], "o-", label=name)
ax.set_xlabel("n (order of the n-gram model)")
ax.set_ylabel("validation perplexity")
ax.set_yscale("log")
ax.set_title("Character-level n-gram models on Shakespeare")
ax.legend()
fig.tight_layout()
fig.savefig(out / "ppl_vs_n.png", dpi=110)

# %% [markdown]
# ## 5. How much to smooth? Validation perplexity as a function of k
# %%
ks = np.logspace(-4, 1, 6 if args.fast else 16)
fig, ax = plt.subplots(figsize=(6.4, 4.2))
best = {}
for n in ((2, 3) if args.fast else (2, 3, 4, 5)):
    m = NGramLM(n, V, smoothing="add_k").fit(train_ids)
    curve = []
    for k in ks:
        m.k = float(k)
        curve.append(m.perplexity(val_ids))
    best[n] = (float(ks[int(np.argmin(curve))]), min(curve))
    ax.plot(ks, curve, "o-", ms=3, label=f"n = {n}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("k (add-k smoothing)")
ax.set_ylabel("validation perplexity")
ax.set_title("Too little smoothing overfits, too much flattens")
ax.legend()
fig.tight_layout()
fig.savefig(out / "ppl_vs_k.png", dpi=110)
for n, (k, ppl) in best.items():
    print(f"add-k, n = {n}: best k = {k:.4g}, validation PPL = {ppl:.3f}")
results.record("best_add_k", {n: {"k": k, "ppl": ppl} for n, (k, ppl) in best.items()})
results.record_run_time()
print("figures written to", out)
