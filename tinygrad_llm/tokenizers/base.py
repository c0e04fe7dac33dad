r"""The interface every tokenizer shares, and saving/loading in plain JSON.

A tokenizer is a pair of maps between text and integer sequences,
$$\mathrm{encode}: \Sigma^* \to \{0, \dots, V-1\}^*,\qquad \mathrm{decode}(\mathrm{encode}(s)) = s$$
(the round trip holds exactly for the character tokenizer with a closed vocabulary and for byte-level
BPE; WordPiece lower-cases and drops whitespace, so it only holds up to that cleaning). Special tokens
(``<unk>``, ``<|endoftext|>``, ``[CLS]`` ...) are vocabulary entries that no ordinary text maps to.

``save(path)`` writes one JSON object ``{"type": ..., ...}``; :func:`load` reads any of them back.
"""
from __future__ import annotations

import json
import pathlib

_REGISTRY: dict[str, type] = {}


class TokenizerError(ValueError):
    """Text or ids a tokenizer cannot handle (an unknown character, an id out of range, a bad file)."""


def merge_pair(symbols: list, a, b, merged) -> list:
    """``symbols`` with every adjacent ``(a, b)``, left to right, replaced by ``merged`` (the BPE merge step,
    shared by BPE encoding and by the BPE and WordPiece trainers)."""
    # [start:merge-pair]
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
            out.append(merged)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    # [end:merge-pair]
    return out


def without_surrogates(text: str) -> str:
    """``text`` with its surrogate code points resolved as tiktoken does: the string is read as UTF-16, so a
    high + low surrogate pair becomes the one character it encodes and any other (lone) surrogate
    becomes U+FFFD. A Python ``str`` can hold surrogates; valid Unicode text (and UTF-8) cannot."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def register(cls):
    """Class decorator: make ``load`` able to rebuild ``cls`` from its ``type`` name."""
    _REGISTRY[cls.kind] = cls
    return cls


class Tokenizer:
    kind = "base"

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids) -> str:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    special_tokens: dict[str, int] = {}

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict):
        raise NotImplementedError

    def __len__(self):
        return self.vocab_size

    def encode_batch(self, texts) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def _check_ids(self, ids, op: str = "decode"):
        ids = [int(i) for i in ids]
        for i in ids:
            if not 0 <= i < self.vocab_size:
                raise TokenizerError(f"{type(self).__name__}.{op}: token id {i} out of range 0..{self.vocab_size - 1}")
        return ids

    def save(self, path) -> None:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"type": self.kind, **self.to_dict()}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path):
        tok = load(path)
        if cls is not Tokenizer and not isinstance(tok, cls):
            raise TokenizerError(f"{cls.__name__}.load: {path} holds a {type(tok).__name__}")
        return tok


def load(path) -> Tokenizer:
    """Rebuild a tokenizer saved with ``save`` (the JSON's ``type`` picks the class)."""
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise TokenizerError(f"tokenizers.load: cannot read {path}: {e}") from e
    kind = data.pop("type", None) if isinstance(data, dict) else None
    if kind not in _REGISTRY:
        raise TokenizerError(f"tokenizers.load: {path}: unknown tokenizer type {kind!r} (known: {sorted(_REGISTRY)})")
    return _REGISTRY[kind].from_dict(data)
