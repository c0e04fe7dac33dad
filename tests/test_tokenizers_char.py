"""Character tokenizer, text cleaning, and the shared save/load."""
import unicodedata

import pytest
from hypothesis import given, strategies as st

from tinygrad_llm.tokenizers import CharTokenizer, TokenizerError, clean_text, load, normalize, strip_accents
from tinygrad_llm.tokenizers import cleaning


@given(st.text(max_size=80))
def test_char_round_trip_on_its_own_corpus(s):
    tok = CharTokenizer.train(s)
    assert tok.decode(tok.encode(s)) == s
    assert tok.vocab_size == len(set(s))
    assert [tok.itos[i] for i in tok.encode(s)] == list(s)


def test_ids_follow_code_point_order_after_the_specials():
    tok = CharTokenizer.train("hello", special_tokens=["<pad>"], unk_token="<unk>")
    assert tok.itos == ["<unk>", "<pad>", "e", "h", "l", "o"]
    assert tok.encode("hole") == [3, 5, 4, 2]


def test_unknown_character_is_an_error_by_default():
    tok = CharTokenizer.train("abc")
    with pytest.raises(TokenizerError, match=r"\['x', 'z'\]"):
        tok.encode("axbz")


def test_unknown_character_maps_to_unk_when_asked():
    tok = CharTokenizer.train("abc", unk_token="<unk>")
    assert tok.encode("axb") == [tok.stoi["a"], tok.special_tokens["<unk>"], tok.stoi["b"]]
    assert tok.decode(tok.encode("axb")) == "a<unk>b"


def test_decode_rejects_out_of_range_ids():
    with pytest.raises(TokenizerError, match="out of range"):
        CharTokenizer.train("ab").decode([0, 2])


def test_save_load_round_trip(tmp_path):
    tok = CharTokenizer.train("To be, or not to be 😀\n", special_tokens=["<bos>"], unk_token="<unk>")
    tok.save(tmp_path / "char.json")
    back = load(tmp_path / "char.json")
    assert isinstance(back, CharTokenizer) and back.itos == tok.itos and back.special_tokens == tok.special_tokens
    assert back.encode("be not?") == tok.encode("be not?")
    with pytest.raises(TokenizerError, match="unknown tokenizer type"):
        (tmp_path / "bad.json").write_text('{"type": "nope"}')
        load(tmp_path / "bad.json")


def test_normal_forms_compose_and_decompose():
    assert normalize("e\u0301") == "\u00e9" and normalize("\u00e9", "NFD") == "e\u0301"
    assert normalize("ﬁ", "NFKC") == "fi"
    with pytest.raises(ValueError, match="NFX"):
        normalize("x", "NFX")


@given(st.text(max_size=40))
def test_strip_accents_leaves_no_nonspacing_mark(s):
    out = strip_accents(s)
    assert all(unicodedata.category(c) != "Mn" for c in out)
    assert strip_accents(out) == out


def test_clean_text_pipeline():
    assert clean_text("  Crème\u00a0 brûlée\x07\t\n ok\u200b ", lowercase=True, accents=False) == "creme brulee ok"
    assert clean_text("a\x00b\ufffdc  d") == "abc d"
    assert clean_text("line one\nline two", collapse_whitespace=False) == "line one\nline two"


def test_character_classes():
    assert cleaning.is_whitespace("\u3000") and not cleaning.is_whitespace("\x1c")     # str.isspace differs
    assert cleaning.is_control("\x07") and cleaning.is_control("\u200b") and not cleaning.is_control("\n")
    assert cleaning.is_punctuation("$") and cleaning.is_punctuation("«") and not cleaning.is_punctuation("a")
    assert cleaning.is_chinese_char("中") and not cleaning.is_chinese_char("カ")
