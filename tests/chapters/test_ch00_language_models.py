import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_llm.metrics.perplexity import perplexity
from tinygrad_llm.models.ngram import NGramLM

from chapter_helpers import assert_quoted, recorded

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


METHODS = ("add-k (k=0.01)", "add-k (k=1)", "Jelinek-Mercer (λ=0.8)", "Kneser-Ney")


def test_the_smoothing_claims_hold_on_the_recorded_run():
    r = recorded(CHAPTER)
    t, orders = r["validation_ppl"], r["validation_ppl"]["orders"]
    ppl = {m: np.array(t[m]) for m in METHODS}
    assert orders == [1, 2, 3, 4, 5, 6]
    # longer contexts help, then add-k gets worse while the interpolated methods keep improving
    assert ppl["add-k (k=0.01)"].argmin() == 4 and ppl["add-k (k=1)"].argmin() == 3
    assert np.all(np.diff(ppl["add-k (k=1)"][3:]) > 0)
    for m in ("Jelinek-Mercer (λ=0.8)", "Kneser-Ney"):
        assert np.all(np.diff(ppl[m]) < 0), m
    # Kneser-Ney is best from n = 3 on; below, every method but Jelinek-Mercer agrees to the second decimal
    others = np.array([ppl[m] for m in METHODS[:3]])
    assert np.all(ppl["Kneser-Ney"][2:] < others[:, 2:].min(axis=0))
    for i in (0, 1):
        assert len({f"{ppl[m][i]:.2f}" for m in ("add-k (k=0.01)", "add-k (k=1)", "Kneser-Ney")}) == 1
    # the best k shrinks from the trigram on, and the best add-k 5-gram still loses to Kneser-Ney
    best = r["best_add_k"]
    assert best["3"]["k"] > best["4"]["k"] > best["5"]["k"]
    assert best["5"]["ppl"] > ppl["Kneser-Ney"][4]
    assert r["uniform_ppl"] == pytest.approx(r["corpus"]["vocab_size"])


def test_longer_contexts_write_more_real_words():
    known = [recorded(CHAPTER)["samples"][n]["known_words"] for n in ("2", "3", "5")]
    assert known[0] < known[1] < known[2] and known[0] < 0.5 < known[2]


def ch00_fields(r):
    p, c, t = r["phrase"], r["corpus"], r["validation_ppl"]
    f = {"wall": f"{r['seconds']['wall']:.0f}", "cpu": f"{r['seconds']['cpu']:.0f}", "cpus": r["machine"]["cpus"],
         "load": f"{r['machine']['load_average_at_start'][0]:.1f}", "chars": f"{c['characters']:,}",
         "V": c["vocab_size"], "V1": c["vocab_size"] - 1, "train": f"{c['train']:,}",
         "fit6": f"{r['kneser_ney_fit_seconds']['cpu'][t['orders'].index(6)]:.2f}",
         "p_space": f"{p['p'][2]:.2f}", "p_t": f"{p['p'][12]:.2f}", "lp": f"{p['log_p']:.1f}".replace("-", "−"),
         "lps": f"{p['log_p_scrambled']:.1f}".replace("-", "−"), "gap": f"{p['log_p'] - p['log_p_scrambled']:.1f}",
         "uniform": f"{r['uniform_ppl']:.0f}"}
    assert p["text"][:2] == "To" and p["text"][2] == " " and p["text"][10:13] == "not"
    for n in ("2", "3", "5"):
        f[f"known{n}"] = f"{100 * r['samples'][n]['known_words']:.0f} %"
        f[f"k{n}"] = f"{r['best_add_k'][n]['k']:.2g}"
    f["k4"] = f"{r['best_add_k']['4']['k']:.2g}"
    f["best5"] = f"{r['best_add_k']['5']['ppl']:.2f}"
    f["kn5"] = f"{t['Kneser-Ney'][t['orders'].index(5)]:.2f}"
    for i, n in enumerate(t["orders"]):
        f[f"row{n}"] = f"| {n} | " + " | ".join(f"{t[m][i]:.2f}" for m in METHODS) + " |"
    return f


def test_readme_quotes_the_recorded_run():
    r = recorded(CHAPTER)
    assert_quoted(CHAPTER, ch00_fields(r), [
        "the recorded run took {wall} s wall and {cpu} s of CPU time on {cpus} cores (load average {load} at its start)",
        "the complete works of Shakespeare ({chars} characters) have $V = {V}$ distinct characters",
        r"$w_t \in \{{0, \dots, {V1}\}}$", "training text (the first 90 %, {train} characters)",
        "in {fit6} s of CPU time", "a space has probability {p_space}, after `\"no\"` a `t` {p_t}.",
        "the log-probability of the phrase, {lp}; the same letters in sorted order score {lps}, so they are "
        "$e^{{{gap}}}$ times less likely",
        "{known2} occur in the training text for the bigram model, {known3} for the trigram model and {known5} for "
        "the 5-gram model", "$\\mathrm{{PPL}} = V$ ({uniform} here)", "to each of the {V} possible continuations",
        *[f"{{row{n}}}" for n in r["validation_ppl"]["orders"]],
        "the best $k$ is {k2} for bigrams, {k3} for trigrams, {k4} for 4-grams and {k5} for 5-grams",
        "the best add-k 5-gram (PPL {best5}) loses to Kneser–Ney ({kn5})"])
