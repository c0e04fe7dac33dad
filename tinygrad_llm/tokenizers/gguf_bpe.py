r"""The byte-level BPE tokenizer stored inside a GGUF file (``tokenizer.ggml.model == 'gpt2'``).

A GGUF file carries the vocabulary (``tokenizer.ggml.tokens``: strings over GPT-2's printable
byte alphabet, e.g. ``'Ġworld'`` for ``b' world'``), the merge list (``tokenizer.ggml.merges``,
``'Ġ w'`` ...) in priority order, and a type per token (3 = control, e.g. ``<|im_start|>``).
Encoding: cut out the control tokens, split the rest with GPT-2's pre-tokenisation pattern, map
each piece's UTF-8 bytes to the byte alphabet, then repeatedly merge the adjacent pair with the
lowest rank:
$$(a, b)^\star = \arg\min_{(a,b) \in \mathrm{pairs}(w)} \mathrm{rank}(a, b)$$
until no pair of the word is in the merge list. Decoding concatenates the token strings and maps the
alphabet back to bytes. A byte with no token of its own (SmolLM2's vocabulary lacks 21 of the 256,
e.g. 0xF1 and 0xF5-0xFF, which rarely or never occur in UTF-8) is dropped, as Hugging Face
``tokenizers`` does for a BPE without an unknown token.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

CONTROL = 3
_CONTRACTIONS = ("'re", "'ve", "'ll", "'s", "'t", "'m", "'d")


@lru_cache(maxsize=1)
def byte_alphabet():
    """GPT-2's map byte -> printable character: printable Latin-1 bytes map to themselves, the
    other 68 bytes to the characters 256, 257, ... (so a space is 'Ġ' = chr(288), a newline 'Ċ')."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _cls(c):
    if c.isspace() and c not in "\x1c\x1d\x1e\x1f":        # Unicode White_Space (str.isspace adds 1C-1F)
        return "S"
    cat = unicodedata.category(c)[0]
    return cat if cat in "LN" else "O"


def pretokenize(text: str):
    """GPT-2's split  's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
    written as a scanner (the standard ``re`` module has no \\p{L})."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "'":
            hit = next((s for s in _CONTRACTIONS if text.startswith(s, i)), None)
            if hit:
                out.append(hit)
                i += len(hit)
                continue
        j = i + 1 if (c == " " and i + 1 < n and _cls(text[i + 1]) != "S") else i
        k = _cls(text[j])
        if k != "S":                                   # ' ?' then a run of one class (L, N or other)
            e = j + 1
            while e < n and _cls(text[e]) == k:
                e += 1
            out.append(text[i:e])
            i = e
            continue
        e = i + 1                                      # whitespace run
        while e < n and _cls(text[e]) == "S":
            e += 1
        if e < n and e - i > 1:                        # \s+(?!\S): leave the last one for the next word
            e -= 1
        out.append(text[i:e])
        i = e
    return out


class GGUFTokenizer:
    def __init__(self, tokens, merges, token_types=None, bos_token_id=None, eos_token_id=None):
        self.tokens = list(tokens)
        self.vocab = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(merges)}
        types = list(token_types) if token_types is not None else [1] * len(self.tokens)
        self.special = {t: i for i, t in enumerate(self.tokens) if types[i] == CONTROL}
        self.bos_token_id, self.eos_token_id = bos_token_id, eos_token_id
        self._b2u = byte_alphabet()
        self._u2b = {u: b for b, u in self._b2u.items()}
        self._cache = {}

    @classmethod
    def from_gguf(cls, path):
        """From a GGUF file: a path or an open ``GGUFFile``."""
        from ..weights.gguf import GGUFError, GGUFFile
        md = (path if isinstance(path, GGUFFile) else GGUFFile(path)).metadata
        if md.get("tokenizer.ggml.model") != "gpt2":
            raise GGUFError(f"{path}: tokenizer model {md.get('tokenizer.ggml.model')!r} is not byte-level BPE ('gpt2')")
        for k in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges"):
            if k not in md:
                raise GGUFError(f"{path}: metadata key {k!r} is missing")
        return cls(md["tokenizer.ggml.tokens"], md["tokenizer.ggml.merges"], md.get("tokenizer.ggml.token_type"),
                   md.get("tokenizer.ggml.bos_token_id"), md.get("tokenizer.ggml.eos_token_id"))

    @property
    def vocab_size(self):
        return len(self.tokens)

    def token_to_id(self, token: str):
        return self.vocab.get(token)

    # [start:bpe]
    def _bpe(self, word: str):
        """Merge the lowest-ranked adjacent pair until none is in the merge list."""
        if word in self._cache:
            return self._cache[word]
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 60), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 60:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        ids = [self.vocab[p] for p in parts if p in self.vocab]   # a byte missing from the vocab is dropped
        self._cache[word] = ids
        return ids
    # [end:bpe]

    def _split_special(self, text):
        """Pieces of text, with control tokens (longest first) as their own pieces."""
        pieces = [(text, False)]
        for sp in sorted(self.special, key=len, reverse=True):
            nxt = []
            for s, is_sp in pieces:
                if is_sp or sp not in s:
                    nxt.append((s, is_sp))
                    continue
                for k, part in enumerate(s.split(sp)):
                    if k:
                        nxt.append((sp, True))
                    if part:
                        nxt.append((part, False))
            pieces = nxt
        return pieces

    def encode(self, text: str, add_bos: bool = False):
        ids = [self.bos_token_id] if add_bos and self.bos_token_id is not None else []
        for piece, is_special in self._split_special(text):
            if is_special:
                ids.append(self.special[piece])
                continue
            for word in pretokenize(piece):
                ids.extend(self._bpe("".join(self._b2u[b] for b in word.encode("utf-8"))))
        return ids

    def decode(self, ids):
        out, buf = [], bytearray()
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise IndexError(f"GGUFTokenizer.decode: token id {i} out of range 0..{len(self.tokens) - 1}")
            t = self.tokens[i]
            if t in self.special:
                out.append(buf.decode("utf-8", errors="replace") + t)
                buf = bytearray()
            else:
                buf.extend(self._u2b[ch] for ch in t)
        return "".join(out) + buf.decode("utf-8", errors="replace")
