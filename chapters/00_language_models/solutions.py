"""Solutions to the chapter 00 exercises (tested in tests/chapters/test_ch00_language_models.py)."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from tinygrad_llm.models.ngram import NGramLM


# Exercise 1: the add-k bigram probability of a sequence, by counting with plain dictionaries.
def add_k_bigram_log_prob(corpus, sequence, vocab_size: int, k: float) -> float:
    """log P(sequence) = log P(w_1) + sum_t log P(w_t | w_{t-1}), each an add-k estimate."""
    unigrams = Counter(corpus)
    bigrams = Counter(zip(corpus[:-1], corpus[1:]))
    followers = Counter(corpus[:-1])                     # c(h) = number of tokens that follow h
    total = math.log((unigrams[sequence[0]] + k) / (len(corpus) + k * vocab_size))
    for prev, cur in zip(sequence[:-1], sequence[1:]):
        total += math.log((bigrams[(prev, cur)] + k) / (followers[prev] + k * vocab_size))
    return total


# Exercise 2: perplexity in bits. log2(PPL) is the average number of bits per token a code built on the
# model needs; a uniform model over V tokens needs log2(V) bits.
def bits_per_token(ppl: float) -> float:
    return math.log2(ppl)


# Exercise 3: greedy decoding — always choose the most likely token. With a fixed context window the
# choice depends only on the last n-1 tokens, so the text must eventually repeat a cycle.
def greedy(model: NGramLM, context, n: int) -> np.ndarray:
    seq = [int(t) for t in context]
    for _ in range(n):
        p = model.probs(seq[len(seq) - min(len(seq), model.n - 1):])
        seq.append(int(np.argmax(p)))
    return np.array(seq[len(context):], dtype=np.int64)


def cycle_length(tokens) -> int:
    """Length of the shortest period with which the end of ``tokens`` repeats (0 if none is found)."""
    t = list(tokens)
    half = len(t) // 2
    for period in range(1, half + 1):       # the last half must equal itself shifted by the period
        if all(t[i] == t[i - period] for i in range(len(t) - half, len(t))):
            return period
    return 0


# Exercise 4: choose the Jelinek-Mercer weight on held-out data (never on the training data).
def best_lambda(model: NGramLM, val_ids, grid) -> tuple[float, float]:
    model.smoothing = "jelinek_mercer"
    scores = []
    for lam in grid:
        model.lam = float(lam)
        scores.append(model.perplexity(val_ids))
    i = int(np.argmin(scores))
    return float(grid[i]), float(scores[i])


# Exercise 5: the probability mass add-k gives to tokens never seen after context h:
# (V - N1+(h .)) k / (c(h) + k V). It grows with V and with n (longer contexts are seen less often).
def add_k_unseen_mass(model: NGramLM, context) -> float:
    m = len(context)
    lvl, V, h = model.levels[m], model.vocab_size, 0
    for w in context:
        h = h * V + int(w)
    lo, hi = np.searchsorted(lvl["keys"], [h * V, h * V + V])
    c_h = float(lvl["counts"][lo:hi].sum())
    return (V - (hi - lo)) * model.k / (c_h + model.k * V)
