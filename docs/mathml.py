"""LaTeX to MathML at build time, so the site shows formulas with no script and no network.

`pymdownx.arithmatex` (generic mode) finds the math in a page (``$...$``, ``$$...$$``, ``\\(...\\)``)
and leaves it as ``<span class="arithmatex">\\(...\\)</span>`` or ``<div class="arithmatex">\\[...\\]</div>``;
``render_html`` replaces each with MathML from `latex2mathml`, which every current browser draws natively.
A formula that does not convert cleanly raises ``MathError`` (the docs hook turns it into a build warning,
so ``mkdocs build --strict`` fails instead of publishing raw LaTeX).
"""
from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

# Commands latex2mathml does not know, written with ones it does.
_REWRITE = [(re.compile(r"\\arg(?![A-Za-z])"), r"\\mathrm{arg}")]

# mathvariant values other than "normal" are not drawn by Chromium (MathML Core): use the Unicode letters.
_LATIN = {  # variant: (offset of 'A', offset of 'a', exceptions)
    "bold": (0x1D400, 0x1D41A, {}),
    "italic": (0x1D434, 0x1D44E, {"h": 0x210E}),
    "bold-italic": (0x1D468, 0x1D482, {}),
    "script": (0x1D49C, 0x1D4B6, {"B": 0x212C, "E": 0x2130, "F": 0x2131, "H": 0x210B, "I": 0x2110, "L": 0x2112,
                                  "M": 0x2133, "R": 0x211B, "e": 0x212F, "g": 0x210A, "o": 0x2134}),
    "double-struck": (0x1D538, 0x1D552, {"C": 0x2102, "H": 0x210D, "N": 0x2115, "P": 0x2119, "Q": 0x211A,
                                         "R": 0x211D, "Z": 0x2124}),
    "fraktur": (0x1D504, 0x1D51E, {"C": 0x212D, "H": 0x210C, "I": 0x2111, "R": 0x211C, "Z": 0x2128}),
}
_GREEK = {"bold": (0x1D6A8, 0x1D6C2), "italic": (0x1D6E2, 0x1D6FC), "bold-italic": (0x1D71C, 0x1D736)}


class MathError(ValueError):
    """A formula that latex2mathml could not turn into clean MathML."""


def _styled(variant: str, text: str) -> str | None:
    out = []
    for ch in text:
        if variant in _LATIN and ch.isascii() and ch.isalpha():
            upper, lower, special = _LATIN[variant]
            out.append(chr(special.get(ch) or (upper + ord(ch) - 65 if ch.isupper() else lower + ord(ch) - 97)))
        elif variant in _GREEK and "\u0391" <= ch <= "\u03a9":
            out.append(chr(_GREEK[variant][0] + ord(ch) - 0x391))
        elif variant in _GREEK and "\u03b1" <= ch <= "\u03c9":
            out.append(chr(_GREEK[variant][1] + ord(ch) - 0x3B1))
        elif ch.isdigit() and variant == "bold":
            out.append(chr(0x1D7CE + ord(ch) - 48))
        else:
            return None
    return "".join(out)


def _variants(ml: str) -> str:
    def fix(m):
        variant, text = m.group(2), html.unescape(m.group(3))
        styled = _styled(variant, text)
        return m.group(0) if styled is None else f"<{m.group(1)}>{html.escape(styled)}</{m.group(1)}>"

    return re.sub(r'<(mi|mn) mathvariant="((?!normal")[\w-]+)">([^<]*)</\1>', fix, ml)


def _upright_words(ml: str) -> str:
    """``\\mathrm{softmax}`` comes out one ``<mi mathvariant="normal">`` per letter; a run is one word."""
    run = re.compile(r'(?:<mi mathvariant="normal">[^<]*</mi>){2,}')
    return run.sub(lambda m: "<mi>" + "".join(re.findall(r">([^<]*)</mi>", m.group(0))) + "</mi>", ml)


def to_mathml(tex: str, display: bool = False) -> str:
    """MathML for one formula (without delimiters); ``display`` for a block formula."""
    src = tex.strip()
    for pattern, repl in _REWRITE:
        src = pattern.sub(repl, src)
    try:
        ml = convert(src, display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises its own exception types and plain ones
        raise MathError(f"cannot convert {tex!r}: {type(exc).__name__}: {exc}") from exc
    text = "".join(re.findall(r">([^<]+)<", ml))
    if "\\" in html.unescape(text) or "<merror" in ml:
        raise MathError(f"cannot convert {tex!r}: a command was left as text")
    return _upright_words(_variants(ml))


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def separate_display_math(markdown: str) -> str:
    """Put a blank line before a line that opens ``$$`` and after a line that closes it, outside code fences.

    ``$$a$$`` and ``$$b$$`` on consecutive lines (as docstrings often write them) would otherwise be read as
    one display block from the first ``$$`` to the last."""
    out, fence, in_math = [], None, False
    for line in markdown.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and line.strip().startswith(fence[0] * len(fence)):
            fence = None
            out.append(line)
            continue
        if fence is not None:
            out.append(line)
            continue
        stripped = line.strip()
        opens = stripped.startswith("$$") and not in_math
        if opens and out and out[-1].strip():
            out.append("")
        out.append(line)
        count = stripped.count("$$")
        if count % 2 == 1:
            in_math = not in_math
        if stripped.endswith("$$") and not in_math and (opens or count % 2 == 1):
            out.append("")
    return "\n".join(out)


_ARITHMATEX = re.compile(r'<(span|div) class="arithmatex">(?P<body>.*?)</\1>', re.S)
_DELIMS = {"\\(": ("\\)", False), "\\[": ("\\]", True)}


def render_html(text: str, on_error=None) -> str:
    """Replace every arithmatex span/div in ``text`` by MathML; ``on_error(message)`` for each failure."""

    def sub(m):
        body = html.unescape(m.group("body")).strip()
        end, display = _DELIMS.get(body[:2], (None, False))
        if end is None or not body.endswith(end):
            if on_error:
                on_error(f"unexpected math markup {body[:60]!r}")
            return m.group(0)
        try:
            ml = to_mathml(body[2:-2], display=display)
        except MathError as exc:
            if on_error:
                on_error(str(exc))
            return m.group(0)
        tag = "div" if display and m.group(1) == "div" else "span"
        return f'<{tag} class="arithmatex">{ml}</{tag}>'

    return _ARITHMATEX.sub(sub, text)
