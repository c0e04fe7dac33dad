r"""The plays as dialogue: who says what, and the sentences they say.

A play of the corpus is a sequence of blocks separated by blank lines. A block that starts with a
speaker's name on a line of its own (``OLIVIA.``, ``KING HENRY.``, ``Ham.``, ``HELENA``) opens a *turn*;
a block without one (the speech goes on after a stage direction) continues the turn before it. Stage
directions (``[Exit.]``, ``[Enter VIOLA.]``) are dropped. Editions differ in how they print names (upper
case or abbreviated, with or without a full stop), so a short line counts as a name only if it opens at
least ``min_turns`` blocks of its play — a line like ``Farewell.`` opening one block is speech.

Sentences are cut after ``.``, ``?`` or ``!``,
$$\text{speech} = s_1\,s_2 \cdots s_n,\qquad s_i \text{ ends in } \{.\ ?\ !\},$$
and ``question_sentences`` labels those that end in a question mark (1) or a full stop (0) and removes that
last mark, so a classifier must tell a question from a statement by its words and their order —
*Is he come* against *He is come* — not by the punctuation.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

_DIRECTION = re.compile(r"\[[^\]]*\]", re.S)
_NAME = re.compile(r"^[A-Z][A-Za-z'&\- ]{0,38}\.?$")
_SENTENCE = re.compile(r"(?<=[.?!])\s+")
_HEADING = re.compile(r"^(ACT|SCENE|PROLOGUE|EPILOGUE|PERSONS|DRAMATIS|INDUCTION|CHORUS)\b", re.I)


def _blocks(text: str) -> list[list[str]]:
    text = _DIRECTION.sub(" ", text)
    out = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if lines:
            out.append(lines)
    return out


def _name_like(line: str) -> bool:
    return bool(_NAME.match(line)) and len(line.split()) <= 4 and not _HEADING.match(line)


def turns(text: str, min_turns: int = 3) -> list[tuple[str, str]]:
    """``[(speaker, speech), ...]`` in play order; the speaker as printed without its full stop."""
    blocks = _blocks(text)
    counts = Counter(b[0].rstrip(".") for b in blocks if len(b) >= 2 and _name_like(b[0]))
    names = {n for n, c in counts.items() if c >= min_turns}
    out: list[list[str]] = []
    for b in blocks:
        head = b[0].rstrip(".")
        if _HEADING.match(b[0]):                                 # ACT I. / SCENE II. A room in the palace
            continue
        if len(b) >= 2 and head in names:
            out.append([head, " ".join(b[1:])])
        elif out and not _name_like(b[0]):
            out[-1][1] += " " + " ".join(b)                     # the speech goes on after a stage direction
    return [(s, re.sub(r"\s+", " ", t).strip()) for s, t in out if t.strip()]


def sentences(speech: str) -> list[str]:
    """The sentences of a speech (cut after ``.``, ``?``, ``!``)."""
    return [s.strip() for s in _SENTENCE.split(speech) if s.strip()]


def question_sentences(text: str, min_words: int = 4, max_words: int = 16) -> list[tuple[str, int]]:
    """``[(sentence without its final mark, 1 if it was a question else 0), ...]`` from the turns of a play:
    sentences of ``min_words``..``max_words`` words that start with a capital letter and end in ``?`` or
    ``.`` and contain no other sentence mark."""
    out = []
    for _, speech in turns(text):
        for s in sentences(speech):
            s = s.strip("'\" ")
            if len(s) < 2 or s[-1] not in ".?" or not s[0].isupper() or re.search(r"[.?!]", s[:-1].replace("--", " ")):
                continue
            words = s[:-1].split()
            if min_words <= len(words) <= max_words:
                out.append((" ".join(words).rstrip(",;:-"), int(s[-1] == "?")))
    return out


def balanced_sample(rows, n: int, rng: np.random.Generator, n_classes: int = 2):
    """``n`` rows (``row[1]`` is the label), as close to equally many of each class as the rows allow,
    in random order."""
    by = [[r for r in rows if r[1] == c] for c in range(n_classes)]
    take = [min(len(b), n // n_classes + (c < n % n_classes)) for c, b in enumerate(by)]
    picked = [b[i] for b, k in zip(by, take) for i in sorted(rng.choice(len(b), size=k, replace=False))]
    return [picked[i] for i in rng.permutation(len(picked))]
