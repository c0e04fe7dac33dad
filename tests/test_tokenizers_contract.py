"""What every tokenizer promises: rebuilt from its dict (and only a well-formed dict), decode refuses ids that
are not integers, lone surrogates are read as tiktoken reads them."""
import json

import numpy as np
import pytest

from tinygrad_llm.tokenizers import (ByteLevelBPE, CharTokenizer, TokenizerError, WordPiece, from_dict, load,
                                     to_dict)
from tinygrad_llm.tokenizers.base import without_surrogates

TEXT = "the cat sat on the mat, the dog sat on the log; naïve café 日本 😀"


def make(kind):
    if kind == "char":
        return CharTokenizer.train(TEXT, special_tokens=["<bos>"], unk_token="<unk>")
    if kind == "bpe":
        return ByteLevelBPE.train(TEXT * 3, vocab_size=256 + 20 + 1)
    return WordPiece.train(TEXT, vocab_size=60)


KINDS = ["char", "bpe", "wordpiece"]


@pytest.mark.parametrize("kind", KINDS)
def test_from_dict_rebuilds_the_tokenizer(kind, tmp_path):
    tok = make(kind)
    d = json.loads(json.dumps(to_dict(tok)))                      # through JSON, as a checkpoint stores it
    assert d["type"] == tok.kind
    back = from_dict(d)
    assert type(back) is type(tok) and back.encode(TEXT) == tok.encode(TEXT) and back.to_dict() == tok.to_dict()
    tok.save(tmp_path / "t.json")
    assert load(tmp_path / "t.json").encode(TEXT) == tok.encode(TEXT)


@pytest.mark.parametrize("bad", [None, [], "bpe", {}, {"type": "nope"}, {"type": 3}, {"type": ["bpe"]}])
def test_from_dict_unknown_type_lists_the_known_ones(bad):
    with pytest.raises(TokenizerError, match=r"unknown tokenizer type|expected a dict") as e:
        from_dict(bad)
    if isinstance(bad, dict):
        assert "'bpe'" in str(e.value) and "'char'" in str(e.value) and "'wordpiece'" in str(e.value)


def malformed(kind):
    """(name, dict) pairs: each breaks one rule of ``kind``'s dict."""
    d = to_dict(make(kind))
    required = {"char": "chars", "bpe": "vocab", "wordpiece": "vocab"}[kind]
    out = [("missing key", {k: v for k, v in d.items() if k != required}),
           ("unknown key", {**d, "surprise": 1})]
    if kind == "char":
        out += [("chars not a list", {**d, "chars": "abc"}), ("non-string char", {**d, "chars": ["a", 3]}),
                ("two-character entry", {**d, "chars": ["ab"]}), ("surrogate", {**d, "chars": ["\ud800"]}),
                ("unk not a string", {**d, "unk_token": 5}), ("specials not a list", {**d, "special_tokens": 7}),
                ("duplicate", {**d, "chars": ["a", "a"]})]
    elif kind == "bpe":
        vocab = d["vocab"]
        first = next(iter(vocab))
        out += [("vocab not a dict", {**d, "vocab": list(vocab)}),
                ("string id", {**d, "vocab": {**vocab, first: "0"}}),
                ("float id", {**d, "vocab": {**vocab, first: 0.0}}),
                ("bool id", {**d, "vocab": {**vocab, first: True}}),
                ("negative id", {**d, "vocab": {**vocab, first: -1}}),
                ("huge id", {**d, "vocab": {**vocab, first: 10 ** 12}}),
                ("id used twice", {**d, "vocab": {**vocab, "zz": vocab[first]}}),
                ("merge not a string", {**d, "merges": [["a", "b"]]}),
                ("merge without a space", {**d, "merges": ["ab"]}),
                ("merge of unknown tokens", {**d, "merges": ["Q Z"]}),
                ("merge outside the byte alphabet", {**d, "merges": ["日 本"]}),
                ("special id not an int", {**d, "special_tokens": {"<|x|>": None}}),
                ("pattern not a string", {**d, "pattern": 3}),
                ("pattern that does not compile", {**d, "pattern": "(unclosed"})]
    else:
        out += [("vocab not a list", {**d, "vocab": 12}), ("non-string entry", {**d, "vocab": d["vocab"] + [None]}),
                ("dict vocab with a hole", {**d, "vocab": {t: 2 * i for i, t in enumerate(d["vocab"])}}),
                ("flag not a bool", {**d, "lowercase": "yes"}), ("size not an int", {**d, "max_input_chars_per_word": 1.5}),
                ("negative size", {**d, "max_input_chars_per_word": -1}),
                ("huge size", {**d, "max_input_chars_per_word": 10 ** 18}),
                ("special token not in the vocabulary", {**d, "cls_token": "[NOPE]"})]
    return [pytest.param(kind, bad, id=f"{kind}-{name}") for name, bad in out]


