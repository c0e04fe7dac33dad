"""Chapter 03 — solutions to the exercises (tested in tests/chapters/test_ch03_tokenization.py)."""
from __future__ import annotations

import codecs
import unicodedata
from collections import Counter

from tinygrad_llm.tokenizers import pretokenize


# Exercise 1: the textbook BPE trainer — recount every pair of the whole corpus after every merge.
def naive_bpe_merges(text: str, n_merges: int, min_frequency: int = 2) -> list[tuple[bytes, bytes]]:
    """Merges learned by recounting all pairs each step (ties: the pair of smallest ids). The result must
    equal ``ByteLevelBPE.train(text, 256 + n_merges + 1).merges``; only the cost differs."""
    words = Counter(pretokenize(text))
    seqs = {w: [bytes([b]) for b in w.encode("utf-8")] for w in words}
    ids = {bytes([b]): b for b in range(256)}                # token bytes -> id, for the tie-break
    merges = []
    for _ in range(n_merges):
        counts = Counter()
        for w, seq in seqs.items():
            for pair in zip(seq, seq[1:]):
                counts[pair] += words[w]
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], ids[p[0]], ids[p[1]]))
        if counts[best] < min_frequency:
            break
        merges.append(best)
        ids.setdefault(best[0] + best[1], 256 + len(merges) - 1)
        for w, seq in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(seq[i] + seq[i + 1])
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = out
    return merges


# Exercise 2: greedy longest match is not always the segmentation with the fewest pieces.
def fewest_pieces(word: str, vocab, prefix: str = "##") -> list[str] | None:
    """The segmentation of ``word`` into the fewest vocabulary pieces (dynamic programming over end
    positions), or None if there is none. best[e] = fewest pieces covering word[:e]."""
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for e in range(1, n + 1):
        for s in range(e):
            if best[s] is None:
                continue
            piece = word[s:e] if s == 0 else prefix + word[s:e]
            if piece in vocab and (best[e] is None or len(best[s]) + 1 < len(best[e])):
                best[e] = best[s] + [piece]
    return best[n]


def greedy_is_not_optimal_example() -> tuple[list[str], str]:
    """A vocabulary and a word where greedy longest match needs more pieces than the optimum:
    greedy takes 'abc' and is left with 'd', 'e' (3 pieces); 'ab' + '##cde' needs 2."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "ab", "abc", "##c", "##d", "##e", "##cde"]
    return vocab, "abcde"


# Exercise 3: streaming decode — print tokens as they come without ever printing half a character.
class StreamDecoder:
    """Feed token ids one at a time; ``push`` returns the text that is complete so far. A token can end
    in the middle of a multi-byte UTF-8 character (GPT-2 splits '日' into two tokens), so the bytes are
    run through an incremental UTF-8 decoder that holds back an unfinished sequence."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.dec = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        return self.dec.decode(self.tok.decode_bytes([token_id]))

    def flush(self) -> str:
        return self.dec.decode(b"", final=True)


# Exercise 4: normalise before you tokenize.
def token_counts_nfc_nfd(tokenizer, text: str) -> tuple[int, int]:
    """Token counts of the composed (NFC) and decomposed (NFD) forms of the same text: decomposed
    accents are separate code points, usually separate byte pairs, so usually more tokens."""
    return (len(tokenizer.encode(unicodedata.normalize("NFC", text))),
            len(tokenizer.encode(unicodedata.normalize("NFD", text))))
