r"""ROUGE-N and ROUGE-L (Lin, 2004): overlap of a prediction with a target (reference) text.

$$P_N = \frac{\sum_{g} \min\big(\mathrm{count}_{\hat y}(g), \mathrm{count}_{y}(g)\big)}{\#\mathrm{ngrams}_N(\hat y)},\quad R_N = \frac{\sum_{g} \min\big(\mathrm{count}_{\hat y}(g), \mathrm{count}_{y}(g)\big)}{\#\mathrm{ngrams}_N(y)},\quad F_1 = \frac{2PR}{P+R}$$

ROUGE-L replaces the clipped n-gram overlap by the length of the longest common subsequence:

$$P_L = \frac{\mathrm{LCS}(\hat y, y)}{\lvert\hat y\rvert},\qquad R_L = \frac{\mathrm{LCS}(\hat y, y)}{\lvert y\rvert}$$

with $\mathrm{LCS}(a_{1..i}, b_{1..j}) = \mathrm{LCS}(a_{1..i-1}, b_{1..j-1}) + 1$ when $a_i = b_j$, else the larger of
$\mathrm{LCS}(a_{1..i-1}, b_{1..j})$ and $\mathrm{LCS}(a_{1..i}, b_{1..j-1})$. $F_1 = 0$ when $P + R = 0$.

Strings are tokenised like rouge-score's default tokenizer: lowercase, every run of characters outside
``[a-z0-9]`` becomes a space, split on whitespace; with ``use_stemmer=True`` every token longer than three
characters is replaced by its Porter stem (:mod:`porter`, NLTK's variant, the one rouge-score uses).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .porter import stem

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


@dataclass
class RougeScore:
    precision: float
    recall: float
    fmeasure: float


def tokenize_rouge(text: str, use_stemmer: bool = False) -> list[str]:
    """rouge-score's default tokenisation, optionally with the Porter stemmer on tokens of 4+ characters."""
    if not isinstance(text, str):
        raise TypeError(f"rouge: expected a string, got {type(text).__name__}")
    tokens = _NON_ALNUM.sub(" ", text.lower()).split()
    return [stem(t) if use_stemmer and len(t) > 3 else t for t in tokens]


def _tokens(x, use_stemmer: bool = False):
    if isinstance(x, str):
        return tokenize_rouge(x, use_stemmer)
    if isinstance(x, (list, tuple)):
        return list(x)
    raise TypeError(f"rouge: expected a string or a list of tokens, got {type(x).__name__}")


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


# [start:rouge_n]
def rouge_n(target, prediction, n: int = 1, use_stemmer: bool = False) -> RougeScore:
    """ROUGE-N of ``prediction`` against ``target`` (same argument order as rouge-score's ``score``)."""
    if n < 1:
        raise ValueError(f"rouge_n: n must be >= 1, got {n}")
    t, p = _tokens(target, use_stemmer), _tokens(prediction, use_stemmer)
    t_grams = Counter(tuple(t[i:i + n]) for i in range(len(t) - n + 1))
    p_grams = Counter(tuple(p[i:i + n]) for i in range(len(p) - n + 1))
    overlap = sum((t_grams & p_grams).values())           # sum of min counts
    precision = overlap / max(sum(p_grams.values()), 1)
    recall = overlap / max(sum(t_grams.values()), 1)
    return RougeScore(precision, recall, _f1(precision, recall))
# [end:rouge_n]


def lcs_length(a, b) -> int:
    """Length of the longest common subsequence, by dynamic programming over one row at a time."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


# [start:rouge_l]
def rouge_l(target, prediction, use_stemmer: bool = False) -> RougeScore:
    """ROUGE-L (sentence-level LCS) of ``prediction`` against ``target``."""
    t, p = _tokens(target, use_stemmer), _tokens(prediction, use_stemmer)
    if not t or not p:
        return RougeScore(0.0, 0.0, 0.0)
    lcs = lcs_length(t, p)
    precision, recall = lcs / len(p), lcs / len(t)
    return RougeScore(precision, recall, _f1(precision, recall))
# [end:rouge_l]


def rouge_scores(targets, predictions, types=("rouge1", "rouge2", "rougeL"), use_stemmer: bool = False
                 ) -> dict[str, RougeScore]:
    """Mean precision, recall and F1 over a corpus of (target, prediction) pairs, for each ROUGE type."""
    if len(targets) != len(predictions):
        raise ValueError(f"rouge: {len(targets)} targets but {len(predictions)} predictions")
    if len(targets) == 0:
        raise ValueError("rouge: empty corpus")
    out = {}
    for name in types:
        if name == "rougeL":
            scores = [rouge_l(t, p, use_stemmer) for t, p in zip(targets, predictions)]
        elif re.fullmatch(r"rouge[1-9]", name):
            scores = [rouge_n(t, p, int(name[5:]), use_stemmer) for t, p in zip(targets, predictions)]
        else:
            raise ValueError(f"rouge: unknown type {name!r} (rouge1..rouge9, rougeL)")
        k = len(scores)
        out[name] = RougeScore(sum(s.precision for s in scores) / k, sum(s.recall for s in scores) / k,
                               sum(s.fmeasure for s in scores) / k)
    return out
