r"""A generated toy translation task: dates written in English words $\to$ ISO 8601.

    "the twenty first of june nineteen ninety two"   ->   "1992-06-21"
    "march third two thousand and five"              ->   "2005-03-03"

Every calendar date from 1900-01-01 to 2099-12-31 is one example. The source is word-level (about 50
words: ordinals, months, number words), the target character-level (digits and ``-``), so the model
has to *reorder* (the year comes last in the source and first in the target), *count* (``twenty
first`` is two words but ``21`` two characters) and *look things up* (``june`` $\to$ ``06``) — what
cross-attention is for. The splits are disjoint **by date**: no test date appears in training in any
wording, so test accuracy measures generalisation to new combinations of known words.

Everything is a pure function of ``seed``: the split of the dates, and the wording chosen for each
date (two templates, and two readings of years 2001–2009). Token ids come from a ``Vocab`` with
``<pad>=0, <bos>=1, <eos>=2, <unk>=3`` and the words in sorted order after them.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen"]
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
_ORDINAL_UNITS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]
_ORDINAL_TEENS = ["tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
                  "seventeenth", "eighteenth", "nineteenth"]
_ORDINAL_TENS = {2: "twentieth", 3: "thirtieth"}

FIRST_DATE, LAST_DATE = datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)


# ----------------------------------------------------------------------------- words
def number_words(n: int) -> list[str]:
    """1..99 as words: 7 -> ['seven'], 42 -> ['forty', 'two']."""
    if not 1 <= n <= 99:
        raise ValueError(f"number_words: expected 1..99, got {n}")
    if n < 10:
        return [_UNITS[n]]
    if n < 20:
        return [_TEENS[n - 10]]
    tens, unit = divmod(n, 10)
    return [_TENS[tens]] + ([_UNITS[unit]] if unit else [])


def ordinal_words(n: int) -> list[str]:
    """1..31 as an ordinal: 1 -> ['first'], 21 -> ['twenty', 'first'], 30 -> ['thirtieth']."""
    if not 1 <= n <= 31:
        raise ValueError(f"ordinal_words: expected a day 1..31, got {n}")
    if n < 10:
        return [_ORDINAL_UNITS[n]]
    if n < 20:
        return [_ORDINAL_TEENS[n - 10]]
    tens, unit = divmod(n, 10)
    return [_ORDINAL_TENS[tens]] if unit == 0 else [_TENS[tens], _ORDINAL_UNITS[unit]]


def year_words(year: int, variant: int = 0) -> list[str]:
    """How a year is read aloud: 1900 'nineteen hundred', 1905 'nineteen oh five', 1992 'nineteen ninety
    two', 2000 'two thousand', 2005 'two thousand and five' (variant 0) or 'two thousand five' (1),
    2021 'twenty twenty one'."""
    if not FIRST_DATE.year <= year <= LAST_DATE.year:
        raise ValueError(f"year_words: expected {FIRST_DATE.year}..{LAST_DATE.year}, got {year}")
    century, rest = divmod(year, 100)
    if year == 2000:
        return ["two", "thousand"]
    if 2001 <= year <= 2009:
        return ["two", "thousand"] + (["and"] if variant == 0 else []) + number_words(rest)
    head = number_words(century)
    if rest == 0:
        return head + ["hundred"]
    if rest < 10:
        return head + ["oh"] + number_words(rest)
    return head + number_words(rest)


def date_to_words(date: datetime.date, template: int = 0, year_variant: int = 0) -> str:
    """Template 0: 'june twenty first nineteen ninety two'; template 1: 'the twenty first of june ...'."""
    day, month, year = ordinal_words(date.day), [MONTHS[date.month - 1]], year_words(date.year, year_variant)
    if template == 0:
        words = month + day + year
    elif template == 1:
        words = ["the"] + day + ["of"] + month + year
    else:
        raise ValueError(f"date_to_words: template must be 0 or 1, got {template}")
    return " ".join(words)


def date_to_iso(date: datetime.date) -> str:
    return date.isoformat()                                    # 'YYYY-MM-DD'


# ----------------------------------------------------------------------------- vocabulary
class Vocab:
    """Token <-> id. Ids 0..3 are ``<pad> <bos> <eos> <unk>``; the given tokens follow in sorted order."""

    def __init__(self, tokens):
        words = sorted(set(tokens) - set(SPECIALS))
        self.itos = list(SPECIALS) + words
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = (self.stoi[s] for s in SPECIALS)

    def __len__(self):
        return len(self.itos)

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.itos == other.itos

    def encode(self, tokens, add_bos=False, add_eos=False) -> list[int]:
        ids = [self.stoi.get(t, self.unk_id) for t in tokens]
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids) -> list[str]:
        """Tokens of ``ids`` up to the first ``<eos>``, without ``<pad>`` and ``<bos>``."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise IndexError(f"Vocab.decode: id {i} is out of range for a vocabulary of size {len(self.itos)}")
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                out.append(self.itos[i])
        return out


