"""Solutions to the chapter 13 exercises (tested in tests/chapters/test_ch13_evaluation.py)."""
from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

import numpy as np

from tinygrad_llm.metrics import sentence_bleu


# Exercise 1: per-class precision, recall and F1 from a confusion matrix C (rows true, columns predicted):
# TP_k = C_kk, TP_k + FP_k = column sum, TP_k + FN_k = row sum. A 0/0 ratio becomes 0.
def prf_from_confusion(cm):
    cm = np.asarray(cm, dtype=np.float64)
    tp, predicted, actual = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)

    def ratio(a, b):
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    return ratio(tp, predicted), ratio(tp, actual), ratio(2 * tp, predicted + actual)


# Exercise 2: with one label per sample, every error is one FP (for the predicted class) and one FN
# (for the true class), so sum FP = sum FN and micro-P = micro-R = micro-F1 = trace / total = accuracy.
def micro_f1_from_confusion(cm) -> float:
    cm = np.asarray(cm)
    return float(np.trace(cm) / cm.sum())


# Exercise 3: unsmoothed BLEU of one tokenised sentence against one reference, from scratch.
def bleu_by_hand(hyp, ref, max_order: int = 4) -> float:
    log_p = 0.0
    for n in range(1, max_order + 1):
        h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
        r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
        matches, total = sum((h & r).values()), sum(h.values())
        if matches == 0:
            return 0.0
        log_p += math.log(matches / total) / max_order
    bp = 1.0 if len(hyp) >= len(ref) else math.exp(1 - len(ref) / len(hyp))
    return 100 * bp * math.exp(log_p)


# Exercise 4: the mean of sentence-level BLEU scores is not corpus BLEU, which pools the n-gram counts
# of all sentences before dividing (so long sentences weigh more, and one zero order does not zero a sentence).
def mean_sentence_bleu(hyps, refs) -> float:
    return float(np.mean([sentence_bleu(h, [r]).score for h, r in zip(hyps, refs)]))


# Exercise 5: the LCS recursion of ROUGE-L written as a memoised recursion.
def lcs_recursive(a, b) -> int:
    a, b = tuple(a), tuple(b)

    @lru_cache(maxsize=None)
    def lcs(i: int, j: int) -> int:          # LCS of a[:i] and b[:j]
        if i == 0 or j == 0:
            return 0
        if a[i - 1] == b[j - 1]:
            return lcs(i - 1, j - 1) + 1
        return max(lcs(i - 1, j), lcs(i, j - 1))

    return lcs(len(a), len(b))


# Exercise 6: perplexity of a language model is the exponential of its cross-entropy loss.
def perplexity_from_cross_entropy(loss_nats: float) -> float:
    return math.exp(loss_nats)
