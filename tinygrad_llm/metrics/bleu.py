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

Strings are tokenised as sacrebleu's ``tokenize=`` option does (token lists are used as given):

- ``13a`` (default): mteval-v13a — ASCII punctuation split off, periods and commas kept inside numbers,
  dashes after digits split, a few HTML entities unescaped.
- ``zh``: every Chinese character (and CJK punctuation, full-width forms, ...: the blocks listed in
  ``_ZH_RANGES``) becomes a token, the rest is tokenised like 13a.
- ``intl``: mteval-v14's international tokenisation — every Unicode punctuation character is split off
  unless it sits between two numbers (``1,000.5``), every symbol is split off. Categories come from the
  tokenizers' pinned Unicode table (:mod:`tinygrad_llm.tokenizers.ucd`, 16.0); sacrebleu reads them
  from the ``regex`` module, whose newer tables also know the characters assigned after 16.0.
- ``char``: every character other than whitespace is a token.
- ``none``: split on whitespace only.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from ..tokenizers import ucd

SMOOTH_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}

# 13a: every ASCII symbol except apostrophe, hyphen, period and comma becomes its own token.
_SYMBOLS = "".join(chr(c) for c in range(32, 127) if not chr(c).isalnum() and chr(c) not in "'-.,")
_13A_RULES = [
    (re.compile("([" + re.escape(_SYMBOLS) + "])"), r" \1 "),
    (re.compile(r"([^0-9])([.,])"), r"\1 \2 "),    # period/comma not preceded by a digit
    (re.compile(r"([.,])([^0-9])"), r" \1 \2"),    # period/comma not followed by a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),        # dash after a digit
]


def _split_western(line: str) -> list[str]:
    """The rules shared by 13a and zh: ASCII symbols, periods/commas outside numbers, dashes after digits."""
    for pattern, repl in _13A_RULES:
        line = pattern.sub(repl, line)
    return line.split()


def tokenize_13a(line: str) -> list[str]:
    """mteval-v13a tokenisation, as sacrebleu's default ``tokenize='13a'``."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    for entity, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
        line = line.replace(entity, char)
    return _split_western(f" {line} ")             # the padding spaces let a leading '.' or ',' split off


# zh: the character ranges sacrebleu treats as Chinese. Its table writes two supplementary-plane ranges with
# four-digit escapes ('\u20000' is U+2000 followed by '0'; '\u2f800' is U+2F80 + '0') and compares strings,
# so those two ranges mean U+2001..U+2A6D (general punctuation, arrows, maths, ... but not CJK
# Extension B) and U+2F81..U+2FA1; this table writes what sacrebleu does, not what it meant.
_ZH_RANGES = ((0x3400, 0x4DB5), (0x4E00, 0x9FA5), (0x9FA6, 0x9FBB), (0xF900, 0xFA2D), (0xFA30, 0xFA6A),
              (0xFA70, 0xFAD9), (0x2001, 0x2A6D), (0x2F81, 0x2FA1), (0xFF00, 0xFFEF), (0x2E80, 0x2EFF),
              (0x3000, 0x303F), (0x31C0, 0x31EF), (0x2F00, 0x2FDF), (0x2FF0, 0x2FFF), (0x3100, 0x312F),
              (0x31A0, 0x31BF), (0xFE10, 0xFE1F), (0xFE30, 0xFE4F), (0x2600, 0x26FF), (0x2700, 0x27BF),
              (0x3200, 0x32FF), (0x3300, 0x33FF))
_ZH_CHAR = re.compile("[" + "".join(f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in _ZH_RANGES) + "]")


def tokenize_zh(line: str) -> list[str]:
    """sacrebleu's ``tokenize='zh'``: strip the line, make each Chinese character a word of its own, then
    the 13a rules (without 13a's entity unescaping and padding)."""
    return _split_western(_ZH_CHAR.sub(r" \g<0> ", line.strip()))


@lru_cache(maxsize=1)
def _intl_rules():
    P = ucd.char_class(lambda c: ucd.category(c)[0] == "P")
    S = ucd.char_class(lambda c: ucd.category(c)[0] == "S")
    N = ucd.char_class(lambda c: ucd.category(c)[0] == "N")
    return [(re.compile(f"([^{N}])([{P}])"), r"\1 \2 "),     # punctuation after a non-number
            (re.compile(f"([{P}])([^{N}])"), r" \1 \2"),     # punctuation before a non-number
            (re.compile(f"([{S}])"), r" \1 ")]              # every symbol


def tokenize_intl(line: str) -> list[str]:
    """mteval-v14's international tokenisation, as sacrebleu's ``tokenize='intl'``: split off a punctuation
    character (Unicode P*) unless both neighbours are numbers (N*), and every symbol (S*). Like mteval-v14,
    the line is not padded, so a final '.' after a number stays attached ('in 2024.')."""
    for pattern, repl in _intl_rules():
        line = pattern.sub(repl, line)
    return line.split()


def tokenize_char(line: str) -> list[str]:
    """sacrebleu's ``tokenize='char'``: every character that is not whitespace is a token."""
    return [c for c in line if not c.isspace()]


TOKENIZERS = {"13a": tokenize_13a, "zh": tokenize_zh, "intl": tokenize_intl, "char": tokenize_char,
              "none": str.split}


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
        if tokenize not in TOKENIZERS:
            raise ValueError(f"bleu: unknown tokenize={tokenize!r} (one of {sorted(TOKENIZERS)})")
        return TOKENIZERS[tokenize](seg.rstrip())
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
