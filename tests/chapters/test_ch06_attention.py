import pathlib

import numpy as np
import pytest

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor
from tinygrad_llm.functional.attention import additive_mask
from tinygrad_llm.testing import assert_close

from chapter_helpers import assert_quoted, recorded

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "06_attention"
rng = np.random.default_rng(0)


@pytest.mark.parametrize("causal", [False, True])
def test_numpy_attention_equals_library(sol, causal):
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 5))
    mask = np.tril(np.ones((4, 4), bool)) if causal else None
    assert_close(sol.attention_numpy(q, k, v, mask), F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v),
                                                                                    is_causal=causal), rtol=1e-12)


def test_logit_variance_is_d_and_one_after_scaling(sol):
    for d in (4, 64):
        assert sol.logit_variance(d) == pytest.approx(d, rel=0.05)
        assert sol.logit_variance(d, scaled=True) == pytest.approx(1.0, rel=0.05)


def test_causal_additive_mask_equals_library(sol):
    assert np.array_equal(sol.causal_additive_mask(5), additive_mask(5, 5, is_causal=True))


def test_softmax_jacobian_matches_autograd_and_vanishes_when_saturated(sol):
    z = rng.standard_normal(5)
    J = sol.softmax_jacobian(z)
    for i in range(5):
        x = Tensor(z.copy(), requires_grad=True)
        F.softmax(x, -1)[i].backward()
        assert_close(J[i], x.grad, rtol=1e-12, atol=1e-15)
    assert np.abs(sol.softmax_jacobian(np.array([30.0, 0, 0, 0]))).max() < 1e-12


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    for name in ("scaling.png", "heatmap.png"):
        assert (r.out / name).stat().st_size > 1000
    assert "fused == composed: True" in r.stdout


def test_attention_matrix_bytes(sol):
    B, h, T = 2, 3, 5
    P = F.softmax(Tensor(rng.standard_normal((B, h, T, T)).astype(np.float32)), -1).numpy()
    assert sol.attention_matrix_bytes(T, h, B) == P.nbytes
    assert sol.attention_matrix_bytes(8192, 12, 8) == 25_769_803_776 == 24 * 2 ** 30


def test_readme_quotes_the_recorded_run():
    r = recorded(CHAPTER)
    sat = r["saturation"]
    d, unscaled, scaled = sat["d_k"], sat["unscaled"], sat["scaled"]
    at = {dk: unscaled["max_weight"][d.index(dk)] for dk in (4, 64, 1024)}
    fields = {"keys": sat["keys"], **{f"u{dk}": f"{w:.2f}" for dk, w in at.items()},
              "s_lo": f"{min(scaled['max_weight']):.2f}", "s_hi": f"{max(scaled['max_weight']):.2f}",
              "mass": f"{r['same_character_mass']:.0%}"}
    # the claims: unscaled, the softmax saturates as d_k grows and its slope vanishes; scaled, neither moves much
    assert np.all(np.diff(unscaled["max_weight"]) > 0) and at[1024] > 0.9
    assert unscaled["max_slope"][-1] < 0.5 * unscaled["max_slope"][0]
    assert max(scaled["max_weight"]) - min(scaled["max_weight"]) < 0.1
    assert max(scaled["max_slope"]) < 1.25 * min(scaled["max_slope"])
    assert np.abs(np.array(r["lookup_output"]) - [0.0, 1.0]).max() < 0.02      # "almost exactly value 1"
    assert r["same_character_mass"] > 0.9
    assert_quoted(CHAPTER, fields, [
        "measures it over {keys} keys",
        "the largest weight averages {u4} at $d_k = 4$, {u64} at $d_k = 64$ and {u1024} at $d_k = 1024$; "
        "scaled it stays at {s_lo}–{s_hi}",
        "{mass} of the weight lands on them"])
