import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_llm.metrics.perplexity import perplexity
from tinygrad_llm.models.ngram import NGramLM

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "00_language_models"


@given(st.lists(st.integers(0, 4), min_size=2, max_size=40), st.lists(st.integers(0, 4), min_size=1, max_size=8),
       st.floats(0.01, 2.0))
def test_counter_add_k_bigram_equals_the_model(sol, corpus, seq, k):
    model = NGramLM(2, 5, smoothing="add_k", k=k).fit(corpus)
    assert sol.add_k_bigram_log_prob(corpus, seq, 5, k) == pytest.approx(model.log_prob_sequence(seq).sum(), rel=1e-12)


def test_bits_per_token(sol):
    assert sol.bits_per_token(perplexity(np.full(10, -math.log(64)))) == pytest.approx(6.0)
    assert sol.bits_per_token(2.0) == pytest.approx(1.0)


def test_greedy_takes_the_argmax_and_ends_in_a_cycle(sol):
    rng = np.random.default_rng(0)
    corpus = rng.integers(0, 6, 500)
    model = NGramLM(3, 6).fit(corpus)
    out = sol.greedy(model, [1, 2], 60)
    seq = [1, 2] + out.tolist()
    for t in range(2, len(seq)):
        assert seq[t] == int(np.argmax(model.probs(seq[t - 2:t])))
    period = sol.cycle_length(out)
    assert 1 <= period <= 6 ** 2              # at most one visit per distinct 2-token context
    assert sol.cycle_length([1, 2, 3, 4, 5, 6]) == 0 and sol.cycle_length([9, 1, 2, 1, 2, 1, 2, 1, 2]) == 2


def test_best_lambda_is_the_grid_minimum(sol):
    rng = np.random.default_rng(1)
    base = np.tile([0, 1, 2, 3, 2, 1], 60)
    noisy = np.where(rng.random(base.size) < 0.2, rng.integers(0, 5, base.size), base)
    model = NGramLM(3, 5).fit(noisy[:300])
    grid = np.linspace(0.05, 0.95, 10)
    lam, ppl = sol.best_lambda(model, noisy[300:], grid)
    for g in grid:
        model.lam = float(g)
        assert ppl <= model.perplexity(noisy[300:]) + 1e-12
    assert 0.05 < lam < 0.95                   # neither extreme: counts help, but not blindly


@given(st.lists(st.integers(0, 5), min_size=3, max_size=50), st.floats(0.01, 3.0), st.data())
def test_add_k_unseen_mass_matches_the_distribution(sol, corpus, k, data):
    model = NGramLM(3, 6, smoothing="add_k", k=k).fit(corpus)
    ctx = data.draw(st.lists(st.integers(0, 5), min_size=0, max_size=2))
    p = model.probs(ctx)
    lvl, h = model.levels[len(ctx)], 0
    for w in ctx:
        h = h * 6 + w
    seen = {int(key - h * 6) for key in lvl["keys"] if h * 6 <= key < h * 6 + 6}
    unseen_mass = sum(p[w] for w in range(6) if w not in seen)
    assert sol.add_k_unseen_mass(model, ctx) == pytest.approx(unseen_mass, rel=1e-12)


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    for name in ("ppl_vs_n.png", "ppl_vs_k.png"):
        assert (r.out / name).stat().st_size > 1000
    assert "validation perplexity (character level)" in r.stdout
    assert "uniform model: PPL =" in r.stdout
