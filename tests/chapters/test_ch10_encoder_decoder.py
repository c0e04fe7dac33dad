import json
import pathlib

import numpy as np
import pytest

import tinygrad_llm as tg
from tinygrad_llm import Tensor
from tinygrad_llm.models.seq2seq import Seq2SeqTransformer, beam_search

from chapter_helpers import assert_quoted, recorded

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "10_encoder_decoder"


def tiny_model(V_tgt=6):
    return Seq2SeqTransformer(9, V_tgt, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                              dim_feedforward=32, dropout=0.0).eval()


@pytest.mark.torch
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_matches_torch(sol, eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4, 7))
    targets = rng.integers(1, 7, size=(3, 4))
    targets[0, 2:] = 0                                              # padding
    ours = sol.label_smoothed_cross_entropy(Tensor(logits), targets, eps, ignore_index=0).item()
    ref = torch.nn.functional.cross_entropy(torch.tensor(logits).reshape(-1, 7), torch.tensor(targets).reshape(-1),
                                            ignore_index=0, label_smoothing=eps).item()
    assert ours == pytest.approx(ref, rel=1e-6)


def test_label_smoothing_gradient_flows(sol):
    x = Tensor(np.random.default_rng(1).standard_normal((2, 3, 5)), requires_grad=True)
    sol.label_smoothed_cross_entropy(x, np.array([[1, 2, 0], [3, 4, 4]]), 0.2).backward()
    g = x.grad.numpy()
    assert np.allclose(g.sum(-1), 0.0, atol=1e-6)                   # softmax gradients sum to zero per row
    assert np.abs(g[0, 2]).max() == 0.0                              # padded position gets no gradient


