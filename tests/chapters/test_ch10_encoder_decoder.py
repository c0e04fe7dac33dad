import json
import pathlib

import numpy as np
import pytest

import tinygrad_llm as tg
from tinygrad_llm import Tensor
from tinygrad_llm.models.seq2seq import Seq2SeqTransformer, beam_search

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
