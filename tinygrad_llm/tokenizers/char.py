r"""Character-level tokenizer: the vocabulary is the sorted set of characters of a corpus.

$$V = \mathrm{sorted}(\{c : c \in \text{corpus}\}),\qquad \mathrm{id}(c) = \text{position of } c \text{ in } V$$
A character outside $V$ is an error, or, with ``unk_token``, the id of that token (and then the round
trip loses it). Special tokens come first (ids 0, 1, ...), the characters after them.

Lone surrogates (a Python ``str`` can hold them, valid Unicode text cannot) are read as every tokenizer
here reads them, as tiktoken does: as UTF-16, so a pair is the character it encodes and a lone one is
U+FFFD (``base.without_surrogates``); a vocabulary never holds a surrogate.
"""
from __future__ import annotations

from .base import (Tokenizer, TokenizerError, check_keys, check_str_list, check_type, register,
                   without_surrogates)


@register
class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, chars, special_tokens=(), unk_token: str | None = None):
        specials = list(special_tokens)
        if unk_token is not None and unk_token not in specials:
            specials.insert(0, unk_token)
        chars = [c for c in chars if c not in specials]
        if any(len(c) != 1 for c in chars):
            raise TokenizerError("CharTokenizer: every vocabulary entry must be a single character")
        if any(0xD800 <= ord(c) <= 0xDFFF for c in chars):
            raise TokenizerError("CharTokenizer: a surrogate is not a character (see without_surrogates)")
        self.itos = specials + chars
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise TokenizerError("CharTokenizer: duplicate vocabulary entries")
        self.special_tokens = {s: self.stoi[s] for s in specials}
        self.unk_token = unk_token

    @classmethod
    def train(cls, text: str, special_tokens=(), unk_token: str | None = None):
        """The vocabulary of ``text``: its distinct characters, sorted by code point."""
        return cls(sorted(set(without_surrogates(text))), special_tokens, unk_token)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        stoi = self.stoi
        try:
            return [stoi[c] for c in text]
        except KeyError:
            if without_surrogates(text) is not text:
                return self.encode(without_surrogates(text))
            if self.unk_token is None:
                bad = sorted({c for c in text if c not in stoi})
                raise TokenizerError(f"CharTokenizer.encode: characters not in the vocabulary: {bad!r} "
                                     f"(build with unk_token='<unk>' to map them to an unknown id)") from None
            unk = stoi[self.unk_token]
            return [stoi.get(c, unk) for c in text]

    def decode(self, ids) -> str:
        return "".join(self.itos[i] for i in self._check_ids(ids))

    def to_dict(self) -> dict:
        specials = list(self.special_tokens)
        return {"special_tokens": specials, "unk_token": self.unk_token, "chars": self.itos[len(specials):]}

    @classmethod
    def from_dict(cls, d: dict):
        """From :meth:`to_dict`'s dict, checked entry by entry (it may come from an untrusted file)."""
        check_keys(d, ("chars",), ("special_tokens", "unk_token"))
        chars = check_str_list(d["chars"], "chars")
        specials = check_str_list(d.get("special_tokens", []), "special_tokens")
        return cls(chars, specials, check_type(d.get("unk_token"), (str, type(None)), "unk_token"))
