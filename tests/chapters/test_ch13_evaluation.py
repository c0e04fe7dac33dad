import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_llm.metrics import (accuracy, confusion_matrix, corpus_bleu, perplexity, precision_recall_f1,
                                  sentence_bleu)
from tinygrad_llm.metrics.rouge import lcs_length

from chapter_helpers import assert_quoted, recorded

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "13_evaluation"

labels = st.lists(st.integers(0, 3), min_size=1, max_size=40)


@given(st.data())
def test_prf_from_confusion_matches_the_library(sol, data):
    y_true = data.draw(labels)
    y_pred = data.draw(st.lists(st.integers(0, 3), min_size=len(y_true), max_size=len(y_true)))
    cm = confusion_matrix(y_true, y_pred)
    ours = sol.prf_from_confusion(cm)
    ref = precision_recall_f1(y_true, y_pred, average=None, zero_division=0)
    for a, b in zip(ours, ref[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@given(st.data())
def test_micro_f1_is_accuracy(sol, data):
    y_true = data.draw(labels)
    y_pred = data.draw(st.lists(st.integers(0, 3), min_size=len(y_true), max_size=len(y_true)))
    micro = sol.micro_f1_from_confusion(confusion_matrix(y_true, y_pred))
    assert micro == pytest.approx(accuracy(y_true, y_pred))
    p, r, f, _ = precision_recall_f1(y_true, y_pred, average="micro")
    assert p == pytest.approx(micro) and r == pytest.approx(micro) and f == pytest.approx(micro)


words = st.lists(st.sampled_from(["to", "be", "or", "not", "that", "is", "the", "question"]), min_size=1, max_size=12)


@given(words, words)
def test_bleu_by_hand_equals_unsmoothed_library_bleu(sol, hyp, ref):
    assert sol.bleu_by_hand(hyp, ref) == pytest.approx(corpus_bleu([hyp], [[ref]], smooth_method="none").score,
                                                       abs=1e-9)


def test_mean_sentence_bleu_differs_from_corpus_bleu(sol):
    refs = ["the cat sat on the mat", "a very long reference sentence about nothing in particular at all"]
    hyps = ["the cat sat on the mat", "a short guess"]
    mean = sol.mean_sentence_bleu(hyps, refs)
    assert mean == pytest.approx((sentence_bleu(hyps[0], [refs[0]]).score + sentence_bleu(hyps[1], [refs[1]]).score) / 2)
    assert abs(mean - corpus_bleu(hyps, [refs]).score) > 1.0


@given(words, words)
def test_recursive_lcs_equals_the_table(sol, a, b):
    assert sol.lcs_recursive(a, b) == lcs_length(a, b)


def test_perplexity_from_cross_entropy(sol):
    assert sol.perplexity_from_cross_entropy(1.5) == pytest.approx(perplexity(np.full(7, -1.5)))
    assert math.log2(sol.perplexity_from_cross_entropy(1.5)) == pytest.approx(1.5 / math.log(2))


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    for name in ("metrics_vs_noise.png", "confusion_matrix.png"):
        assert (r.out / name).stat().st_size > 1000
    # the worked example of the text, by hand: 11/12, 7/11, 2/10, 1/9 matches, c = 12, r = 13
    by_hand = 100 * math.exp(1 - 13 / 12) * (11 / 12 * 7 / 11 * 2 / 10 * 1 / 9) ** 0.25
    assert f"BP = {math.exp(1 - 13 / 12):.4f}, BLEU = {by_hand:.2f}" in r.stdout
    assert "ROUGE-1: P = 0.900 R = 0.900 F1 = 0.900" in r.stdout


def test_the_metric_claims_hold_on_the_recorded_run():
    r = recorded(CHAPTER)
    rep, shuf = ({k: np.array(v) for k, v in r["noise"][mode].items()} for mode in ("replace", "shuffle"))
    for name, v in rep.items():                              # replacing words lowers every metric ...
        assert np.all(np.diff(v) < 0), name
    for fast in ("BLEU / 100", "ROUGE-2 F1"):                 # ... BLEU and ROUGE-2 fastest
        assert np.all(rep[fast][1:] < np.minimum(rep["ROUGE-1 F1"], rep["ROUGE-L F1"])[1:])
    assert np.abs(rep["ROUGE-L F1"] - rep["ROUGE-1 F1"]).max() < 0.005
    assert np.all(shuf["ROUGE-1 F1"] == 1.0)                  # shuffling: ROUGE-1 cannot see it
    assert 0.35 < shuf["ROUGE-L F1"][-1] < 0.65              # ROUGE-L keeps about half
    assert max(shuf["BLEU / 100"][-1], shuf["ROUGE-2 F1"][-1]) < shuf["ROUGE-L F1"][-1]
    c = r["classifier"]
    assert c["always_hamlet"]["accuracy"] == pytest.approx(c["support"][0] / c["passages"])   # Hamlet's share
    assert np.trace(r["confusion_matrix"]) / np.sum(r["confusion_matrix"]) == pytest.approx(c["accuracy"])
    models = r["perplexity"]["models"]
    assert models["uniform"]["ppl"] == pytest.approx(r["perplexity"]["vocab_size"])
    assert models["uniform"]["ppl"] > models["1-gram"]["ppl"] > models["3-gram"]["ppl"] > models["5-gram"]["ppl"]
    assert r["rouge"]["ROUGE-1"]["precision"] * 10 == pytest.approx(9)    # 9 of the 10 words


def ch13_fields(r):
    b, rep, shuf, c = r["bleu"], r["noise"]["replace"], r["noise"]["shuffle"], r["classifier"]
    f = {"wall": f"{r['seconds']['wall']:.0f}", "cpu": f"{r['seconds']['cpu']:.0f}", "cpus": r["machine"]["cpus"],
         "load": f"{r['machine']['load_average_at_start'][0]:.1f}", "V": r["perplexity"]["vocab_size"],
         "ref": " ".join(b["reference"]), "cand": " ".join(b["candidate"]), "r": b["ref_len"], "c": b["sys_len"],
         "bp": f"{b['bp']:.3f}", "bleu": f"{b['score']:.2f}", "lines": r["noise"]["lines"],
         "m": [f"{m}/{t}" for m, t in zip(b["counts"], b["totals"])],
         "frac": "\\cdot".join(f"\\tfrac{{{m}}}{{{t}}}" for m, t in zip(b["counts"], b["totals"])),
         "rl_r1": f"{np.abs(np.array(rep['ROUGE-L F1']) - np.array(rep['ROUGE-1 F1'])).max():.3f}",
         "shuf_rl": f"{shuf['ROUGE-L F1'][-1]:.2f}", "shuf_bleu": f"{shuf['BLEU / 100'][-1]:.2f}",
         "shuf_r2": f"{shuf['ROUGE-2 F1'][-1]:.2f}", "acc": f"{c['accuracy']:.3f}", "passages": c["passages"],
         "macro_f1": f"{c['macro_f1']:.3f}", "h_acc": f"{c['always_hamlet']['accuracy']:.3f}",
         "h_f1": f"{c['always_hamlet']['macro_f1']:.3f}",
         "h_p0": f"{c['always_hamlet']['macro_precision_zero_division_0']:.3f}",
         "h_p1": f"{c['always_hamlet']['macro_precision_zero_division_1']:.3f}"}
    f.update({k: f"{v:.2f}" if v else "0" for k, v in b["smoothed"].items()})
    f.update({f"rouge{k[-1]}": f"{v['f1']:.3f}" for k, v in r["rouge"].items()})
    m = r["perplexity"]["models"]
    f["ppl_rows"] = [f"| uniform over the {f['V']} characters of the four plays | {m['uniform']['nll']:.3f} | "
                     f"{m['uniform']['nll'] / math.log(2):.2f} | {m['uniform']['ppl']:.0f} |"]
    f["ppl_rows"] += [f"| {n} | {m[n]['nll']:.3f} | {m[n]['nll'] / math.log(2):.2f} | {m[n]['ppl']:.2f} |"
                      for n in ("1-gram", "3-gram", "5-gram")]
    return f


def test_readme_quotes_the_recorded_run():
    f = ch13_fields(recorded(CHAPTER))
    assert_quoted(CHAPTER, f, [
        "the recorded run took {wall} s wall and {cpu} s of CPU time on {cpus} cores (load average {load} at its start",
        *f["ppl_rows"], "- reference: `{ref}` ({r} tokens)", "- candidate: `{cand}` ({c} tokens)",
        "- matches: {m[0]} unigrams, {m[1]} bigrams, {m[2]} trigrams, {m[3]} 4-grams; "
        "$\\mathrm{{BP}} = e^{{1 - {r}/{c}}} = {bp}$",
        "$\\mathrm{{BLEU}} = {bp} \\cdot ({frac})^{{1/4}} = {bleu}$",
        "BLEU is {none} with `none`, {floor} with `floor`, {exp} with `exp` (sacrebleu's default) and {add-k} with "
        "`add-k`", "ROUGE-1 = {rouge1} (9 of the 10 words), ROUGE-2 = {rouge2}, ROUGE-L = {rougeL}.",
        "The walk-through corrupts {lines} lines of Shakespeare", "they differ by at most {rl_r1})",
        "ROUGE-L keeps about half its value ({shuf_rl} with every word shuffled", "({shuf_bleu} and {shuf_r2})",
        "It gets {acc} accuracy on {passages} passages (macro-F1 {macro_f1};",
        "A classifier that always answers *Hamlet* reaches {h_acc} accuracy", "but a macro-F1 of {h_f1}, and its "
        "macro precision is {h_p0} or {h_p1} depending on `zero_division`"])
