"""Tokenizers: text <-> integer ids.

- :mod:`.cleaning` — Unicode normalisation, accents, control characters, whitespace
- :mod:`.char` — one id per character
- :mod:`.bpe` — byte-level BPE (trainer; GPT-2's tokenizer, equal to tiktoken's ``gpt2``)
- :mod:`.gguf_bpe` — the byte-level BPE stored in a GGUF file
- :mod:`.wordpiece` — BERT's WordPiece (equal to Hugging Face's ``BertWordPiece``; vocabulary trainer)

- :mod:`.ucd` — the one pinned Unicode table every character class comes from

Every tokenizer has ``encode``, ``decode``, ``vocab_size``, ``special_tokens`` and ``save``;
:func:`load` reads any saved tokenizer back; :func:`to_dict` / :func:`from_dict` do the same with a dict
(``{"type": kind, ...}``, what a checkpoint stores).
"""
from .base import Tokenizer, TokenizerError, from_dict, load, to_dict
from .bpe import GPT2_PATTERN, ByteLevelBPE, bytes_to_unicode, gpt2, gpt2_files, pretokenize
from .char import CharTokenizer
from .gguf_bpe import GGUFTokenizer
from .cleaning import clean_text, normalize, strip_accents
from .wordpiece import BasicTokenizer, WordPiece, train_wordpiece_vocab

__all__ = ["Tokenizer", "TokenizerError", "load", "from_dict", "to_dict", "GPT2_PATTERN", "ByteLevelBPE", "bytes_to_unicode", "gpt2",
           "gpt2_files", "pretokenize", "CharTokenizer", "GGUFTokenizer", "clean_text", "normalize", "strip_accents",
           "BasicTokenizer", "WordPiece", "train_wordpiece_vocab"]
