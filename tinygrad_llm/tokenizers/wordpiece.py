r"""WordPiece, as in BERT: basic tokenizer + greedy longest-match sub-words, special tokens, pairs,
truncation and padding; and WordPiece vocabulary training.

**Basic tokenizer** (Hugging Face's ``BertNormalizer`` + ``BertPreTokenizer``): drop control characters
and map whitespace to spaces, put spaces around CJK ideographs, strip accents and lower-case (uncased
models), split on whitespace and make every punctuation character its own word (see ``cleaning.py``).
Punctuation, accents (nonspacing marks) and control characters are Unicode 8.0's, as Hugging Face reads
them (``ucd.category_v8``): equal ids on every code point. A lone surrogate (a Python ``str`` can hold
one) is read as every tokenizer here reads it, as tiktoken does: U+FFFD (a valid pair is the character
it encodes), which cleaning then drops; Hugging Face refuses such a string with a TypeError.

**Greedy longest match**: a word $w$ is cut left to right; at position $s$ the next piece is the longest
vocabulary entry that matches there (written with the prefix ``##`` when it does not start the word):
$$e = \max\{\,e' \in (s, \lvert w\rvert] : \pi(s)\,w_{s:e'} \in V\,\},\qquad \pi(0) = \varepsilon,\ \pi(s > 0) = \#\#$$
If no prefix of the rest is in $V$ (or $\lvert w\rvert > 100$ characters) the whole word becomes ``[UNK]``.

**Model input**: ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` with segment ids (token_type_ids) 0 for
the first part and 1 for the second, truncated "longest first" to ``max_length`` and padded with
``[PAD]`` (attention mask 0 there).

**Training** a vocabulary starts from every character (``##c`` inside words) and adds the merge of the
adjacent pair that raises the likelihood of the corpus most under a unigram model of the pieces. With
$c(\cdot)$ the counts and $N$ the number of pieces, merging $(a,b)$ gains about
$$\Delta \log \mathcal{L}(a, b) \approx c(ab)\,\log\frac{c(ab)\,N}{c(a)\,c(b)}$$
(``score='likelihood'``, the default): pairs that occur together far more often than chance,
weighted by how often they occur. Dropping the weight gives the ratio that many tutorials call the
WordPiece score (``score='ratio'``):
$$\mathrm{score}(a, b) = \frac{c(ab)}{c(a)\,c(b)}$$
which is largest (= 1) for pieces of words seen once, so on a real corpus it spends the vocabulary
on completing rare words.
"""
from __future__ import annotations

import math
import pathlib
from collections import Counter

from .base import (Tokenizer, TokenizerError, check_keys, check_str_list, check_type, merge_pair, register,
                   without_surrogates)
from .cleaning import bert_clean, bert_patterns, bert_split_chinese, bert_strip_accents

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class BasicTokenizer:
    """BERT's text -> words step (no vocabulary needed)."""

    def __init__(self, lowercase: bool = True, strip_accents: bool | None = None, clean_text: bool = True,
                 handle_chinese_chars: bool = True):
        self.lowercase, self.clean_text, self.handle_chinese_chars = lowercase, clean_text, handle_chinese_chars
        self.strip_accents = lowercase if strip_accents is None else strip_accents   # None: follow lowercase

    def normalize(self, text: str) -> str:
        text = without_surrogates(text)          # lone surrogates -> U+FFFD (which cleaning then drops)
        if self.clean_text:
            text = bert_clean(text)
        if self.handle_chinese_chars and not text.isascii():
            text = bert_split_chinese(text)
        if self.strip_accents and not text.isascii():
            text = bert_strip_accents(text)
        if self.lowercase:       # per character: no context rules (str.lower turns a final 'Σ' into 'ς')
            text = text.lower() if "Σ" not in text else "".join(c.lower() for c in text)
        return text

    def pre_tokenize(self, text: str) -> list[str]:
        """Split on whitespace; every punctuation character is a word of its own."""
        return bert_patterns().words.findall(text)

    def __call__(self, text: str) -> list[str]:
        return self.pre_tokenize(self.normalize(text))


