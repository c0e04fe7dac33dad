"""The one attention-mask builder (``functional.additive_mask``): causal, boolean and float attention masks,
key padding, and the conventions of its two callers (``F.scaled_dot_product_attention``: boolean True =
allowed; ``nn.MultiheadAttention``: boolean True = hidden), for masks given as NumPy arrays, lists or
Tensors."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_llm.functional as F
import tinygrad_llm.nn as nn
from tinygrad_llm import Tensor
from tinygrad_llm.functional import ShapeError
from tinygrad_llm.testing import assert_close

NEG = -np.inf


def test_causal_part():
    m = F.additive_mask(2, 3, is_causal=True)
    np.testing.assert_array_equal(m, [[0, 0, NEG], [0, 0, 0]])     # j <= i + T_k - T_q
    assert F.additive_mask(2, 3) is None


def test_parts_add_up():
    allowed = np.array([[True, False, True], [True, True, True]])
    pad = np.array([[False, False, True]])                            # batch 1, key 2 is padding
    m = F.additive_mask(2, 3, attn_mask=allowed, is_causal=True, key_padding_mask=pad, dtype=np.float32)
    assert m.shape == (1, 1, 2, 3) and m.dtype == np.float32
    np.testing.assert_array_equal(m[0, 0], [[0, NEG, NEG], [0, 0, NEG]])
    floats = np.array([[0.5, -1.0, 2.0]])
    np.testing.assert_array_equal(F.additive_mask(2, 3, attn_mask=floats), np.broadcast_to(floats, (1, 3)))


@pytest.mark.parametrize("wrap", [np.asarray, list, Tensor])
def test_masks_as_arrays_lists_or_tensors(wrap):
    allowed = np.array([[True, False], [True, True]])
    pad = np.array([[False, True]])
    m = F.additive_mask(2, 2, attn_mask=wrap(allowed.tolist() if wrap is list else allowed),
                        key_padding_mask=wrap(pad.tolist() if wrap is list else pad))
    np.testing.assert_array_equal(m[0, 0], [[0, NEG], [0, NEG]])


def test_multihead_layouts_and_errors():
    per_head = np.zeros((2 * 3, 4, 5))
    assert F.additive_mask(4, 5, attn_mask=per_head, batch_heads=(2, 3)).shape == (2, 3, 4, 5)
    with pytest.raises(ShapeError, match=r"attn_mask of shape \(5, 4, 5\)"):
        F.additive_mask(4, 5, attn_mask=np.zeros((5, 4, 5)), batch_heads=(2, 3))
    with pytest.raises(ShapeError, match=r"key_padding_mask of shape \(3, 5\), expected \(2, 5\)"):
        F.additive_mask(4, 5, key_padding_mask=np.zeros((3, 5), bool), batch_heads=(2, 3))


@pytest.mark.parametrize("wrap", [np.asarray, Tensor])
def test_multihead_boolean_mask_means_hidden(wrap):
    rng = np.random.default_rng(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = Tensor(rng.standard_normal((2, 4, 8)))
    hidden = np.triu(np.ones((4, 4), bool), k=1)                        # PyTorch: True = may not attend
    a, wa = mha(x, x, x, attn_mask=wrap(hidden))
    b, wb = mha(x, x, x, attn_mask=np.where(hidden, -np.inf, 0.0))
    c, wc = mha(x, x, x, is_causal=True)
    assert_close(a, b, rtol=1e-12)
    assert_close(a, c, rtol=1e-12)
    assert np.all(wa.numpy()[:, np.triu_indices(4, 1)[0], np.triu_indices(4, 1)[1]] == 0)


def test_functional_boolean_mask_means_allowed():
    rng = np.random.default_rng(1)
    q, k, v = (Tensor(rng.standard_normal((1, 3, 4))) for _ in range(3))
    allowed = np.tril(np.ones((3, 3), bool))
    assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=allowed),
                 F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=1e-12)
    assert_close(F.scaled_dot_product_attention_composed(q, k, v, attn_mask=allowed.tolist()),
                 F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=1e-12)


# ----------------------------------------------------------------------------- looking at P: capture_attention
def test_capture_records_every_layer_of_gpt_and_equals_the_formula():
    from tinygrad_llm import backend
    from tinygrad_llm.models.gpt import GPT, GPTConfig
    with backend.default_dtype(np.float64):
        m = GPT(GPTConfig(vocab_size=13, block_size=16, n_layer=3, n_head=2, n_embd=8)).eval()
    ids = np.array([[1, 5, 2, 7, 3]])
    with F.capture_attention() as maps:
        m(ids)
    assert len(maps) == 3 and all(a.shape == (1, 2, 5, 5) for a in maps)
    for a in maps:
        np.testing.assert_allclose(a.sum(-1), 1.0)
        assert np.all(np.triu(a[0, 0], 1) == 0)                  # causal: no weight on later tokens
    x = m.wte(ids) + m.wpe(np.arange(5))         # layer 0 by hand: softmax(q k^T / sqrt(d))
    qkv = m.h[0].attn.c_attn(m.h[0].ln_1(x)).data.reshape(1, 5, 3, 2, 4)
    q, k = qkv[:, :, 0].transpose(0, 2, 1, 3), qkv[:, :, 1].transpose(0, 2, 1, 3)
    s = q @ k.transpose(0, 1, 3, 2) / 2.0 + np.where(np.tri(5, dtype=bool), 0.0, -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(maps[0], e / e.sum(-1, keepdims=True), atol=1e-12)
    with F.capture_attention() as again:
        pass
    m(ids)                                                         # outside the with: nothing recorded
    assert again == [] and len(maps) == 3


def test_capture_shows_grouped_query_heads_and_is_per_thread():
    import threading
    from tinygrad_llm import backend
    from tinygrad_llm.models.llama import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=50, hidden_size=24, intermediate_size=40, num_hidden_layers=2,
                      num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64)
    with backend.default_dtype(np.float64):
        m = LlamaForCausalLM(cfg).eval()
    ids = np.array([[3, 9, 4, 1]])
    other = []
    with F.capture_attention() as maps:
        t = threading.Thread(target=lambda: other.append(m(ids).data))   # another thread's attention
        t.start()
        t.join()
        assert maps == []
        m(ids)
    assert len(maps) == 2 and maps[0].shape == (1, 2, 3, 4, 4)    # (B, H_kv, H/H_kv, T, S)
    per_head = maps[0].reshape(1, 6, 4, 4)                         # query head h reads K/V head h // 3
    np.testing.assert_allclose(per_head.sum(-1), 1.0)
    assert not np.allclose(per_head[0, 0], per_head[0, 3])
