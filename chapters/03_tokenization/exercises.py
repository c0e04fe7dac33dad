"""Chapter 03 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch03_tokenization.py --answers chapters/03_tokenization/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import codecs
import unicodedata
from collections import Counter

from tinygrad_llm.tokenizers import pretokenize


def naive_bpe_merges(text: str, n_merges: int, min_frequency: int = 2) -> list[tuple[bytes, bytes]]:
    """Exercise 1. Write the textbook BPE trainer that recounts every pair of the corpus after every merge, and
    check that it learns exactly the merges of `ByteLevelBPE.train` (ties: the pair with the smallest ids). Time
    both on 200 KB of Shakespeare.

    Merges learned by recounting all pairs each step (ties: the pair of smallest ids). The result must equal
    ``ByteLevelBPE.train(text, 256 + n_merges + 1).merges``; only the cost differs."""
    raise NotImplementedError("exercise 1: write naive_bpe_merges")


def fewest_pieces(word: str, vocab, prefix: str = "##") -> list[str] | None:
    """Exercise 2. Greedy longest match is not always the segmentation with the fewest pieces. Find a vocabulary
    and a word where it uses more, and write the dynamic program that finds the fewest pieces. (Why does BERT
    still use greedy?)

    The segmentation of ``word`` into the fewest vocabulary pieces (dynamic programming over end positions), or
    None if there is none. best[e] = fewest pieces covering word[:e]."""
    raise NotImplementedError("exercise 2: write fewest_pieces")


def greedy_is_not_optimal_example() -> tuple[list[str], str]:
    """Exercise 2. Greedy longest match is not always the segmentation with the fewest pieces. Find a vocabulary
    and a word where it uses more, and write the dynamic program that finds the fewest pieces. (Why does BERT
    still use greedy?)

    A vocabulary and a word where greedy longest match needs more pieces than the optimum: greedy takes 'abc'
    and is left with 'd', 'e' (3 pieces); 'ab' + '##cde' needs 2."""
    raise NotImplementedError("exercise 2: write greedy_is_not_optimal_example")


class StreamDecoder:
    """Exercise 3. A chat program prints each GPT-2 token as soon as the model produces it. Show that printing
    `tok.decode([id])` token by token can print `�`, and write a streaming decoder that never prints half a
    character (hint: `codecs.getincrementaldecoder`).

    Feed token ids one at a time; ``push`` returns the text that is complete so far. A token can end in the
    middle of a multi-byte UTF-8 character (GPT-2 splits '日' into two tokens), so the bytes are run through an
    incremental UTF-8 decoder that holds back an unfinished sequence."""

    def __init__(self, tokenizer):
        raise NotImplementedError("exercise 3: write StreamDecoder.__init__")

    def push(self, token_id: int) -> str:
        raise NotImplementedError("exercise 3: write StreamDecoder.push")

    def flush(self) -> str:
        raise NotImplementedError("exercise 3: write StreamDecoder.flush")


def token_counts_nfc_nfd(tokenizer, text: str) -> tuple[int, int]:
    """Exercise 4. Encode `"Crème brûlée au café"` in NFC and in NFD with GPT-2's tokenizer. Which needs more
    tokens, and why should a tokenizer's users normalise their text the same way the training data was?

    Token counts of the composed (NFC) and decomposed (NFD) forms of the same text: decomposed accents are
    separate code points, usually separate byte pairs, so usually more tokens."""
    raise NotImplementedError("exercise 4: write token_counts_nfc_nfd")
