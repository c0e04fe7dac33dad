"""Chapter 13 — Evaluation: every metric on worked examples. Run: python chapters/13_evaluation/run.py [--fast] [--out DIR]"""
# %%
import math

import numpy as np

from tinygrad_llm.metrics import (accuracy, confusion_matrix, corpus_bleu, perplexity, perplexity_from_nll,
                                  precision_recall_f1, rouge_l, rouge_n, rouge_scores, sentence_bleu, tokenize_13a)
from tinygrad_llm.data.corpus import load_plays
from tinygrad_llm.models.ngram import NGramLM

import matplotlib.pyplot as plt

from chapters.common import chapter_args

args = chapter_args("13_evaluation", __doc__)
out, results = args.out, args.results            # results.json: the numbers the chapter text quotes
rng = np.random.default_rng(0)

corpus = load_plays()                                          # {title: text} of the Shakespeare corpus
PLAYS = {"Hamlet": "Hamlet", "Macbeth": "Macbeth", "Midsummer": "A Midsummer Night's Dream", "Henry V": "King Henry V"}
plays = {name: corpus[title] for name, title in PLAYS.items()}
if args.fast:
    plays = {name: t[:60_000] for name, t in plays.items()}

# %% [markdown]
# ## 1. Perplexity: exp of the mean negative log-likelihood
# %%
text = plays["Hamlet"]
chars = sorted(set("".join(plays.values())))
stoi = {c: i for i, c in enumerate(chars)}
ids = np.array([stoi[c] for c in text])
cut = int(0.9 * len(ids))
V = len(chars)
print(f"Hamlet, character level: V = {V}, train {cut:,} / val {len(ids) - cut:,} characters")
ppl_table = {"uniform": {"nll": math.log(V), "ppl": perplexity(np.full(10, -math.log(V)))}}
for n in (1, 3, 5):
    m = NGramLM(n, V).fit(ids[:cut])
    lp = m.log_prob_sequence(ids[cut:])
    nll = -lp.mean()
    ppl_table[f"{n}-gram"] = {"nll": nll, "ppl": perplexity(lp)}
    print(f"  {n}-gram Kneser-Ney: mean NLL {nll:.4f} nats = {nll / math.log(2):.3f} bits/char, "
          f"PPL = {perplexity(lp):.3f} = exp(NLL) = {perplexity_from_nll(nll):.3f}")
print(f"  uniform over V: PPL = {ppl_table['uniform']['ppl']:.1f}")
results.record("perplexity", {"vocab_size": V, "train": cut, "val": len(ids) - cut, "models": ppl_table})

# %% [markdown]
# ## 2. BLEU, step by step
# %%
ref = "To be, or not to be: that is the question."
hyp = "To be or not to be, that is a question."
print("\nreference tokens:", tokenize_13a(ref))
print("hypothesis tokens:", tokenize_13a(hyp))
s = corpus_bleu([hyp], [[ref]], smooth_method="none")
for n in range(4):
    print(f"  {n + 1}-grams: {s.counts[n]} of {s.totals[n]} match -> p_{n + 1} = {s.precisions[n]:.1f} %")
print(f"  c = {s.sys_len}, r = {s.ref_len}, BP = {s.bp:.4f}, BLEU = {s.score:.2f}")
short = "that is a question"
smoothed = {}
for method in ("none", "floor", "add-k", "exp"):
    smoothed[method] = corpus_bleu([short], [[ref]], smooth_method=method).score
    print(f"  short hypothesis {short!r}, smoothing {method:>5}: BLEU = {smoothed[method]:.2f}")
print(f"  sentence_bleu (effective order) = {sentence_bleu(short, [ref]).score:.2f}")
results.record("bleu", {"reference": tokenize_13a(ref), "candidate": tokenize_13a(hyp), "counts": s.counts,
                        "totals": s.totals, "sys_len": s.sys_len, "ref_len": s.ref_len, "bp": s.bp, "score": s.score,
                        "short": short, "smoothed": smoothed})

# %% [markdown]
# ## 3. ROUGE: recall-oriented overlap, and the longest common subsequence
# %%
rouge = {}
for name, sc in (("ROUGE-1", rouge_n(ref, hyp, 1)), ("ROUGE-2", rouge_n(ref, hyp, 2)), ("ROUGE-L", rouge_l(ref, hyp))):
    rouge[name] = {"precision": sc.precision, "recall": sc.recall, "f1": sc.fmeasure}
    print(f"  {name}: P = {sc.precision:.3f} R = {sc.recall:.3f} F1 = {sc.fmeasure:.3f}")
results.record("rouge", rouge)
a, b = "He was running from his questions", "he runs from the question"
print(f"  {b!r} against {a!r}: ROUGE-1 F1 = {rouge_n(a, b, 1).fmeasure:.3f} without stemming, "
      f"{rouge_n(a, b, 1, use_stemmer=True).fmeasure:.3f} with the Porter stemmer")

# %% [markdown]
# ## 4. What the overlap metrics reward: replaced words versus shuffled word order
# %%
lines = [ln.strip() for t in plays.values() for ln in t.splitlines() if len(ln.split()) >= 6]
refs = [lines[i] for i in rng.choice(len(lines), 40 if args.fast else 400, replace=False)]
vocab = sorted({w for ln in lines for w in ln.split()})


