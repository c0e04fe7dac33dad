r"""The Unicode Character Database the tokenizers read: one pinned version, in one place.

Whether a character is a letter, a number, punctuation or a nonspacing mark decides where a tokenizer
cuts: GPT-2's pattern splits ``"x's"`` into ``'x'`` + ``"'s"`` only when ``x`` is a letter (``\p{L}``).
A reference implementation answers from the tables it was built with, so our answers must come from
the *same Unicode version*, not from whatever the running Python ships (Python 3.11's ``unicodedata``
is Unicode 14.0; tiktoken's Rust regex engine uses 16.0, where 9,392 more code points are letters or
numbers). Every character class of the tokenizers is read here:

- :data:`table` is the ``unicodedata2`` backport pinned at :data:`UNICODE_VERSION` (16.0.0, what
  tiktoken uses): :func:`category` and :func:`normalize` read it. The newest ``unicodedata2`` is *not*
  what we want: 18.0 disagrees with tiktoken on 17,480 code points. A different version fails at import.
- :func:`category_v8` answers as Unicode 8.0 did, for the classes BERT's tokenizer asks about
  (punctuation P*, nonspacing marks Mn, controls Cc/Cf/Co): Hugging Face ``tokenizers`` reads those
  from the Rust crate ``unicode_categories`` 0.1, whose tables are Unicode 8.0. A character assigned
  since is unassigned (Cn) there, so it is neither stripped as an accent nor split off as punctuation.

``tests/test_tokenizers_unicode.py`` encodes every one of the 1,112,064 code points in several contexts
with both references, so a version bump on either side shows up as a failing test.
"""
from __future__ import annotations

from functools import lru_cache

try:
    import unicodedata2 as table
except ImportError as e:                                   # pragma: no cover - a packaging error
    raise ImportError("tinygrad_llm.tokenizers needs the Unicode 16.0 tables: pip install 'unicodedata2==16.0.0'") from e

UNICODE_VERSION = "16.0.0"
if table.unidata_version != UNICODE_VERSION:               # pragma: no cover - a packaging error
    raise ImportError(f"tinygrad_llm.tokenizers: unicodedata2 {table.unidata_version} is installed, but the "
                      f"tokenizers must read Unicode {UNICODE_VERSION} (tiktoken's version); "
                      f"pip install 'unicodedata2=={UNICODE_VERSION}'")

category = table.category


def normalize(form: str, text: str) -> str:
    """Unicode normal form (NFC, NFD, NFKC, NFKD) from the pinned table."""
    return table.normalize(form, text)


def is_surrogate(o: int) -> bool:
    return 0xD800 <= o <= 0xDFFF


def char_class(pred, limit: int = 0x110000) -> str:
    """A regex character-class body (without brackets) for every code point below ``limit`` where
    ``pred(chr(o))`` holds, as ranges ``\\Uxxxxxxxx-\\Uyyyyyyyy`` (surrogates excluded)."""
    out, start = [], None
    for o in range(limit):
        ok = not is_surrogate(o) and pred(chr(o))
        if ok and start is None:
            start = o
        elif not ok and start is not None:
            out.append((start, o - 1))
            start = None
    if start is not None:
        out.append((start, limit - 1))
    esc = lambda o: f"\\U{o:08x}"                                     # noqa: E731
    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in out)


# Unicode's White_Space property: the separators Zs, Zl, Zp and the controls tab..CR and NEL. (Python's
# str.isspace() adds U+001C..U+001F, which are not White_Space.) It has not changed since Unicode 6.
WHITE_SPACE = frozenset([c for c in map(chr, range(0x3001)) if category(c) in ("Zs", "Zl", "Zp")]
                        + list("\t\n\x0b\x0c\r\x85"))


# ---------------------------------------------------------------------------------------------------------
# Unicode 8.0, as far as BERT's classes go (Hugging Face tokenizers' `unicode_categories` crate)
# ---------------------------------------------------------------------------------------------------------
# Code points that Unicode 16.0 puts in P*, Mn, Cc, Cf or Co but that were assigned after Unicode 8.0
# (Unicode's DerivedAge), in hexadecimal ranges: 611 code points.
_ASSIGNED_AFTER_V8 = """
61D 7FD 890-891 897-89F 8CA-8E2 9FD-9FE A76 AFA-AFF B55 C04 C3C C77 C84 D00 D3B-D3C D81 EBA ECE
180F 1ABF-1ACE 1B4E-1B4F 1B7D-1B7F 1DF6-1DFB 2E43-2E4F 2E52-2E5D A82C A8C5 A8FF 10D24-10D27
10D69-10D6E 10EAB-10EAD 10EFC-10EFF 10F46-10F50 10F55-10F59 10F82-10F89 11070 11073-11074 110C2
110CD 111CF 1123E 11241 1133B 113BB-113C0 113CE 113D0 113D2 113D4-113D5 113D7-113D8 113E1-113E2
11438-1143F 11442-11444 11446 1144B-1144F 1145A-1145B 1145D-1145E 11660-1166C 116B9 1182F-11837
11839-1183B 1193B-1193C 1193E 11943-11946 119D4-119D7 119DA-119DB 119E0 119E2 11A01-11A0A
11A33-11A38 11A3B-11A47 11A51-11A56 11A59-11A5B 11A8A-11A96 11A98-11A9C 11A9E-11AA2 11B00-11B09
11BE1 11C30-11C36 11C38-11C3D 11C3F 11C41-11C45 11C70-11C71 11C92-11CA7 11CAA-11CB0 11CB2-11CB3
11CB5-11CB6 11D31-11D36 11D3A 11D3C-11D3D 11D3F-11D45 11D47 11D90-11D91 11D95 11D97 11EF3-11EF4
11EF7-11EF8 11F00-11F01 11F36-11F3A 11F40 11F42-11F4F 11F5A 11FFF 12FF1-12FF2 13430-13440
13447-13455 1611E-16129 1612D-1612F 16D6D-16D6F 16E97-16E9A 16F4F 16FE2 16FE4 1CF00-1CF2D
1CF30-1CF46 1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E08F 1E130-1E136 1E2AE
1E2EC-1E2EF 1E4EC-1E4EF 1E5EE-1E5EF 1E5FF 1E944-1E94A 1E95E-1E95F
"""
# Characters that changed category between 8.0 and 16.0, into or out of those classes: their 8.0 category.
_CHANGED_SINCE_V8 = {0x166D: "Po", 0x1734: "Mn", 0x1885: "Lo", 0x1886: "Lo", 0xA9BD: "Mc", 0x111C9: "Po",
                     0x1171E: "Mn"}


@lru_cache(maxsize=1)
def _v8_unassigned() -> frozenset:
    out = set()
    for item in _ASSIGNED_AFTER_V8.split():
        lo, _, hi = item.partition("-")
        out.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return frozenset(out)


def category_v8(c: str) -> str:
    """General category as Unicode 8.0 had it, exact for the question "is it P*, Mn, Cc, Cf or Co?"
    (other categories are 16.0's): what Hugging Face's BERT normalizer and pre-tokenizer read."""
    o = ord(c)
    if o in _CHANGED_SINCE_V8:
        return _CHANGED_SINCE_V8[o]
    if o in _v8_unassigned():
        return "Cn"
    return category(c)