def tokenize_source(text: str) -> list[str]:
    """Source side is word-level."""
    return text.split()


def tokenize_target(text: str) -> list[str]:
    """Target side is character-level."""
    return list(text)


def detokenize_target(tokens) -> str:
    return "".join(tokens)


# ----------------------------------------------------------------------------- the dataset
@dataclass
class TranslationTask:
    train: list            # [(source text, target text)]
    valid: list
    test: list
    src_vocab: Vocab
    tgt_vocab: Vocab

    def encode_pair(self, src: str, tgt: str):
        """(source ids, target ids + <eos>)."""
        return (self.src_vocab.encode(tokenize_source(src)),
                self.tgt_vocab.encode(tokenize_target(tgt), add_eos=True))

    def decode_target(self, ids) -> str:
        return detokenize_target(self.tgt_vocab.decode(ids))


def all_dates() -> list[datetime.date]:
    n = (LAST_DATE - FIRST_DATE).days + 1
    return [FIRST_DATE + datetime.timedelta(days=i) for i in range(n)]


def make_dates_task(n_train: int = 20000, n_valid: int = 500, n_test: int = 1000, seed: int = 0,
                    joint_vocab: bool = False) -> TranslationTask:
    """Split the 73,049 dates into disjoint train/valid/test sets and word each one.

    ``joint_vocab=True`` gives both sides the same vocabulary (words and characters together), which is
    what a model with shared source/target embeddings needs.
    """
    dates = all_dates()
    if min(n_train, n_valid, n_test) < 0 or n_train + n_valid + n_test > len(dates):
        raise ValueError(f"make_dates_task: sizes train={n_train}, valid={n_valid}, test={n_test} must be >= 0 "
                         f"and add up to at most {len(dates)} dates")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(dates))
    templates = rng.integers(0, 2, size=len(dates))           # wording of each date, fixed by the seed
    variants = rng.integers(0, 2, size=len(dates))

    def pairs(idx):
        return [(date_to_words(dates[i], int(templates[i]), int(variants[i])), date_to_iso(dates[i])) for i in idx]

    test = pairs(order[:n_test])
    valid = pairs(order[n_test:n_test + n_valid])
    train = pairs(order[n_test + n_valid:n_test + n_valid + n_train])
    # the vocabularies cover every wording of every date, so no split ever meets <unk>
    src_tokens = set(MONTHS) | set(_UNITS[1:]) | set(_TEENS) | set(_TENS.values()) | set(_ORDINAL_UNITS[1:]) \
        | set(_ORDINAL_TEENS) | set(_ORDINAL_TENS.values()) | {"the", "of", "and", "oh", "hundred", "thousand"}
    tgt_tokens = set("0123456789-")
    if joint_vocab:
        src_vocab = tgt_vocab = Vocab(src_tokens | tgt_tokens)
    else:
        src_vocab, tgt_vocab = Vocab(src_tokens), Vocab(tgt_tokens)
    return TranslationTask(train, valid, test, src_vocab, tgt_vocab)


def pad_batch(seqs, pad_id: int = 0):
    """Right-pad integer sequences into a (B, T) int64 array."""
    T = max((len(s) for s in seqs), default=0)
    out = np.full((len(seqs), T), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out


def make_batch(task: TranslationTask, pairs):
    """Encoded, padded batch: ``src`` (B, S), ``tgt_in`` = <bos> y (B, T), ``tgt_out`` = y <eos> (B, T)."""
    src, tgt = zip(*(task.encode_pair(s, t) for s, t in pairs))
    tv = task.tgt_vocab
    tgt_in = pad_batch([[tv.bos_id] + t[:-1] for t in tgt], tv.pad_id)
    tgt_out = pad_batch(list(tgt), tv.pad_id)
    return pad_batch(list(src), task.src_vocab.pad_id), tgt_in, tgt_out
