import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_llm.metrics import (accuracy, confusion_matrix, corpus_bleu, perplexity, precision_recall_f1,
                                  sentence_bleu)
from tinygrad_llm.metrics.rouge import lcs_length

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
