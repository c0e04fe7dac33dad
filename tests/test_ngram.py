"""The count-based n-gram language model: distributions, hand-computed smoothing, perplexity, sampling."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_llm.models.ngram import SMOOTHINGS, NGramLM

TOY = [0, 1, 0, 2, 0, 1]


@st.composite
def fitted_models(draw):
    V = draw(st.integers(1, 7))
    corpus = draw(st.lists(st.integers(0, V - 1), min_size=1, max_size=60))
    n = draw(st.integers(1, 4))
    smoothing = draw(st.sampled_from(SMOOTHINGS))
    model = NGramLM(n, V, smoothing=smoothing, k=draw(st.floats(0.01, 3.0)), lam=draw(st.floats(0.0, 0.99)),
                    discount=draw(st.one_of(st.none(), st.floats(0.05, 1.0))))
    return model.fit(corpus), corpus


@given(fitted_models(), st.data())
def test_probabilities_sum_to_one_for_any_context(fm, data):
    model, corpus = fm
    ctx = data.draw(st.lists(st.integers(0, model.vocab_size - 1), max_size=6))
    p = model.probs(ctx)
    assert p.shape == (model.vocab_size,)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert (p > 0).all()                     # smoothing leaves no zero, even for unseen n-grams


@given(fitted_models(), st.data())
def test_vectorised_sequence_scores_equal_the_one_context_loop(fm, data):
    model, _ = fm
    seq = data.draw(st.lists(st.integers(0, model.vocab_size - 1), min_size=1, max_size=12))
    fast = model.log_prob_sequence(seq)
    loop = [math.log(model.prob(seq[t], seq[max(0, t - model.n + 1):t])) for t in range(len(seq))]
    np.testing.assert_allclose(fast, loop, rtol=1e-12, atol=1e-12)
    assert model.perplexity(seq) == pytest.approx(math.exp(-np.mean(loop)))


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_perplexity_of_uniform_model_is_vocab_size(smoothing, n):
    V = 7
    # every token equally often, so every smoothing of the unigram model gives exactly 1/V
    corpus = np.random.default_rng(0).permutation(np.repeat(np.arange(V), 5))
    model = NGramLM(1, V, smoothing=smoothing).fit(corpus)
    seq = np.random.default_rng(1).integers(0, V, 50)
    assert model.perplexity(seq) == pytest.approx(V, rel=1e-12)
    # an add-k model with an enormous k forgets the counts and becomes uniform at any order
    big_k = NGramLM(n, V, smoothing="add_k", k=1e12).fit(corpus)
    assert big_k.perplexity(seq) == pytest.approx(V, rel=1e-9)


def test_add_k_on_hand_computed_toy_corpus():
    m = NGramLM(2, 3, smoothing="add_k", k=1.0).fit(TOY)
    # after 0 come 1, 2, 1: c(0, .) = [0, 2, 1], c(0) = 3 -> (c + 1) / (3 + 3)
    np.testing.assert_allclose(m.probs([0]), [1 / 6, 3 / 6, 2 / 6])
    # after 1 comes 0 once (the final 1 has no follower): (c + 1) / (1 + 3)
    np.testing.assert_allclose(m.probs([1]), [2 / 4, 1 / 4, 1 / 4])
    # the first token has no context: unigram counts [3, 2, 1] -> (c + 1) / (6 + 3)
    np.testing.assert_allclose(m.probs([]), [4 / 9, 3 / 9, 2 / 9])
    assert m.log_prob_sequence([0, 1, 0]).sum() == pytest.approx(math.log(4 / 9) + math.log(3 / 6) + math.log(2 / 4))
    m.k = 0.5                                 # parameters change without refitting
    assert m.prob(1, [0]) == pytest.approx(2.5 / 4.5)


def test_jelinek_mercer_on_hand_computed_toy_corpus():
    m = NGramLM(2, 3, smoothing="jelinek_mercer", lam=0.5).fit(TOY)
    uni = 0.5 * np.array([3, 2, 1]) / 6 + 0.5 / 3
    np.testing.assert_allclose(m.probs([]), uni)
    np.testing.assert_allclose(m.probs([0]), 0.5 * np.array([0, 2, 1]) / 3 + 0.5 * uni)


def test_kneser_ney_on_hand_computed_toy_corpus():
    m = NGramLM(2, 4, smoothing="kneser_ney", discount=0.5).fit(TOY)
    # bigram types (0,1) (1,0) (0,2) (2,0): continuation counts N1+(. w) = [2, 1, 1, 0], total 4, 3 types
    uni = np.maximum(np.array([2, 1, 1, 0]) - 0.5, 0) / 4 + 0.5 * 3 / 4 * (1 / 4)
    np.testing.assert_allclose(m.probs([]), uni)
    # after 0: counts [0, 2, 1, 0], c(0) = 3, N1+(0 .) = 2
    np.testing.assert_allclose(m.probs([0]), np.maximum(np.array([0, 2, 1, 0]) - 0.5, 0) / 3 + 0.5 * 2 / 3 * uni)
    # token 3 was never seen, so context [3] is unseen and falls through to the lower order
    np.testing.assert_allclose(m.probs([3]), uni)


def test_ney_discount_estimate():
    m = NGramLM(1, 4, smoothing="kneser_ney").fit([0, 0, 0, 1, 1, 2, 3])   # counts 3, 2, 1, 1: n1 = 2, n2 = 1
    assert m.levels[0]["ney_discount"] == pytest.approx(2 / (2 + 2 * 1))


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_unseen_contexts_and_tokens_get_finite_scores(smoothing):
    m = NGramLM(3, 10, smoothing=smoothing).fit([1, 2, 3, 1, 2, 3, 1, 2])
    lp = m.log_prob_sequence([9, 8, 7, 1, 2, 3, 0])
    assert np.isfinite(lp).all()
    assert lp[4] > lp[0]                       # the seen continuation 1 -> 2 is more likely than an unseen id
    np.testing.assert_allclose(m.probs([9, 8]).sum(), 1.0)


def test_sampling_repeats_with_the_same_seed():
    corpus = np.random.default_rng(0).integers(0, 6, 300)
    m = NGramLM(3, 6).fit(corpus)
    a = m.sample([1, 2], 40, rng=123)
    assert np.array_equal(a, m.sample([1, 2], 40, rng=123))
    assert np.array_equal(a, m.sample([1, 2], 40, rng=np.random.default_rng(123)))
    assert not np.array_equal(a, m.sample([1, 2], 40, rng=124))
    assert a.shape == (40,) and a.min() >= 0 and a.max() < 6


def test_sampling_follows_a_deterministic_model():
    # with lam = 1 the model is the raw count ratio: a cycle 0 1 2 0 1 2 ... continues the cycle
    m = NGramLM(2, 3, smoothing="jelinek_mercer", lam=1.0).fit(np.tile([0, 1, 2], 10))
    for seed in range(3):
        assert m.sample([0], 7, rng=seed).tolist() == [1, 2, 0, 1, 2, 0, 1]


def test_sampling_matches_the_distribution():
    m = NGramLM(2, 3, smoothing="add_k", k=1.0).fit(TOY)
    draws = np.array([m.sample([0], 1, rng=s)[0] for s in range(3000)])
    freq = np.bincount(draws, minlength=3) / len(draws)
    np.testing.assert_allclose(freq, m.probs([0]), atol=0.03)


def test_bad_input():
    with pytest.raises(ValueError, match="order n"):
        NGramLM(0)
    with pytest.raises(ValueError, match="unknown smoothing"):
        NGramLM(2, smoothing="stupid_backoff")
    with pytest.raises(RuntimeError, match="fit"):
        NGramLM(2, 3).probs([0])
    m = NGramLM(2, 3).fit(TOY)
    with pytest.raises(IndexError, match="token id 5 outside the vocabulary"):
        m.probs([5])
    with pytest.raises(IndexError, match="outside the vocabulary"):
        m.perplexity([0, 1, -1])
    with pytest.raises(ValueError, match="empty"):
        NGramLM(2, 3).fit([])
    with pytest.raises(ValueError, match="1-D"):
        m.perplexity(np.zeros((2, 2), dtype=int))
    with pytest.raises(TypeError, match="integers"):
        m.perplexity([0.5, 1.0])
    m.smoothing = "add_k"
    m.k = 0
    with pytest.raises(ValueError, match="k > 0"):
        m.probs([0])
    with pytest.raises(ValueError, match="does not fit"):
        NGramLM(6, 2 ** 11).fit([0, 1, 2])
