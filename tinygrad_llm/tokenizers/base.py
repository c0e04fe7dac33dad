r"""The interface every tokenizer shares, and saving/loading in plain JSON.

A tokenizer is a pair of maps between text and integer sequences,
$$\mathrm{encode}: \Sigma^* \to \{0, \dots, V-1\}^*,\qquad \mathrm{decode}(\mathrm{encode}(s)) = s$$
(the round trip holds exactly for the character tokenizer with a closed vocabulary and for byte-level
BPE; WordPiece lower-cases and drops whitespace, so it only holds up to that cleaning). Special tokens
(``<unk>``, ``<|endoftext|>``, ``[CLS]`` ...) are vocabulary entries that no ordinary text maps to.

``save(path)`` writes one JSON object ``{"type": ..., ...}`` (:func:`to_dict`); :func:`load` reads any of
them back, and :func:`from_dict` rebuilds one from such a dict (a checkpoint keeps its tokenizer that
way). The dict may come from an untrusted file: anything malformed is a :class:`TokenizerError`.

Lone surrogates (a Python ``str`` can hold U+D800..U+DFFF, valid Unicode text cannot) are read as
tiktoken reads them, by every tokenizer: see :func:`without_surrogates`.
"""
from __future__ import annotations

import json
import numbers
import pathlib
import re

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
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


_SURROGATE = re.compile("[\ud800-\udfff]")


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

    def _check_ids(self, ids, op: str = "decode") -> list[int]:
        """``ids`` as a list of Python ints, each in 0..vocab_size-1. Integers of any integer type (NumPy's
        too) are accepted; a float (even 2.0), a bool, a string or anything else is refused."""
        name, n = type(self).__name__, self.vocab_size
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TokenizerError(f"{name}.{op}: expected a sequence of token ids, got {type(ids).__name__}")
        out = []
        for i in ids:
            if type(i) is not int:
                if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                    raise TokenizerError(f"{name}.{op}: token id {i!r} is a {type(i).__name__}, not an integer")
                i = int(i)
            if not 0 <= i < n:
                raise TokenizerError(f"{name}.{op}: token id {i} out of range 0..{n - 1}")
            out.append(i)
        return out

    def save(self, path) -> None:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_dict(self), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path):
        tok = load(path)
        if cls is not Tokenizer and not isinstance(tok, cls):
            raise TokenizerError(f"{cls.__name__}.load: {path} holds a {type(tok).__name__}")
        return tok


def to_dict(tok: Tokenizer) -> dict:
    """``{"type": kind, ...}``: everything needed to rebuild ``tok`` with :func:`from_dict` (plain JSON types)."""
    return {"type": tok.kind, **tok.to_dict()}


def from_dict(d, where: str = "tokenizers.from_dict") -> Tokenizer:
    """Rebuild a tokenizer from :func:`to_dict`'s dict: ``d["type"]`` picks the class. The dict may come
    from an untrusted file (a checkpoint's metadata): an unknown type, a missing key, a value of the wrong
    type, an id out of bounds ... raise :class:`TokenizerError`, never a bare KeyError or TypeError."""
    if not isinstance(d, dict):
        raise TokenizerError(f"{where}: expected a dict with a 'type', got {type(d).__name__}")
    d = dict(d)
    kind = d.pop("type", None)
    if not isinstance(kind, str) or kind not in _REGISTRY:
        raise TokenizerError(f"{where}: unknown tokenizer type {kind!r} (known: {sorted(_REGISTRY)})")
    try:
        return _REGISTRY[kind].from_dict(d)
    except TokenizerError as e:
        raise TokenizerError(f"{where}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError,
            re.error) as e:
        raise TokenizerError(f"{where}: malformed {kind!r} tokenizer: {type(e).__name__}: {e}") from None


def load(path) -> Tokenizer:
    """Rebuild a tokenizer saved with ``save`` (the JSON's ``type`` picks the class)."""
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise TokenizerError(f"tokenizers.load: cannot read {path}: {e}") from e
    return from_dict(data, where=f"tokenizers.load: {path}")


# ---- checks for from_dict: a hostile dict fails with a clear message
def check_keys(d: dict, required, optional=()) -> None:
    missing = [k for k in required if k not in d]
    unknown = [k for k in d if k not in required and k not in optional]
    if missing or unknown:
        raise TokenizerError(f"missing keys {missing}, unknown keys {unknown}" if missing and unknown else
                             f"missing keys {missing}" if missing else f"unknown keys {unknown}")


def check_type(value, types, what: str):
    """``value`` if it is one of ``types`` (a bool is not an int here), else TokenizerError."""
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        want = " or ".join("None" if t is type(None) else t.__name__ for t in types)
        raise TokenizerError(f"{what} must be {want}, got {type(value).__name__}")
    return value


def check_str_list(value, what: str) -> list[str]:
    check_type(value, (list, tuple), what)
    for v in value:
        check_type(v, str, f"every entry of {what}")
    return list(value)


def check_ids(ids, n_entries: int, what: str) -> None:
    """Token ids of a vocabulary: distinct ints >= 0, with at most as many holes as entries (so that a
    hostile id like 10**12 cannot make a tokenizer allocate a table of that size)."""
    limit = 2 * n_entries + 256
    seen = set()
    for i in ids:
        if type(i) is not int or not 0 <= i < limit:
            raise TokenizerError(f"{what}: id {i!r} is not an integer in 0..{limit - 1}")
        if i in seen:
            raise TokenizerError(f"{what}: id {i} is used twice")
        seen.add(i)
