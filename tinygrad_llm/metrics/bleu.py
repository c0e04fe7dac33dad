r"""Corpus BLEU (Papineni et al., 2002) with the brevity penalty and sacrebleu's smoothing methods.

$$\mathrm{BLEU} = \mathrm{BP}\cdot\exp\Big(\frac{1}{N}\sum_{n=1}^{N}\log p_n\Big),\qquad \mathrm{BP} = \min\big(1,\ e^{1 - r/c}\big)$$

$p_n$ is the clipped n-gram precision summed over the whole corpus (not averaged over sentences):

$$p_n = \frac{\sum_{s}\sum_{g \in \mathrm{ngrams}_n(\hat y_s)} \min\big(\mathrm{count}_{\hat y_s}(g),\ \max_{r}\mathrm{count}_{y_{s,r}}(g)\big)}{\sum_{s}\sum_{g \in \mathrm{ngrams}_n(\hat y_s)} \mathrm{count}_{\hat y_s}(g)}$$

$c$ is the total hypothesis length and $r$ the total reference length, taking for each sentence the
reference length closest to the hypothesis length (the shorter one on ties). $N = 4$ by default; the score
is reported on a 0–100 scale, like sacrebleu.

Smoothing of orders with no match ($m_n = 0$ clipped matches out of $t_n$ n-grams):

- ``none``: $p_n = 0$, so BLEU $= 0$.
- ``floor``: $p_n = \epsilon / t_n$ (default $\epsilon = 0.1$).
- ``add-k``: for $n > 1$, $p_n = (m_n + k)/(t_n + k)$ (default $k = 1$), applied to every order $n > 1$.
- ``exp``: the $i$-th order without a match gets $p_n = 1/(2^i\, t_n)$ (NIST / mteval-v13a; sacrebleu's default).

Strings are tokenised with the ``13a`` tokenizer of mteval-v13a (punctuation split off, periods and commas
kept inside numbers, dashes after digits split); token lists are used as given.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

SMOOTH_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}

# 13a: every ASCII symbol except apostrophe, hyphen, period and comma becomes its own token.
_SYMBOLS = "".join(chr(c) for c in range(32, 127) if not chr(c).isalnum() and chr(c) not in "'-.,")
_13A_RULES = [
    (re.compile("([" + re.escape(_SYMBOLS) + "])"), r" \1 "),
    (re.compile(r"([^0-9])([.,])"), r"\1 \2 "),    # period/comma not preceded by a digit
    (re.compile(r"([.,])([^0-9])"), r" \1 \2"),    # period/comma not followed by a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),        # dash after a digit
]


def tokenize_13a(line: str) -> list[str]:
    """mteval-v13a tokenisation, as sacrebleu's default ``tokenize='13a'``."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    for entity, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
        line = line.replace(entity, char)
    line = f" {line} "
    for pattern, repl in _13A_RULES:
        line = pattern.sub(repl, line)
    return line.split()


@dataclass
class BLEUScore:
    score: float                      # 0..100
    counts: list = field(default_factory=list)      # clipped matches m_n
    totals: list = field(default_factory=list)      # hypothesis n-grams t_n
    precisions: list = field(default_factory=list)  # 100 * p_n after smoothing
    bp: float = 1.0
    sys_len: int = 0
    ref_len: int = 0


def _ngrams(tokens, max_order: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for n in range(1, max_order + 1) for i in range(len(tokens) - n + 1))


def _prepare(seg, tokenize: str, lowercase: bool, what: str):
    if isinstance(seg, str):
        if lowercase:
            seg = seg.lower()
        seg = seg.rstrip()
        if tokenize == "13a":
            return tokenize_13a(seg)
        if tokenize == "none":
            return seg.split()
        raise ValueError(f"bleu: unknown tokenize={tokenize!r} (use '13a' or 'none')")
    if isinstance(seg, (list, tuple)):
        return [t.lower() if lowercase and isinstance(t, str) else t for t in seg]
    raise TypeError(f"bleu: each {what} must be a string or a list of tokens, got {type(seg).__name__}")