@register
class WordPiece(Tokenizer):
    kind = "wordpiece"

    def __init__(self, vocab, unk_token: str = "[UNK]", cls_token: str = "[CLS]", sep_token: str = "[SEP]",
                 pad_token: str = "[PAD]", mask_token: str = "[MASK]", lowercase: bool = True,
                 strip_accents: bool | None = None, handle_chinese_chars: bool = True, clean_text: bool = True,
                 prefix: str = "##", max_input_chars_per_word: int = 100):
        self.vocab = {t: i for i, t in enumerate(vocab)} if not isinstance(vocab, dict) else dict(vocab)
        self.itos = {i: t for t, i in self.vocab.items()}
        for name, tok in (("unk_token", unk_token), ("cls_token", cls_token), ("sep_token", sep_token),
                          ("pad_token", pad_token)):
            if tok not in self.vocab:
                raise TokenizerError(f"WordPiece: {name} {tok!r} is not in the vocabulary")
        self.unk_token, self.cls_token, self.sep_token, self.pad_token = unk_token, cls_token, sep_token, pad_token
        self.mask_token = mask_token if mask_token in self.vocab else None
        self.special_tokens = {t: self.vocab[t] for t in (pad_token, unk_token, cls_token, sep_token, mask_token)
                               if t in self.vocab}
        self.unk_id, self.cls_id, self.sep_id, self.pad_id = (self.vocab[t] for t in (unk_token, cls_token,
                                                                                      sep_token, pad_token))
        self.basic = BasicTokenizer(lowercase, strip_accents, clean_text, handle_chinese_chars)
        self.prefix, self.max_input_chars_per_word = prefix, max_input_chars_per_word
        self._cache: dict[str, list[int]] = {}
        self._alphabet = frozenset("".join(self.vocab))      # every character of every vocabulary entry

    # ---- files -------------------------------------------------------------------------------------------
    @classmethod
    def from_vocab_file(cls, path, **kwargs):
        """A BERT ``vocab.txt``: one token a line, the line number is the id."""
        try:
            lines = pathlib.Path(path).read_text(encoding="utf-8").split("\n")
        except OSError as e:
            raise TokenizerError(f"WordPiece.from_vocab_file: cannot read {path}: {e}") from e
        if lines and lines[-1] == "":
            lines.pop()
        return cls([ln.rstrip("\r") for ln in lines], **kwargs)

    def save_vocab(self, path) -> None:
        tokens = [self.itos[i] for i in range(len(self.itos))]
        pathlib.Path(path).write_text("\n".join(tokens) + "\n", encoding="utf-8")

    def to_dict(self) -> dict:
        b = self.basic
        return {"vocab": [self.itos[i] for i in range(len(self.itos))], "unk_token": self.unk_token,
                "cls_token": self.cls_token, "sep_token": self.sep_token, "pad_token": self.pad_token,
                "mask_token": self.mask_token or "[MASK]", "lowercase": b.lowercase, "strip_accents": b.strip_accents,
                "handle_chinese_chars": b.handle_chinese_chars, "clean_text": b.clean_text, "prefix": self.prefix,
                "max_input_chars_per_word": self.max_input_chars_per_word}

    _OPTIONS = {"unk_token": str, "cls_token": str, "sep_token": str, "pad_token": str, "mask_token": str,
                "lowercase": bool, "strip_accents": (bool, type(None)), "handle_chinese_chars": bool,
                "clean_text": bool, "prefix": str, "max_input_chars_per_word": int}

    @classmethod
    def from_dict(cls, d: dict):
        """From :meth:`to_dict`'s dict, checked entry by entry (it may come from an untrusted file)."""
        check_keys(d, ("vocab",), tuple(cls._OPTIONS))
        vocab = d["vocab"]
        if isinstance(vocab, dict):
            for tok in vocab:
                check_type(tok, str, "every vocabulary entry")
            if sorted(check_type(i, int, "every vocabulary id") for i in vocab.values()) != list(range(len(vocab))):
                raise TokenizerError("vocab ids must be 0..len(vocab)-1, each once")
        else:
            vocab = check_str_list(vocab, "vocab")
        opts = {k: check_type(v, cls._OPTIONS[k], k) for k, v in d.items() if k != "vocab"}
        if not 1 <= opts.get("max_input_chars_per_word", 100) <= 1_000_000:
            raise TokenizerError("max_input_chars_per_word must be in 1..1000000")
        return cls(vocab, **opts)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # ---- tokenizing --------------------------------------------------------------------------------------
    # [start:greedy]
    def wordpiece(self, word: str) -> list[int]:
        """Greedy longest-match-first: the longest vocabulary piece at each position, '##' inside words."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            if end == start:                   # nothing matches: the whole word is unknown
                return [self.unk_id]
            start = end
        return ids
    # [end:greedy]

    def tokenize_ids(self, text: str) -> list[int]:
        """Ids of ``text`` without special tokens."""
        cache, ids = self._cache, []
        for word in self.basic(text):
            out = cache.get(word)
            if out is None:                      # a character in no vocabulary entry: no piece covers it
                out = cache[word] = self.wordpiece(word) if self._alphabet.issuperset(word) else [self.unk_id]
            ids.extend(out)
        return ids

    def tokenize(self, text: str) -> list[str]:
        return [self.itos[i] for i in self.tokenize_ids(text)]

    def encode(self, text: str, pair: str | None = None, add_special_tokens: bool = True) -> list[int]:
        return self(text, pair, add_special_tokens=add_special_tokens)["input_ids"]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Tokens joined by spaces, '##' pieces glued to the previous one (lower-casing is not undone)."""
        out = []
        for i in self._check_ids(ids):
            tok = self.itos[i]
            if skip_special_tokens and tok in self.special_tokens:
                continue
            if tok.startswith(self.prefix) and out:
                out[-1] += tok[len(self.prefix):]
            else:
                out.append(tok)
        return " ".join(out)

    # ---- model inputs ----------------------------------------------------------------------------------
    @staticmethod
    def truncate_pair(n_a: int, n_b: int, max_len: int) -> tuple[int, int]:
        """Lengths kept by "longest first" truncation of two sequences to ``max_len`` tokens in total:
        the shorter keeps its length if the longer can still have at least as many, otherwise they meet
        near the middle (the longer one gets the odd token)."""
        if n_a + n_b <= max_len:
            return n_a, n_b
        short, long_ = min(n_a, n_b), max(n_a, n_b)
        if short > max_len:
            long_ = short
        else:
            long_ = max(short, max_len - short)
        if short + long_ > max_len:
            short = max_len // 2
            long_ = short + max_len % 2
        return (short, long_) if n_a <= n_b else (long_, short)

    def _one(self, a: list[int], b: list[int] | None, max_length, truncation, add_special_tokens):
        n_special = (2 if b is None else 3) if add_special_tokens else 0
        if truncation and max_length is not None:
            room = max_length - n_special
            if room < 0:
                raise TokenizerError(f"WordPiece: max_length={max_length} leaves no room next to {n_special} "
                                     f"special tokens")
            if b is None:
                a = a[:room]
            else:
                ka, kb = self.truncate_pair(len(a), len(b), room)
                a, b = a[:ka], b[:kb]
        if add_special_tokens:
            ids = [self.cls_id] + a + [self.sep_id]
            types = [0] * len(ids)
            if b is not None:
                ids += b + [self.sep_id]
                types += [1] * (len(b) + 1)
        else:
            ids = a + (b or [])
            types = [0] * len(a) + [1] * len(b or [])
        return ids, types

    def __call__(self, text, text_pair=None, *, max_length: int | None = None, truncation: bool = False,
                 padding: bool | str = False, add_special_tokens: bool = True, return_tensors: str | None = None):
        """Model inputs ``{'input_ids', 'token_type_ids', 'attention_mask'}`` for one text (or pair), or for
        a list of texts (lists of pairs). ``padding``: False, 'longest' (True) or 'max_length'."""
        batched = isinstance(text, (list, tuple))
        texts = list(text) if batched else [text]
        pairs = (list(text_pair) if batched else [text_pair]) if text_pair is not None else [None] * len(texts)
        if len(pairs) != len(texts):
            raise TokenizerError(f"WordPiece: {len(texts)} texts but {len(pairs)} pairs")
        if padding == "max_length" and max_length is None:
            raise TokenizerError("WordPiece: padding='max_length' needs max_length")
        rows = [self._one(self.tokenize_ids(t), None if p is None else self.tokenize_ids(p), max_length,
                          truncation, add_special_tokens) for t, p in zip(texts, pairs)]
        if padding in (True, "longest"):
            width = max(len(ids) for ids, _ in rows)
        elif padding == "max_length":
            width = max_length
        elif padding is False:
            width = None
        else:
            raise TokenizerError(f"WordPiece: unknown padding {padding!r} (False, True/'longest', 'max_length')")
        out = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
        for ids, types in rows:
            pad = max(0, width - len(ids)) if width is not None else 0
            out["input_ids"].append(ids + [self.pad_id] * pad)
            out["token_type_ids"].append(types + [0] * pad)
            out["attention_mask"].append([1] * len(ids) + [0] * pad)
        if return_tensors == "np":
            import numpy as np
            try:
                out = {k: np.array(v, dtype=np.int64) for k, v in out.items()}
            except ValueError as e:
                raise TokenizerError("WordPiece: rows of different lengths; use padding=True") from e
        elif return_tensors is not None:
            raise TokenizerError(f"WordPiece: return_tensors must be None or 'np', got {return_tensors!r}")
        if not batched:
            out = {k: v[0] for k, v in out.items()}
        return out

    # ---- training ----------------------------------------------------------------------------------------
    @classmethod
    def train(cls, texts, vocab_size: int, special_tokens=SPECIALS, lowercase: bool = True, min_frequency: int = 1,
              max_alphabet: int | None = None, prefix: str = "##", score: str = "likelihood"):
        """Learn a vocabulary of ``vocab_size`` tokens from ``texts`` (a string or a list of strings)."""
        basic = BasicTokenizer(lowercase=lowercase)
        counts = Counter()
        for t in ([texts] if isinstance(texts, str) else texts):
            counts.update(basic(t))
        vocab = train_wordpiece_vocab(counts, vocab_size, list(special_tokens), min_frequency, max_alphabet, prefix,
                                      score)
        return cls(vocab, lowercase=lowercase, prefix=prefix)