def corrupt(line, q, mode):
    words = line.split()
    idx = [i for i in range(len(words)) if rng.random() < q]
    if mode == "replace":
        for i in idx:
            words[i] = vocab[rng.integers(len(vocab))]
    else:                                  # shuffle the chosen positions among themselves
        moved = [words[i] for i in idx]
        rng.shuffle(moved)
        for i, w in zip(idx, moved):
            words[i] = w
    return " ".join(words)


qs = np.linspace(0, 1, 6 if args.fast else 11)
noise = {"lines": len(refs), "fraction": qs}
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, mode in zip(axes, ("replace", "shuffle")):
    curves = {"BLEU / 100": [], "ROUGE-1 F1": [], "ROUGE-2 F1": [], "ROUGE-L F1": []}
    for q in qs:
        hyps = [corrupt(r, q, mode) for r in refs]
        curves["BLEU / 100"].append(corpus_bleu(hyps, [refs]).score / 100)
        rs = rouge_scores(refs, hyps)
        for key, name in (("rouge1", "ROUGE-1 F1"), ("rouge2", "ROUGE-2 F1"), ("rougeL", "ROUGE-L F1")):
            curves[name].append(rs[key].fmeasure)
    styles = {"BLEU / 100": dict(marker="o", ls="-", ms=4), "ROUGE-1 F1": dict(marker="s", ls="--", ms=8, mfc="none", lw=2.5),
              "ROUGE-2 F1": dict(marker="^", ls="-", ms=4), "ROUGE-L F1": dict(marker="x", ls=":", ms=6, lw=1.5)}
    for name, ys in curves.items():                        # ROUGE-L equals ROUGE-1 when no word moves: drawn
        ax.plot(qs, ys, label=name, **styles[name])       # dotted over a wide dashed line, both stay visible
    ax.set_xlabel("fraction of words " + ("replaced by random words" if mode == "replace" else "shuffled"))
    ax.set_title(f"{len(refs)} Shakespeare lines, words {mode}d")
    print(f"  {mode} all words: " + ", ".join(f"{k} = {v[-1]:.3f}" for k, v in curves.items()))
    noise[mode] = curves
results.record("noise", noise)
axes[0].set_ylabel("score")
axes[0].legend()
fig.tight_layout()
fig.savefig(out / "metrics_vs_noise.png", dpi=110)

# %% [markdown]
# ## 5. Classification: which play is a passage from?
# One character-level 4-gram model per play; a passage goes to the play whose model gives it the
# highest probability. Then accuracy, precision, recall, F1 and the confusion matrix.
# %%
L = 200                                                  # characters per passage
names = list(plays)
models, test_x, test_y = [], [], []
for label, name in enumerate(names):
    pid = np.array([stoi[c] for c in plays[name]])
    split = int(0.8 * len(pid))
    models.append(NGramLM(4, V).fit(pid[:split]))
    for start in range(split, len(pid) - L, L):
        test_x.append(pid[start:start + L])
        test_y.append(label)
scores = np.array([[m.log_prob_sequence(x).sum() for m in models] for x in test_x])   # (passages, plays)
y_true, y_pred = np.array(test_y), scores.argmax(axis=1)
print(f"\n{len(y_true)} held-out passages of {L} characters, accuracy = {accuracy(y_true, y_pred):.3f}")
p, r, f, support = precision_recall_f1(y_true, y_pred, average=None)
for k, name in enumerate(names):
    print(f"  {name:>10}: P = {p[k]:.3f} R = {r[k]:.3f} F1 = {f[k]:.3f} (support {support[k]})")
for avg in ("micro", "macro", "weighted"):
    P, R, F1, _ = precision_recall_f1(y_true, y_pred, average=avg)
    print(f"  {avg:>10}: P = {P:.3f} R = {R:.3f} F1 = {F1:.3f}")
always_hamlet = np.zeros_like(y_true)
hamlet = {"accuracy": accuracy(y_true, always_hamlet), "macro_f1": precision_recall_f1(y_true, always_hamlet)[2],
          "macro_precision_zero_division_0": precision_recall_f1(y_true, always_hamlet, zero_division=0)[0],
          "macro_precision_zero_division_1": precision_recall_f1(y_true, always_hamlet, zero_division=1)[0]}
print(f"  a classifier that always says Hamlet: accuracy {hamlet['accuracy']:.3f}, macro-F1 {hamlet['macro_f1']:.3f}, "
      f"macro precision {hamlet['macro_precision_zero_division_0']:.3f} (zero_division=0) or "
      f"{hamlet['macro_precision_zero_division_1']:.3f} (zero_division=1)")
macro = precision_recall_f1(y_true, y_pred, average="macro")
results.record("classifier", {"passages": len(y_true), "characters": L, "plays": names,
                              "accuracy": accuracy(y_true, y_pred), "macro_f1": macro[2],
                              "support": support, "always_hamlet": hamlet})

cm = confusion_matrix(y_true, y_pred)
fig, ax = plt.subplots(figsize=(5.2, 4.4))
im = ax.imshow(cm, cmap="Blues")
ax.set_xticks(range(len(names)), names, rotation=30)
ax.set_yticks(range(len(names)), names)
for i in range(len(names)):
    for j in range(len(names)):
        ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black")
ax.set_xlabel("predicted play")
ax.set_ylabel("true play")
ax.set_title(f"4-gram classifier, accuracy {accuracy(y_true, y_pred):.2f}")
fig.colorbar(im, ax=ax)
fig.tight_layout()
fig.savefig(out / "confusion_matrix.png", dpi=110)
print("confusion matrix (rows true, columns predicted):\n", cm)
results.record("confusion_matrix", cm)
results.record_run_time()
print("figures written to", out)