def _closest_ref_len(hyp_len: int, ref_lens: list[int]) -> int:
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def _reference_streams(hypotheses, references):
    """Accept sacrebleu's layout (list of streams, each aligned with the hypotheses) or one stream."""
    if not isinstance(references, (list, tuple)) or len(references) == 0:
        raise ValueError("bleu: no references given")
    tokenised = isinstance(hypotheses[0], (list, tuple))
    first = references[0]
    if not tokenised and isinstance(first, str):
        references = [references]                       # one stream of strings
    elif tokenised and isinstance(first, (list, tuple)) and (len(first) == 0 or not isinstance(first[0], (list, tuple))):
        references = [references]                       # one stream of token lists
    for k, stream in enumerate(references):
        if not isinstance(stream, (list, tuple)) or len(stream) != len(hypotheses):
            n = len(stream) if isinstance(stream, (list, tuple)) else type(stream).__name__
            raise ValueError(f"bleu: reference stream {k} has {n} segments but there are "
                             f"{len(hypotheses)} hypotheses")
    return references


# [start:bleu]
def bleu_from_stats(counts, totals, sys_len, ref_len, smooth_method="exp", smooth_value=None,
                    effective_order=False) -> BLEUScore:
    """BLEU from its sufficient statistics (clipped matches m_n, hypothesis n-grams t_n, lengths c, r)."""
    if smooth_method not in SMOOTH_DEFAULTS:
        raise ValueError(f"bleu: unknown smooth_method {smooth_method!r}, expected one of {list(SMOOTH_DEFAULTS)}")
    k = SMOOTH_DEFAULTS[smooth_method] if smooth_value is None else smooth_value
    counts, totals = list(counts), list(totals)
    max_order = len(counts)
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0)
    precisions = [0.0] * max_order
    if not any(counts):                                   # no match at any order
        return BLEUScore(0.0, counts, totals, precisions, bp, sys_len, ref_len)
    halvings, used_orders = 1.0, max_order
    for n in range(1, max_order + 1):
        if smooth_method == "add-k" and n > 1:
            counts[n - 1] += k
            totals[n - 1] += k
        if totals[n - 1] == 0:                            # hypotheses too short for this order
            break
        if effective_order:
            used_orders = n
        if counts[n - 1] > 0:
            precisions[n - 1] = 100.0 * counts[n - 1] / totals[n - 1]
        elif smooth_method == "exp":
            halvings *= 2
            precisions[n - 1] = 100.0 / (halvings * totals[n - 1])
        elif smooth_method == "floor":
            precisions[n - 1] = 100.0 * k / totals[n - 1]
    used = precisions[:used_orders]
    if min(used) <= 0.0:
        return BLEUScore(0.0, counts, totals, precisions, bp, sys_len, ref_len)
    score = bp * math.exp(sum(math.log(p) for p in used) / used_orders)
    return BLEUScore(score, counts, totals, precisions, bp, sys_len, ref_len)
# [end:bleu]


def corpus_bleu(hypotheses, references, max_order: int = 4, smooth_method: str = "exp", smooth_value=None,
                tokenize: str = "13a", lowercase: bool = False, effective_order: bool = False) -> BLEUScore:
    """Corpus BLEU like ``sacrebleu.corpus_bleu(hypotheses, references)``.

    ``hypotheses``: list of strings or of token lists. ``references``: list of reference streams, each a
    list aligned with ``hypotheses`` (sacrebleu's layout), or a single such stream.
    """
    if not isinstance(hypotheses, (list, tuple)):
        raise TypeError(f"bleu: hypotheses must be a list, got {type(hypotheses).__name__}")
    if len(hypotheses) == 0:
        raise ValueError("bleu: empty corpus (no hypotheses)")
    if max_order < 1:
        raise ValueError(f"bleu: max_order must be >= 1, got {max_order}")
    streams = _reference_streams(hypotheses, references)
    counts, totals, sys_len, ref_len = [0] * max_order, [0] * max_order, 0, 0
    for i, hyp in enumerate(hypotheses):
        h = _prepare(hyp, tokenize, lowercase, "hypothesis")
        refs = [_prepare(s[i], tokenize, lowercase, "reference") for s in streams]
        ref_counts = Counter()
        for r in refs:
            ref_counts |= _ngrams(r, max_order)          # max count over references
        for g, c in _ngrams(h, max_order).items():
            totals[len(g) - 1] += c
            counts[len(g) - 1] += min(c, ref_counts[g])
        sys_len += len(h)
        ref_len += _closest_ref_len(len(h), [len(r) for r in refs])
    return bleu_from_stats(counts, totals, sys_len, ref_len, smooth_method, smooth_value, effective_order)


def sentence_bleu(hypothesis, references, **kwargs) -> BLEUScore:
    """BLEU of one hypothesis against a list of its references (sacrebleu's default: ``effective_order=True``)."""
    kwargs.setdefault("effective_order", True)
    if isinstance(references, str):
        references = [references]
    return corpus_bleu([hypothesis], [[r] for r in references], **kwargs)
