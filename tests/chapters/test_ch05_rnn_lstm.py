import math
import pathlib

import numpy as np
import pytest
from chapter_helpers import assert_quoted, recorded

import tinygrad_llm.nn as nn
from tinygrad_llm import Tensor, backend
from tinygrad_llm.testing import assert_close

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "05_rnn_lstm"
rng = np.random.default_rng(0)


def test_numpy_step_equals_lstm_cell(sol):
    with backend.default_dtype(np.float64):
        cell = nn.LSTMCell(3, 5)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    h1, c1 = cell(Tensor(x), (Tensor(h), Tensor(c)))
    h2, c2 = sol.lstm_step_numpy(x, h, c, *(cell.state_dict()[k] for k in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]))
    assert_close(h1, h2, rtol=1e-12, atol=1e-14)
    assert_close(c1, c2, rtol=1e-12, atol=1e-14)


def test_parameter_count(sol):
    for C, H, L in [(3, 5, 1), (7, 4, 3)]:
        assert sol.lstm_num_parameters(C, H, L) == nn.LSTM(C, H, num_layers=L).num_parameters()


def test_forget_gate_product_is_dc_dc0_when_whh_is_zero(sol):
    T, B, C, H = 6, 2, 3, 4
    with backend.default_dtype(np.float64):
        lstm = nn.LSTM(C, H)
    lstm.weight_hh_l0.data[:] = 0.0
    x = rng.standard_normal((T, B, C))
    c0 = Tensor(rng.standard_normal((1, B, H)), requires_grad=True)
    _, (_, c_n) = lstm(Tensor(x), (Tensor(np.zeros((1, B, H))), c0))
    c_n.sum().backward()
    sd = lstm.state_dict()
    assert_close(c0.grad.numpy()[0], sol.forget_gate_product(x, sd["weight_ih_l0"], sd["bias_ih_l0"], sd["bias_hh_l0"]),
                 rtol=1e-12, atol=1e-15)


def test_tbptt_pairs(sol):
    assert sol.tbptt_pairs_covered(10, 10) == 45 and sol.tbptt_pairs_covered(10, 1) == 0
    brute = sum(1 for t in range(10) for s in range(t) if t // 4 == s // 4)
    assert sol.tbptt_pairs_covered(10, 4) == brute


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    for name in ("gradient_flow.png", "tbptt_loss.png"):
        assert (r.out / name).stat().st_size > 1000
    assert "cell by hand == LSTMCell: True" in r.stdout
    assert "outputs equal: True, input gradients equal: True" in r.stdout


@pytest.mark.torch
def test_tanh_rnn_gradient_norms_match_torch_and_vanish(sol):
    torch = pytest.importorskip("torch")
    T, B, C, H = 60, 2, 3, 8
    torch.manual_seed(0)
    rnn = torch.nn.RNN(C, H, nonlinearity="tanh").double()
    x = rng.standard_normal((T, B, C))
    xt = torch.tensor(x, requires_grad=True)
    _, h_n = rnn(xt)
    h_n.sum().backward()
    ref = np.linalg.norm(xt.grad.numpy().reshape(T, -1), axis=1)
    w = [getattr(rnn, n).detach().numpy() for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    ours = sol.tanh_rnn_input_gradient_norms(x, *w)
    assert_close(ours, ref, rtol=1e-9, atol=1e-300)
    assert ours[-1] > 1e-2 and ours[0] < 1e-8 * ours[-1]            # 60 steps back: gone


# ---------------------------------------------------------------------------------------------------------
# The chapter text against the numbers of the walk-throughs' last full runs (figures/results.json from run.py).

def ch05_fields(r):
    g, fc, tb = r["gradient_flow"], r["fused_vs_composed"], r["tbptt"]
    far = {bias: norms[-1] for bias, norms in g["norms_by_k"].items()}     # the first input, T - 1 steps back
    return {"T": g["T"], "C": g["C"], "H": g["H"], "kmax": g["T"] - 1, "exp0": round(math.log10(far["+0"])),
            "far0": f"{far['+0']:.1e}", "far4": f"{far['+4']:.0f}",
            "fT": fc["T"], "fB": fc["B"], "fC": fc["C"], "fH": fc["H"],
            "fused_ms": f"{fc['fused_seconds']['cpu'] * 1e3:.0f}", "composed_ms": f"{fc['composed_seconds']['cpu'] * 1e3:.0f}",
            "speedup": f"{fc['composed_seconds']['cpu'] / fc['fused_seconds']['cpu']:.1f}",
            "tH": tb["hidden"], "chars": f"{tb['characters']:,}", "chunks": tb["steps"],
            "first": f"{tb['first10_mean_loss']:.2f}", "last": f"{tb['last10_mean_loss']:.2f}"}


def test_readme_quotes_the_recorded_run():
    assert_quoted(CHAPTER, ch05_fields(recorded(CHAPTER)), [
        "for an untrained LSTM ({C} inputs, {H} hidden units, {T} steps)",
        "the gradient from {kmax} steps back (the first input) is about $10^{{{exp0}}}$ ({far0})",
        "it is still above 1 ({far4})",
        "({fT} steps, batch {fB}, {fC} inputs, {fH} hidden units; the fastest of three runs): the fused node took "
        "{fused_ms} ms of CPU time against {composed_ms} ms for the loop of composed cells, {speedup} times faster, "
        "with equal outputs and gradients",
        "In the full run ({tH} hidden units, {chars} characters, {chunks} chunks) the loss, averaged over ten chunks, "
        "falls from {first} over the first ten to {last} nats per character over the last ten"])


def test_the_recorded_run_shows_what_the_text_says():
    r = recorded(CHAPTER)
    far = {bias: norms[-1] for bias, norms in r["gradient_flow"]["norms_by_k"].items()}
    assert far["+0"] < 1e-20 < 1 < far["+4"]                              # vanished at sigma 0.5, alive at 0.98
    assert far["-2"] < far["+0"] < far["+2"] < far["+4"]                  # the larger the forget bias, the further
    fc = r["fused_vs_composed"]
    assert fc["equal"] == {"outputs": True, "input_gradients": True}
    assert fc["fused_seconds"]["cpu"] < fc["composed_seconds"]["cpu"]
    assert r["tbptt"]["last10_mean_loss"] < r["tbptt"]["first10_mean_loss"] - 1