# [start:train]
def train_wordpiece_vocab(word_counts: dict[str, int], vocab_size: int, special_tokens=SPECIALS,
                          min_frequency: int = 1, max_alphabet: int | None = None, prefix: str = "##",
                          score: str = "likelihood") -> list[str]:
    """Specials, then the alphabet, then merged pieces by the best score until ``vocab_size``:
    'likelihood' c(ab) log(c(ab) N / (c(a) c(b))) or 'ratio' c(ab) / (c(a) c(b)). Ties go to the pair
    that sorts first, so the result is deterministic."""
    if score not in ("likelihood", "ratio"):
        raise ValueError(f"train_wordpiece_vocab: score must be 'likelihood' or 'ratio', got {score!r}")
    words = sorted(w for w, c in word_counts.items() if c >= min_frequency)
    freqs = [word_counts[w] for w in words]
    split = [[w[0]] + [prefix + ch for ch in w[1:]] for w in words]
    unit = Counter()
    for symbols, f in zip(split, freqs):
        for s in symbols:
            unit[s] += f
    alphabet = sorted(unit, key=lambda s: (-unit[s], s))[:max_alphabet]
    vocab = list(special_tokens) + sorted(set(alphabet) - set(special_tokens))
    if len(vocab) > vocab_size:
        raise ValueError(f"train_wordpiece_vocab: vocab_size={vocab_size} is smaller than the "
                         f"{len(vocab)} specials + characters of the corpus (raise it or set max_alphabet)")
    known = set(vocab)
    pair_count, where = Counter(), {}
    for w, (symbols, f) in enumerate(zip(split, freqs)):
        for p in zip(symbols, symbols[1:]):
            pair_count[p] += f
            where.setdefault(p, set()).add(w)
    n_units = sum(unit.values())
    log = math.log
    while len(vocab) < vocab_size:
        best, best_score = None, -math.inf
        for p, c in pair_count.items():
            if c <= 0:
                continue
            if score == "ratio":
                s = c / (unit[p[0]] * unit[p[1]])
            else:
                s = c * log(c * n_units / (unit[p[0]] * unit[p[1]]))
            if s > best_score or (s == best_score and p < best):
                best, best_score = p, s
        if best is None:
            break
        a, b = best
        new = a + b[len(prefix):] if b.startswith(prefix) else a + b
        if new not in known:
            vocab.append(new)
            known.add(new)
        for w in sorted(where.pop(best, ())):
            symbols, f = split[w], freqs[w]
            for p in zip(symbols, symbols[1:]):
                pair_count[p] -= f
                if pair_count[p] <= 0:
                    del pair_count[p]                    # keeps the scan above short
            for s in symbols:
                unit[s] -= f
            out = split[w] = merge_pair(symbols, a, b, new)
            n_units += f * (len(out) - len(symbols))
            for s in out:
                unit[s] += f
            for p in zip(out, out[1:]):
                pair_count[p] += f
                where.setdefault(p, set()).add(w)
        pair_count.pop(best, None)
    return vocab
# [end:train]
