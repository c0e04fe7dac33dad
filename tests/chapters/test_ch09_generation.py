import pathlib

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from tinygrad_llm.generation import filter_logits

from chapter_helpers import assert_quoted, recorded

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "09_generation"

rows = st.lists(st.floats(-4, 4, allow_nan=False), min_size=2, max_size=10, unique=True)


@given(rows, st.integers(1, 10))
def test_top_k_probs_match_the_library_filter(sol, z, k):
    k = min(k, len(z))
    f = filter_logits(np.array([z]), top_k=k)[0]
    p = np.exp(f - f.max()); p /= p.sum()
    np.testing.assert_allclose(sol.top_k_probs(z, k), p, atol=1e-12)


@given(rows, st.floats(0.05, 0.99))
def test_nucleus_matches_the_library_filter(sol, z, p):
    probs = np.sort(sol.softmax(np.array(z)))[::-1]
    assume(np.abs(np.cumsum(probs) - p).min() > 1e-9)          # no token sits exactly on the boundary
    assume(np.diff(probs).max() < -1e-12)                      # no two tokens tie (the order between them is arbitrary)
    kept = np.flatnonzero(np.isfinite(filter_logits(np.array([z]), top_p=p)[0])).tolist()
    assert sol.nucleus(z, p) == kept


def test_entropy_grows_with_temperature(sol):
    z = np.array([2.0, 1.0, 0.5, -1.0])
    hs = [sol.entropy_at_temperature(z, t) for t in (0.1, 0.5, 1.0, 2.0, 10.0)]
    assert all(a < b for a, b in zip(hs, hs[1:])) and hs[-1] < np.log(4)


def test_cache_saves_more_as_the_sequence_grows(sol):
    ratios = [sol.per_token_flops(n, 128, False) / sol.per_token_flops(n, 128, True) for n in (8, 64, 512)]
    assert ratios[0] > 1 and all(a < b for a, b in zip(ratios, ratios[1:]))


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    for name in ("distributions.png", "kv_cache_speed.png"):
        assert (r.out / name).is_file()
    assert "--- beam 4" in r.stdout


def test_rotary_scores_depend_on_the_offset_only(sol):
    import tinygrad_llm.functional as F
    from tinygrad_llm import Tensor
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal(8), rng.standard_normal(8)
    base = sol.rotary_score(q, k, 7, 3)
    for s in (1, 10, 500):
        assert abs(sol.rotary_score(q, k, 7 + s, 3 + s) - base) < 1e-9
    cos, sin = F.rope_angles(8, [7, 3], dtype=np.float64)            # the library's rotation agrees
    rq = F.rope(Tensor(q[None]), cos[:1], sin[:1]).numpy()[0]
    rk = F.rope(Tensor(k[None]), cos[1:], sin[1:]).numpy()[0]
    assert abs(rq @ rk - base) < 1e-9
    P, wq, wk = rng.standard_normal((600, 8)), rng.standard_normal((4, 8)), rng.standard_normal((4, 8))
    a = sol.absolute_score(q, k, P, wq, wk, 7, 3)
    assert abs(a - float(((q + P[7]) @ wq.T) @ ((k + P[3]) @ wk.T))) < 1e-9
    assert abs(sol.absolute_score(q, k, P, wq, wk, 17, 13) - a) > 1e-3


def ch09_fields(r):
    from tinygrad_llm.models.gpt import GPTConfig
    kv, d, cpu = r["kv_cache"], r["distribution"], GPTConfig.from_preset("cpu")
    c, u, n = kv["ms_per_token_cached"], kv["ms_per_token_uncached"], kv["lengths"]
    return {"layers": cpu.n_layer, "width": cpu.n_embd, "block": kv["block_size"], "n_first": n[0], "n_last": n[-1],
            "u_first": f"{u[0]:.1f}", "u_last": f"{u[-1]:.1f}", "c_min": f"{min(c):.1f}", "c_max": f"{max(c):.1f}",
            "x_first": f"{u[0] / c[0]:.1f}", "x_last": f"{u[-1] / c[-1]:.1f}", "context": repr(d["context"]),
            "entropy": f"{d['entropy']:.2f}", "k3": f"{d['kept_mass']['top-k 3']:.0%}",
            "p6": f"{d['kept_mass']['top-p 0.6']:.0%}"}


def test_the_cache_advantage_grows_with_the_length():
    kv = recorded(CHAPTER)["kv_cache"]
    ratio = np.array(kv["ms_per_token_uncached"]) / np.array(kv["ms_per_token_cached"])
    assert ratio[0] > 1 and ratio[-1] > 2 * ratio[0]
    assert kv["ms_per_token_uncached"][-1] > 2 * kv["ms_per_token_uncached"][0]   # uncached: grows with n
    assert max(kv["ms_per_token_cached"]) < 2 * min(kv["ms_per_token_cached"])     # cached: about flat


def test_the_distribution_rules_differ_visibly():
    d = recorded(CHAPTER)["distribution"]
    assert d["kept_mass"]["top-k 3"] < 0.9 and d["kept_mass"]["top-p 0.6"] < 0.9 and d["entropy"] > 1.0


def test_readme_quotes_the_recorded_run():
    assert_quoted(CHAPTER, ch09_fields(recorded(CHAPTER)), [
        "({layers} layers, {width} channels) with a window of {block} tokens",
        "from {u_first} ms per token when generating {n_first} tokens to {u_last} ms for {n_last}",
        "between {c_min} and {c_max} ms, {x_first}× faster at {n_first} tokens and {x_last}× at {n_last}",
        "the next character after {context}", "(entropy {entropy} nats)", "({k3} of the probability",
        "reaches 0.6 ({p6})"])
