import pathlib

import numpy as np

import tinygrad_llm.functional as F
import tinygrad_llm.nn as nn
from tinygrad_llm import Tensor, backend
from tinygrad_llm.testing import assert_close

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
