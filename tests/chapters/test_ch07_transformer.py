import pathlib

import numpy as np

import tinygrad_llm.functional as F
import tinygrad_llm.nn as nn
from tinygrad_llm import Tensor, backend
from tinygrad_llm.testing import assert_close

from chapter_helpers import assert_quoted, recorded

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "07_transformer"
rng = np.random.default_rng(0)


def test_parameter_counts(sol):
    for E, H, Fd in [(8, 2, 16), (32, 4, 128)]:
        assert sol.encoder_layer_num_parameters(E, Fd) == nn.TransformerEncoderLayer(E, H, Fd).num_parameters()
        assert sol.decoder_layer_num_parameters(E, Fd) == nn.TransformerDecoderLayer(E, H, Fd).num_parameters()


def test_multihead_numpy_equals_module(sol):
    with backend.default_dtype(np.float64):
        m = nn.MultiheadAttention(12, 3, batch_first=True)
    m.in_proj_bias.data[:] = rng.standard_normal(36)
    x = rng.standard_normal((2, 5, 12))
    sd = m.state_dict()
    ref = sol.multihead_numpy(x, sd["in_proj_weight"], sd["in_proj_bias"], sd["out_proj.weight"], sd["out_proj.bias"], 3)
    assert_close(m(Tensor(x), need_weights=False)[0], ref, rtol=1e-11, atol=1e-12)


def test_sinusoid_shift_is_a_fixed_linear_map(sol):
    P = nn.sinusoidal_table(40, 16, dtype=np.float64)
    for k in (1, 5):
        assert_close(P[:-k] @ sol.sinusoid_shift_matrix(16, k), P[k:], atol=1e-12)


def test_pre_and_post_ln_match_the_layers(sol):
    with backend.default_dtype(np.float64):
        post = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=False)
        pre = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True)
    x = rng.standard_normal((2, 4, 8))
    for layer, form in [(post, sol.post_ln), (pre, sol.pre_ln)]:
        def attn(v, layer=layer):
            return layer.self_attn(Tensor(v), need_weights=False)[0].numpy()

        def ffn(v, layer=layer):
            return layer.linear2(F.relu(layer.linear1(Tensor(v)))).numpy()
        assert_close(layer(Tensor(x)), form(form(x, attn), ffn), rtol=1e-10, atol=1e-12)


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    for name in ("positions.png", "preln_vs_postln.png"):
        assert (r.out / name).stat().st_size > 1000
    assert "MultiheadAttention == Concat(heads) W^O: True" in r.stdout
    assert "permuting the input permutes the output: True" in r.stdout


def test_cross_attention_needs_no_causal_mask(sol):
    with backend.default_dtype(np.float64):
        dec = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    tgt, memory = rng.standard_normal((2, 6, 8)), rng.standard_normal((2, 4, 8))
    for t in (0, 2, 4):
        assert sol.change_before(dec, tgt, memory, t) < 1e-12
    # without the self-attention's causal mask the later tokens do leak into earlier outputs
    other = tgt.copy()
    other[:, 3:] = 0.0
    leak = dec(Tensor(tgt), Tensor(memory)).numpy()[:, :3] - dec(Tensor(other), Tensor(memory)).numpy()[:, :3]
    assert np.abs(leak).max() > 1e-3


# The pre-LN / post-LN claims of the text (Xiong et al. 2020, Fig. 3), on the full run's recorded numbers and,
# live, on the fast run of the walk-through (same model, smaller: 4 layers, 3 seeds).
def _claims(g, full: bool):
    mean = {k: np.array(v["mean"]) for k, v in g.items()}
    for w in ("W1", "W2"):
        post, pre = mean[f"post-LN {w}"], mean[f"pre-LN {w}"]
        assert post[-1] > 1.1 * post[0], f"post-LN {w}: the gradient grows towards the output"
        assert pre[-1] < pre[0], f"pre-LN {w}: the gradient does not grow, it falls towards the output"
        assert post[-1] > pre[-1], "at the last layer post-LN's gradient is the larger"
        if full:
            assert pre.argmax() == 0 and (pre < post).all()
    assert g["post-LN W1"]["last_over_first"]["min"] > 1.0 or not full, "post-LN W1 grows in every seed"
    post_d, pre_d = mean["post-LN last W2 by depth"], mean["pre-LN last W2 by depth"]
    assert np.all(np.diff(pre_d) < 0) and pre_d[-1] < 0.8 * pre_d[0], "pre-LN: the last W2 shrinks with depth"
    assert post_d[-1] > 0.9 * post_d[0] and post_d[-1] > 1.5 * pre_d[-1], "post-LN: it does not"


def test_preln_postln_claims_on_the_recorded_run():
    r = recorded(CHAPTER)
    assert r["setup"]["seeds"] >= 10 and r["setup"]["layers"] == 6
    _claims(r["gradients"], full=True)


def test_preln_postln_claims_live(notebook):
    _claims(notebook(f"{CHAPTER.name}/run.py").results["gradients"], full=False)


def test_readme_quotes_the_recorded_run():
    g = recorded(CHAPTER)["gradients"]
    fields = {"cpu": f"{recorded(CHAPTER)['seconds']['cpu']:.0f}"}
    for name, key in (("post", "post-LN"), ("pre", "pre-LN")):
        for w in ("W1", "W2"):
            v, ratio = g[f"{key} {w}"], g[f"{key} {w}"]["last_over_first"]
            for i, pos in ((0, "first"), (-1, "last")):
                fields[f"{name}_{w}_{pos}"] = f"{v['mean'][i]:.2f} ({v['min'][i]:.2f}–{v['max'][i]:.2f})"
            fields[f"{name}_{w}_ratio"] = f"{ratio['mean']:.2f} ({ratio['min']:.2f}–{ratio['max']:.2f})"
            fields[f"{name}_{w}_x"] = f"{ratio['mean']:.2f}×"
        fields[f"{name}_depth"] = ", ".join(f"{x:.2f}" for x in g[f"{key} last W2 by depth"]["mean"])
    assert_quoted(CHAPTER, fields, [
        "(the recorded run: {cpu} s of CPU time)",
        *[f"| {n}-LN $W^{w[1]}$ | {{{n}_{w}_first}} | {{{n}_{w}_last}} | {{{n}_{w}_ratio}} |"
          for n in ("post", "pre") for w in ("W1", "W2")],
        "by {post_W1_x} for $W^1$ (in every seed) and {post_W2_x} for $W^2$ on average",
        "to {pre_W2_x} for $W^2$", "levels off ({post_depth}, for $L$ = 2, 4, 6, 8, 12)",
        "keeps shrinking ({pre_depth})"])