def test_field_accuracy(sol):
    refs = ["1992-06-21", "2005-03-03", "1900-01-01", "2099-12-31"]
    hyps = ["1992-06-21", "2005-03-08", "1900-10-01", "209912-31"]
    assert sol.field_accuracy(hyps, refs) == {"year": 0.75, "month": 0.5, "day": 0.5}
    assert sol.field_accuracy(refs, refs) == {"year": 1.0, "month": 1.0, "day": 1.0}
    with pytest.raises(ValueError, match="field_accuracy"):
        sol.field_accuracy(hyps[:2], refs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_beam_finds_the_exact_best_sequence(sol, seed):
    tg.manual_seed(seed)
    m = tiny_model()
    src = np.array([4, 5, 6, 7])
    L = 3
    exact_score, exact_ids = sol.exact_best_sequence(m, src, L, length_penalty=0.0)
    hyps = beam_search(m, src[None], num_beams=128, max_len=L + 1, length_penalty=0.0, return_all=True)[0]
    finished = [(s, h) for s, h in hyps if len(h) <= L]
    assert finished[0][1] == exact_ids and finished[0][0] == pytest.approx(exact_score, abs=1e-5)
    # a narrow beam can only do as well or worse than the exact search
    narrow = beam_search(m, src[None], num_beams=2, max_len=L + 1, length_penalty=0.0, return_all=True)[0]
    assert max((s for s, h in narrow if len(h) <= L), default=-np.inf) <= exact_score + 1e-6


def test_hard_alignment(sol):
    w = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    assert sol.hard_alignment(w, ["a", "b", "c"], ["x", "y"]) == [("x", "b"), ("y", "a")]
    with pytest.raises(ValueError, match="hard_alignment"):
        sol.hard_alignment(w, ["a", "b"], ["x", "y"])


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    for name in ("training_curve.png", "cross_attention.png"):
        assert (r.out / name).stat().st_size > 1000
    res = json.loads((r.out / "results.json").read_text())
    assert res["fast"] and 0.0 <= res["greedy"]["exact_match"] <= 1.0 and 0.0 <= res["beam4"]["bleu"] <= 100.0
    assert "test greedy" in r.stdout


# ---------------------------------------------------------------- the chapter's numbers come from figures/results.json
def _pct(x):
    return f"{100 * x:.1f} %"


def test_readme_quotes_the_recorded_run():
    r = recorded(CHAPTER)
    t, al = r["training"], r["alignment"]
    curve = {c["step"]: c for c in t["curve"]}
    last_w, first_w = np.array(al["last_layer_max_weight"]), np.array(al["first_layer_max_weight"])
    hyps = r["beam_hypotheses"]["alpha 0.0"]
    gaps = [hyps[0][1] - s for _, s in hyps[1:]]
    fields = {
        "words": t["source_words"], "params": f"{r['parameters']:,}", "steps": r["steps"],
        "dates": f"{t['train_dates']:,}", "train_s": f"{r['train_seconds']:.0f}",
        "with_valid_s": f"{t['seconds_with_validation']['wall']:.0f}",
        "load": f"{r['machine']['load_average_at_start'][0]:.1f}",
        "loss100": f"{curve[100]['train_loss']:.2f}", "right100": f"{round(curve[100]['valid_exact_match'] * 500):.0f}",
        "em100": _pct(curve[100]["valid_exact_match"]), "em150": _pct(curve[150]["valid_exact_match"]),
        "dip": _pct(curve[200]["valid_exact_match"]),
        "g_em": _pct(r["greedy"]["exact_match"]), "g_bleu": f"{r['greedy']['bleu']:.1f}",
        "g_s": f"{r['greedy']['seconds']:.1f}", "b_em": _pct(r["beam4"]["exact_match"]),
        "b_bleu": f"{r['beam4']['bleu']:.1f}", "b_s": f"{r['beam4']['seconds']:.1f}",
        "source": r["beam_hypotheses"]["source"], "target": r["beam_hypotheses"]["target"],
        "runners": ",\n".join(f"`{h}`" for h, _ in hyps[1:3]) + f" and `{hyps[3][0]}`",
        "gap_lo": f"{min(gaps):.1f}", "gap_hi": f"{max(gaps):.1f}", "factor": f"{round(float(np.exp(min(gaps))), -3):,.0f}",
        "w_lo": f"{last_w.min():.2f}", "w_hi": f"{last_w.max():.2f}",
        "w_first": f"{first_w.mean():.2f}", "w_last": f"{last_w.mean():.2f}",
    }
    rows = [f"| {c['n_train']:,} | {_pct(c['exact_match_beam1'])} | {_pct(c['exact_match_beam4'])} | "
            f"{c['bleu_beam1']:.1f} | {c['bleu_beam4']:.1f} |" for c in r["data_curve"]]
    assert_quoted(CHAPTER, fields, [
        "({words} words plus `<pad> <bos> <eos> <unk>`)",
        "The full run trains a {params}-parameter model", "for {steps} steps of 64 pairs drawn from {dates} training dates",
        "It took {train_s} s on two CPU cores (load average {load} at the start",
        "{with_valid_s} s with decoding the validation set", "the loss falls to {loss100} nats, yet only {right100} "
        "validation date in 500", "jumps from {em100} to {em150} in 50 steps (with a dip to {dip}",
        "| greedy | {g_em} | {g_bleu} | {g_s} s |", "| beam search, $K = 4$, $\\alpha = 1$ | {b_em} | {b_bleu} | {b_s} s |",
        "`{source}` (→ `{target}`) the runners-up are {runners}, {gap_lo} to {gap_hi} nats",
        "(a factor of {factor} or more)",
        "its largest weight, {w_lo} to {w_hi}", "(its largest weights average {w_first}, the second layer's {w_last})",
        *rows])


def test_the_recorded_run_supports_the_text():
    r = recorded(CHAPTER)
    curve = r["training"]["curve"]
    by_step = {c["step"]: c["valid_exact_match"] for c in curve}
    assert by_step[100] <= 0.01 and by_step[150] > 0.9                      # the jump after the format phase
    assert min(by_step[s] for s in by_step if s > 150) < by_step[150]       # the dip while the rate is high
    assert r["greedy"]["exact_match"] == r["beam4"]["exact_match"] == 1.0   # both decoders perfect on the test set
    assert r["beam4"]["seconds"] > 3 * r["greedy"]["seconds"]               # beam search only costs time
    hyps = r["beam_hypotheses"]["alpha 0.0"]
    assert hyps[0][0] == r["beam_hypotheses"]["target"]
    assert all(sum(a != b for a, b in zip(h, hyps[0][0])) == 1 for h, _ in hyps[1:])   # one character wrong each
    for c in r["data_curve"]:                                               # BLEU stays high while exact match falls
        assert c["bleu_beam1"] > 100 * c["exact_match_beam1"] and abs(c["exact_match_beam4"] - c["exact_match_beam1"]) < 0.01
    assert [c["exact_match_beam1"] for c in r["data_curve"]] == sorted(c["exact_match_beam1"] for c in r["data_curve"])
    al = r["alignment"]
    src, look = al["source"], [al["source"][j] for j in al["last_layer_argmax"]]
    twenties = [i for i, w in enumerate(src) if w == "twenty"]
    assert src == "the twenty fifth of december twenty seventy four".split() and al["target"][:10] == list("2074-12-25")
    assert al["last_layer_argmax"][0] == twenties[1] and al["last_layer_argmax"][8] == twenties[0]   # which twenty
    assert look[2] == "seventy" and look[3] == "four" and look[5] == "december" and look[6] == "of" and look[9] == "fifth"
    assert np.mean(al["first_layer_max_weight"]) < np.mean(al["last_layer_max_weight"])
