r"""Character-level tokenizer: the vocabulary is the sorted set of characters of a corpus.

$$V = \mathrm{sorted}(\{c : c \in \text{corpus}\}),\qquad \mathrm{id}(c) = \text{position of } c \text{ in } V$$
A character outside $V$ is an error, or, with ``unk_token``, the id of that token (and then the round
trip loses it). Special tokens come first (ids 0, 1, ...), the characters after them.
"""
from __future__ import annotations

from .base import Tokenizer, TokenizerError, register


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
        self.itos = specials + chars
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise TokenizerError("CharTokenizer: duplicate vocabulary entries")
        self.special_tokens = {s: self.stoi[s] for s in specials}
        self.unk_token = unk_token

    @classmethod
    def train(cls, text: str, special_tokens=(), unk_token: str | None = None):
        """The vocabulary of ``text``: its distinct characters, sorted by code point."""
        return cls(sorted(set(text)), special_tokens, unk_token)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        stoi = self.stoi
        try:
            return [stoi[c] for c in text]
        except KeyError:
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
        return cls(d["chars"], d.get("special_tokens", ()), d.get("unk_token"))
