r"""Word-level tokenizer for closed vocabularies (generated captions and questions): one id per word.

Text is lower-cased and split into words and single other characters (punctuation): the words of
$s$ are the matches of the regular expression ``\w+|[^\w\s]`` in $\mathrm{lower}(s)$,
and each word gets its position in the vocabulary; ``decode`` joins the words with single spaces, so
$\mathrm{decode}(\mathrm{encode}(s)) = s$ for text already in that form ("is there a red circle ?").
Special tokens come first: ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2. A word outside the vocabulary
is an error that names it (there is no unknown token: a model trained on a closed vocabulary has
nothing sensible to do with one). Lone surrogates are read as U+FFFD, as every tokenizer here reads them.
"""
from __future__ import annotations

import re

from .base import Tokenizer, TokenizerError, check_keys, check_str_list, register, without_surrogates

SPECIALS = ("<pad>", "<bos>", "<eos>")
_WORDS = re.compile(r"\w+|[^\w\s]")


def split_words(text: str) -> list[str]:
    return _WORDS.findall(without_surrogates(text).lower())


@register
class WordTokenizer(Tokenizer):
    kind = "word"

    def __init__(self, words):
        words = [w for w in words if w not in SPECIALS]
        bad = [w for w in words if not isinstance(w, str) or split_words(w) != [w]]
        if bad:
            raise TokenizerError(f"WordTokenizer: vocabulary entries that are not one lower-case word: {bad[:5]!r}")
        self.itos = list(SPECIALS) + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise TokenizerError("WordTokenizer: duplicate vocabulary entries")
        self.special_tokens = {w: self.stoi[w] for w in SPECIALS}
        self.pad_id, self.bos_id, self.eos_id = (self.stoi[w] for w in SPECIALS)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        words = split_words(text)
        unknown = sorted({w for w in words if w not in self.stoi})
        if unknown:
            raise TokenizerError(f"WordTokenizer.encode: words not in the vocabulary: {', '.join(unknown)} "
                                 f"(known: {' '.join(self.itos[len(SPECIALS):])})")
        return [self.stoi[w] for w in words]

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        ids = self._check_ids(ids)
        if skip_special_tokens:
            ids = [i for i in ids if i >= len(SPECIALS)]
        return " ".join(self.itos[i] for i in ids)

    def to_dict(self) -> dict:
        return {"words": self.itos[len(SPECIALS):]}

    @classmethod
    def train(cls, text: str):
        """The distinct words of ``text``, sorted."""
        return cls(sorted(set(split_words(text))))

    @classmethod
    def from_dict(cls, d: dict):
        """From :meth:`to_dict`'s dict, checked (it may come from an untrusted checkpoint)."""
        check_keys(d, ("words",))
        return cls(check_str_list(d["words"], "words"))
