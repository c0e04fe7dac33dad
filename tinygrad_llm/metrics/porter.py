r"""Porter stemmer (Porter, 1980) with NLTK's extensions — the stemmer behind rouge-score's ``use_stemmer=True``.

A word is read as alternating runs of consonants $C$ and vowels $V$ (``y`` is a vowel after a consonant):

$$w = [C]\,(VC)^{m}\,[V]$$

The *measure* $m$ of a stem counts its $VC$ pairs ("tree" $m=0$, "trouble" $m=1$, "private" $m=2$). Five
steps of suffix rules, each applying the first rule whose suffix matches and only if its condition on the
remaining stem holds (mostly $m > 0$ or $m > 1$), map inflected and derived forms onto one stem:
"relational" → "relat", "generalizations" → "gener", "running" → "run". NLTK's variant adds a table of
irregular forms ("dying" → "die"), keeps words of at most two letters, turns "-ies"/"-ied" into "-ie" in
four-letter words, turns "y" into "i" only after a consonant that is not the first letter, and adds the
step-2 rules "-fulli" → "-ful", "-logi" → "-log" and the recursive "-alli" → "-al".
"""
from __future__ import annotations

_VOWELS = frozenset("aeiou")
_IRREGULAR = {"skies": "sky", "sky": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
              "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
              "cannings": "canning", "canning": "canning", "howe": "howe", "proceed": "proceed",
              "exceed": "exceed", "succeed": "succeed"}


def _consonants(word: str) -> list[bool]:
    """True where word[i] is a consonant; 'y' is a consonant at the start or after a vowel."""
    flags = []
    for i, ch in enumerate(word):
        flags.append(not flags[i - 1] if ch == "y" and i > 0 else ch not in _VOWELS)
    return flags


# [start:measure]
def measure(stem: str) -> int:
    """m in [C](VC)^m[V]: the number of vowel runs followed by a consonant run."""
    cv = "".join("c" if c else "v" for c in _consonants(stem))
    return cv.count("vc")
# [end:measure]


def _has_vowel(stem: str) -> bool:
    return not all(_consonants(stem))


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _consonants(word)[-1]


def _cvc(word: str) -> bool:
    """Ends consonant-vowel-consonant with the last not w, x or y (or is a two-letter vowel-consonant word)."""
    f = _consonants(word)
    if len(word) >= 3 and f[-3] and not f[-2] and f[-1] and word[-1] not in "wxy":
        return True
    return len(word) == 2 and not f[0] and f[1]


def _first_rule(word: str, rules) -> str:
    """Apply the first rule whose suffix ends the word, if its condition holds on the stem."""
    for suffix, replacement, condition in rules:
        if word.endswith(suffix):
            stem = word[:len(word) - len(suffix)]
            return stem + replacement if condition(stem) else word
    return word


def _m_pos(stem): return measure(stem) > 0      # noqa: E704
def _m_gt1(stem): return measure(stem) > 1      # noqa: E704
def _always(stem): return True                  # noqa: E704


def _step1a(w: str) -> str:
    if w.endswith("ies") and len(w) == 4:
        return w[:-3] + "ie"
    return _first_rule(w, [("sses", "ss", _always), ("ies", "i", _always), ("ss", "ss", _always), ("s", "", _always)])


def _step1b(w: str) -> str:
    if w.endswith("ied"):
        return w[:-3] + ("ie" if len(w) == 4 else "i")
    if w.endswith("eed"):
        return w[:-1] if measure(w[:-3]) > 0 else w
    for suffix in ("ed", "ing"):
        if w.endswith(suffix) and _has_vowel(w[:-len(suffix)]):
            s = w[:-len(suffix)]
            break
    else:
        return w
    if s.endswith(("at", "bl", "iz")):
        return s + "e"
    if _double_consonant(s):
        return s if s[-1] in "lsz" else s[:-1]
    return s + "e" if measure(s) == 1 and _cvc(s) else s


def _step1c(w: str) -> str:
    if w.endswith("y") and len(w) > 2 and _consonants(w[:-1])[-1]:
        return w[:-1] + "i"
    return w


_STEP2 = [("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
          ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"),
          ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"),
          ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful")]


def _step2(w: str) -> str:
    if w.endswith("alli") and measure(w[:-4]) > 0:
        return _step2(w[:-4] + "al")
    rules = [(s, r, _m_pos) for s, r in _STEP2] + [("logi", "log", lambda stem: measure(stem + "l") > 0)]
    return _first_rule(w, rules)


_STEP3 = [("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", "")]
_STEP4 = ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism",
          "ate", "iti", "ous", "ive", "ize"]


def _step4(w: str) -> str:
    rules = [(s, "", (lambda stem: measure(stem) > 1 and stem[-1:] in ("s", "t")) if s == "ion" else _m_gt1)
             for s in _STEP4]
    return _first_rule(w, rules)


def _step5(w: str) -> str:
    if w.endswith("e"):
        m = measure(w[:-1])
        if m > 1 or (m == 1 and not _cvc(w[:-1])):
            w = w[:-1]
    if w.endswith("ll") and measure(w[:-1]) > 1:
        w = w[:-1]
    return w


# [start:stem]
def stem(word: str) -> str:
    """The Porter stem of a word (lowercased), as ``nltk.stem.PorterStemmer().stem(word)``."""
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(word) <= 2:
        return w
    w = _step1c(_step1b(_step1a(w)))
    w = _first_rule(_step2(w), [(s, r, _m_pos) for s, r in _STEP3])
    return _step5(_step4(w))
# [end:stem]
