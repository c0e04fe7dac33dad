r"""Text cleaning shared by the tokenizers: Unicode normalisation, accents, control characters, whitespace.

Unicode can write the same text in several ways ("é" is one code point U+00E9 or "e" + the combining
acute accent U+0301). Normalisation picks one: NFC composes, NFD decomposes. Accent stripping is
decomposition followed by dropping every nonspacing mark (category Mn):
$$\mathrm{strip}(s) = \big[\,c \in \mathrm{NFD}(s) : \mathrm{cat}(c) \neq \mathrm{Mn}\,\big]$$
so "Café" becomes "Cafe". The character classes below follow BERT (and Hugging Face ``tokenizers``):
whitespace is the Unicode ``White_Space`` property (tab, newline and carriage return included),
control characters are the categories Cc, Cf and Co other than tab/newline/carriage return,
punctuation is every ASCII symbol (``$``, ``+``, ``<`` ... too) and every character of a P* category,
and "Chinese" characters are the CJK ideograph blocks, which BERT splits one character at a time.
Categories come from the pinned Unicode table of :mod:`.ucd` (16.0), never from the running Python's
``unicodedata``. BERT's own steps (``bert_*`` below) read Unicode 8.0's punctuation, nonspacing marks
and controls instead, because that is what Hugging Face ``tokenizers`` reads (see :mod:`.ucd`).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from . import ucd

# Unicode White_Space (what Rust's char::is_whitespace and \s in tiktoken's regex mean). Python's
# str.isspace() differs: it adds U+001C..U+001F, so it is not used.
WHITESPACE = ucd.WHITE_SPACE
_CONTROL_CATEGORIES = ("Cc", "Cf", "Co", "Cs")
# CJK Unified Ideographs (+ extensions A-F) and the compatibility blocks. Extension E starts at U+2B820;
# Hugging Face ``tokenizers`` writes U+2B920, so U+2B820..U+2B91F are not split there and, to produce
# the same ids, not here either.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def normalize(text: str, form: str = "NFC") -> str:
    """Unicode normal form ``NFC``, ``NFD``, ``NFKC`` or ``NFKD``."""
    if form not in ("NFC", "NFD", "NFKC", "NFKD"):
        raise ValueError(f"normalize: unknown Unicode normal form {form!r} (NFC, NFD, NFKC, NFKD)")
    return ucd.normalize(form, text)


def strip_accents(text: str) -> str:
    """Decompose (NFD) and drop the nonspacing marks: 'Crème brûlée' -> 'Creme brulee'."""
    return "".join(c for c in ucd.normalize("NFD", text) if ucd.category(c) != "Mn")


def is_whitespace(c: str) -> bool:
    return c in WHITESPACE


def is_control(c: str) -> bool:
    """A control, format, private-use or unassigned character (tab, newline, CR are whitespace instead)."""
    if c in "\t\n\r":
        return False
    return ucd.category(c) in _CONTROL_CATEGORIES


def is_punctuation(c: str) -> bool:
    o = ord(c)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:     # every ASCII symbol
        return True
    return ucd.category(c).startswith("P")


def is_chinese_char(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in _CJK_RANGES)


def remove_control_chars(text: str) -> str:
    """Drop control/format characters, NUL and the replacement character U+FFFD; keep tab/newline/CR."""
    return "".join(c for c in text if not (c == "\x00" or c == "\ufffd" or is_control(c)))


def normalize_whitespace(text: str, collapse: bool = True) -> str:
    """Every whitespace character becomes a space; with ``collapse``, runs become one space and the ends
    are stripped."""
    text = "".join(" " if c in WHITESPACE else c for c in text)
    return " ".join(text.split(" ")) if not collapse else " ".join(w for w in text.split(" ") if w)


# ---- BERT's classes: Unicode 8.0's punctuation, nonspacing marks and controls (as Hugging Face reads them)
def bert_is_control(c: str) -> bool:
    """BERT's control test: Cc, Cf or Co in Unicode 8.0, tab/newline/CR excepted (they are whitespace)."""
    return c not in "\t\n\r" and ucd.category_v8(c) in ("Cc", "Cf", "Co")


def bert_is_punctuation(c: str) -> bool:
    """BERT's punctuation: every ASCII symbol, and every P* character of Unicode 8.0."""
    o = ord(c)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return True
    return ucd.category_v8(c).startswith("P")


class BertPatterns(NamedTuple):
    drop: re.Pattern          # characters BERT's cleaning removes
    space: re.Pattern         # one whitespace character
    chinese: re.Pattern       # one CJK ideograph
    marks: re.Pattern         # Unicode 8.0 nonspacing marks
    words: re.Pattern         # a run of neither whitespace nor punctuation, or one punctuation character


@lru_cache(maxsize=1)
def bert_patterns() -> BertPatterns:
    """BERT's classes as compiled patterns, built once from the table: a regex tests a character in C
    instead of a Python call per character (the same classes as the functions above)."""
    drop = ucd.char_class(lambda c: c in "\x00\ufffd" or bert_is_control(c))
    space = "".join(re.escape(c) for c in sorted(WHITESPACE))
    chinese = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _CJK_RANGES)
    marks = ucd.char_class(lambda c: ucd.category_v8(c) == "Mn")
    punct = ucd.char_class(bert_is_punctuation)
    return BertPatterns(re.compile(f"[{drop}]+"), re.compile(f"[{space}]"), re.compile(f"([{chinese}])"),
                        re.compile(f"[{marks}]+"), re.compile(f"[^{space}{punct}]+|[{punct}]"))


def bert_strip_accents(text: str) -> str:
    """BERT's accent stripping: NFD, then drop Unicode 8.0's nonspacing marks (Mn)."""
    return bert_patterns().marks.sub("", ucd.normalize("NFD", text))


def bert_split_chinese(text: str) -> str:
    """A space on each side of every CJK ideograph, so that each is a word of its own."""
    return bert_patterns().chinese.sub(r" \1 ", text)


def bert_clean(text: str) -> str:
    """BERT's cleaning step: drop control characters (Unicode 8.0's Cc, Cf, Co), NUL and U+FFFD, map
    every whitespace character to a space."""
    p = bert_patterns()
    return p.space.sub(" ", p.drop.sub("", text))


def clean_text(text: str, form: str = "NFC", lowercase: bool = False, accents: bool = True,
               collapse_whitespace: bool = True) -> str:
    """A cleaning pipeline for corpora: normalise, drop control characters, optionally lower-case and
    strip accents, tidy whitespace (keeping line breaks when ``collapse_whitespace`` is False)."""
    text = remove_control_chars(normalize(text, form))
    if not accents:
        text = strip_accents(text)
    if lowercase:
        text = text.lower()
    if collapse_whitespace:
        text = normalize_whitespace(text)
    return text