@pytest.mark.parametrize("kind,bad", [p for k in KINDS for p in malformed(k)])
def test_malformed_dicts_are_tokenizer_errors(kind, bad, tmp_path):
    with pytest.raises(TokenizerError):
        from_dict(bad)
    (tmp_path / "t.json").write_text(json.dumps(bad))
    with pytest.raises(TokenizerError, match="tokenizers.load"):
        load(tmp_path / "t.json")


def test_gguf_tokenizer_round_trips_through_its_dict():
    from tinygrad_llm.tokenizers import GGUFTokenizer
    from tinygrad_llm.tokenizers.bpe import bytes_to_unicode
    b2u = bytes_to_unicode()
    tokens = ["<|im_start|>", "<|im_end|>"] + [b2u[b] for b in range(256)] + ["Ġt", "he"]
    tok = GGUFTokenizer.from_merges(tokens, ["Ġ t", "h e"], special_tokens=tokens[:2])
    tok.bos_token_id, tok.eos_token_id = 0, 1
    back = from_dict(json.loads(json.dumps(to_dict(tok))))
    assert type(back) is GGUFTokenizer and (back.bos_token_id, back.eos_token_id) == (0, 1)
    # ids: 0, 1 the control tokens, 2 + b for byte b, 258 'Ġt', 259 'he'
    assert back.encode("<|im_start|> the he") == tok.encode("<|im_start|> the he") == [0, 258, 259, 2 + 32, 259]
    with pytest.raises(TokenizerError, match="eos_token_id"):
        from_dict({**to_dict(tok), "eos_token_id": 10 ** 9})


def test_load_of_a_file_that_is_not_json_is_a_tokenizer_error(tmp_path):
    (tmp_path / "t.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(TokenizerError, match="cannot read"):
        load(tmp_path / "t.json")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [1.5, 2.0, True, False, "3", None, b"1", np.float32(1.0), [1], np.array([1, 2])])
def test_decode_refuses_ids_that_are_not_integers(kind, bad):
    tok = make(kind)
    with pytest.raises(TokenizerError, match=rf"{type(tok).__name__}\.decode: token id .* not an integer"):
        tok.decode([0, bad])


@pytest.mark.parametrize("kind", KINDS)
def test_decode_accepts_integers_of_any_integer_type(kind):
    tok = make(kind)
    ids = tok.encode(TEXT)
    assert tok.decode(np.array(ids, dtype=np.int64)) == tok.decode(ids) == tok.decode([np.int32(i) for i in ids])
    with pytest.raises(TokenizerError, match="out of range"):
        tok.decode([tok.vocab_size])
    with pytest.raises(TokenizerError, match="out of range"):
        tok.decode([-1])
    with pytest.raises(TokenizerError, match="sequence of token ids"):
        tok.decode(5)
    with pytest.raises(TokenizerError, match="sequence of token ids"):
        tok.decode("12")


# ---- lone surrogates: a pair is the character it encodes, a lone one is U+FFFD (tiktoken's reading)
SURROGATE_TEXTS = ["a\ud800b", "\udc00", "x\ud83d\ude00y", "\ude00\ud83d", "caf\udce9 \ud800\ud800"]


def test_without_surrogates():
    assert without_surrogates("a\ud800b") == "a\ufffdb"
    assert without_surrogates("\ud83d\ude00") == "😀"
    assert without_surrogates("\ude00\ud83d") == "\ufffd\ufffd"
    s = "plain 日本 😀"
    assert without_surrogates(s) is s


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("s", SURROGATE_TEXTS)
def test_surrogates_are_encoded_like_their_utf16_reading(kind, s):
    tok = make(kind)
    if kind == "char":
        tok = CharTokenizer.train(TEXT + "\ufffdxy", unk_token="<unk>")
    assert tok.encode(s) == tok.encode(without_surrogates(s))


def test_char_tokenizer_vocabulary_never_holds_a_surrogate():
    tok = CharTokenizer.train("ab\ud800\ud83d\ude00")
    assert tok.itos == ["a", "b", "\ufffd", "😀"]
    assert tok.decode(tok.encode("a\udfffb")) == "a\ufffdb"
    with pytest.raises(TokenizerError, match="surrogate"):
        CharTokenizer(["a", "\ud800"])


def test_wordpiece_drops_lone_surrogates_with_the_control_characters():
    tok = make("wordpiece")
    assert tok.tokenize("the\ud800 cat") == tok.tokenize("the cat")
