"""Attention: the fused node equals the composed one and finite differences; MultiheadAttention and the
Transformer layers equal PyTorch with copied weights (forward and all gradients); invariants with hypothesis."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_llm
import tinygrad_llm.functional as F
import tinygrad_llm.nn as nn
from tinygrad_llm import Tensor, backend
from tinygrad_llm.functional import ShapeError
from tinygrad_llm.testing import assert_close, gradcheck

from nn_parity import parity

DTYPES = [np.float64, np.float32]
rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


# ------------------------------------------------------------------------------------------ fused vs composed
@st.composite
def attention_case(draw):
    B, Tq, Tk, dk, dv = (draw(st.integers(1, 4)) for _ in range(5))
    kind = draw(st.sampled_from(["none", "causal", "bool", "float", "padding"]))
    causal = kind == "causal"
    if causal:
        Tk = max(Tk, Tq)
    r = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    mask = None
    if kind == "bool":                                   # True = allowed; keep key 0 visible to every query
        mask = r.random((Tq, Tk)) < 0.6
        mask[:, 0] = True
    elif kind == "float":
        mask = r.standard_normal((B, 1, Tk))
    elif kind == "padding":                              # (B, 1, Tk) broadcast over queries
        mask = np.ones((B, 1, Tk), bool)
        mask[:, :, 1:] = r.random((B, 1, Tk - 1)) < 0.5
    q, k, v = r.standard_normal((B, Tq, dk)), r.standard_normal((B, Tk, dk)), r.standard_normal((B, Tk, dv))
    return q, k, v, mask, causal


@given(case=attention_case())
def test_fused_attention_equals_composed(case):
    q, k, v, mask, causal = case
    a = [Tensor(x.copy(), requires_grad=True) for x in (q, k, v)]
    b = [Tensor(x.copy(), requires_grad=True) for x in (q, k, v)]
    ya = F.scaled_dot_product_attention(*a, attn_mask=mask, is_causal=causal)
    yb = F.scaled_dot_product_attention_composed(*b, attn_mask=mask, is_causal=causal)
    assert_close(ya, yb, rtol=1e-12, atol=1e-13)
    g = np.random.default_rng(1).standard_normal(ya.shape)
    ya.backward(Tensor(g))
    yb.backward(Tensor(g))
    for x, y in zip(a, b):
        assert_close(x.grad, y.grad, rtol=1e-10, atol=1e-12)


@given(case=attention_case())
def test_gradcheck_fused_attention(case):
    q, k, v, mask, causal = case
    ts = [Tensor(x, requires_grad=True) for x in (q, k, v)]
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal), *ts)


def test_fused_attention_dropout_equals_composed_with_same_seed():
    q, k, v = randn(2, 3, 5, 4), randn(2, 3, 6, 4), randn(2, 3, 6, 4)
    a = [Tensor(x.copy(), requires_grad=True) for x in (q, k, v)]
    b = [Tensor(x.copy(), requires_grad=True) for x in (q, k, v)]
    tinygrad_llm.manual_seed(5)
    ya = F.scaled_dot_product_attention(*a, dropout_p=0.3)
    tinygrad_llm.manual_seed(5)
    yb = F.scaled_dot_product_attention_composed(*b, dropout_p=0.3)
    assert_close(ya, yb, rtol=1e-12, atol=1e-13)
    ya.sum().backward()
    yb.sum().backward()
    for x, y in zip(a, b):
        assert_close(x.grad, y.grad, rtol=1e-10, atol=1e-12)
    assert_close(F.scaled_dot_product_attention(*a, dropout_p=0.3, training=False),
                 F.scaled_dot_product_attention(*a), rtol=0, atol=0)


def test_fused_attention_broadcast_keys_gradient_is_summed():
    """Grouped-query layout: k, v (B, 1, S, d) shared by 2 query heads (B, 2, T, d)."""
    q, k, v = randn(2, 2, 3, 4), randn(2, 1, 5, 4), randn(2, 1, 5, 4)
    a = [Tensor(x, requires_grad=True) for x in (q, k, v)]
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), *a)
    y = F.scaled_dot_product_attention(*a, is_causal=True)
    ref = F.scaled_dot_product_attention(Tensor(q), Tensor(np.repeat(k, 2, 1)), Tensor(np.repeat(v, 2, 1)), is_causal=True)
    assert_close(y, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize("causal", [False, True])
def test_fused_attention_matches_torch(causal):
    import torch
    q, k, v = randn(2, 2, 4, 3), randn(2, 2, 4, 3), randn(2, 2, 4, 5)
    ts = [Tensor(x, requires_grad=True) for x in (q, k, v)]
    tt = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
    y = F.scaled_dot_product_attention(*ts, is_causal=causal)
    ty = torch.nn.functional.scaled_dot_product_attention(*tt, is_causal=causal)
    assert_close(y, ty.detach().numpy(), rtol=1e-12, atol=1e-13)
    g = randn(*y.shape)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    for a, b in zip(ts, tt):
        assert_close(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_attention_shape_errors():
    with pytest.raises(ShapeError, match="different feature sizes"):
        F.scaled_dot_product_attention(Tensor(randn(2, 3)), Tensor(randn(2, 4)), Tensor(randn(2, 4)))
    with pytest.raises(ShapeError, match="different lengths"):
        F.scaled_dot_product_attention(Tensor(randn(2, 3)), Tensor(randn(2, 3)), Tensor(randn(4, 3)))


# ------------------------------------------------------------------------------------------ MultiheadAttention vs torch
E, H = 8, 2


def _mha_case(kind, batch_first):
    B, L, S = 2, 4, 5
    shape = (lambda T: (B, T, E)) if batch_first else (lambda T: (T, B, E))
    pad = np.zeros((B, S), bool)
    pad[0, 3:] = True
    causal = np.triu(np.ones((L, L), bool), 1)
    if kind == "self":
        return [randn(*shape(L))], {}, {}
    if kind == "self_causal":                              # ours: is_causal alone; torch needs the mask
        return [randn(*shape(L))], {"is_causal": True}, {"attn_mask": torch_bool(causal), "is_causal": True}
    if kind == "self_float_mask":
        m = randn(B * H, L, L)
        return [randn(*shape(L))], {"attn_mask": m}, {"attn_mask": m}
    if kind == "cross_padding":
        return [randn(*shape(L)), randn(*shape(S))], {"key_padding_mask": pad}, {"key_padding_mask": pad}
    if kind == "cross_kv_differ":
        return [randn(*shape(L)), randn(*shape(S)), randn(*shape(S))], {}, {}
    raise AssertionError(kind)


def torch_bool(m):
    return m


def _run_mha(m, *xs, need_weights, avg, torch_side, kw):
    q = xs[0]
    k = xs[1] if len(xs) > 1 else q
    v = xs[2] if len(xs) > 2 else k
    if torch_side:
        import torch
        kw = {n: (torch.tensor(a) if isinstance(a, np.ndarray) else a) for n, a in kw.items()}
        if "attn_mask" in kw and kw["attn_mask"].dtype == torch.float64:
            kw["attn_mask"] = kw["attn_mask"].to(q.dtype)
    return m(q, k, v, need_weights=need_weights, average_attn_weights=avg, **kw)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["self", "self_causal", "self_float_mask", "cross_padding", "cross_kv_differ"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("need_weights,avg", [(False, True), (True, True), (True, False)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_multihead_attention_matches_torch(kind, batch_first, need_weights, avg, dtype):
    import torch
    arrays, ours_kw, theirs_kw = _mha_case(kind, batch_first)
    theirs = torch.nn.MultiheadAttention(E, H, batch_first=batch_first)
    with torch.no_grad():                                   # non-zero biases, so their gradients are tested
        theirs.in_proj_bias.copy_(torch.randn(3 * E))
        theirs.out_proj.bias.copy_(torch.randn(E))
    parity("MultiheadAttention", lambda: nn.MultiheadAttention(E, H, batch_first=batch_first), theirs, arrays,
           lambda m, *xs: _run_mha(m, *xs, need_weights=need_weights, avg=avg, torch_side=False, kw=ours_kw),
           lambda m, *xs: _run_mha(m, *xs, need_weights=need_weights, avg=avg, torch_side=True, kw=theirs_kw), dtype)


# ------------------------------------------------------------------------------------------ Transformer layers vs torch
@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_encoder_layer_matches_torch(norm_first, activation, batch_first, dtype):
    import torch
    B, T = 2, 5
    pad = np.zeros((B, T), bool)
    pad[1, 3:] = True
    opts = dict(dim_feedforward=16, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    x = randn(B, T, E) if batch_first else randn(T, B, E)
    parity("TransformerEncoderLayer", lambda: nn.TransformerEncoderLayer(E, H, **opts),
           torch.nn.TransformerEncoderLayer(E, H, **opts), [x],
           lambda m, x: m(x, src_key_padding_mask=pad), lambda m, x: m(x, src_key_padding_mask=torch.tensor(pad)), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_decoder_layer_matches_torch(norm_first, activation, batch_first, dtype):
    import torch
    B, T, S = 2, 4, 6
    mem_pad = np.zeros((B, S), bool)
    mem_pad[0, 4:] = True
    causal = np.triu(np.ones((T, T), bool), 1)
    opts = dict(dim_feedforward=16, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    arrays = [randn(B, T, E), randn(B, S, E)] if batch_first else [randn(T, B, E), randn(S, B, E)]
    parity("TransformerDecoderLayer", lambda: nn.TransformerDecoderLayer(E, H, **opts),
           torch.nn.TransformerDecoderLayer(E, H, **opts), arrays,
           lambda m, x, mem: m(x, mem, memory_key_padding_mask=mem_pad, tgt_is_causal=True),
           lambda m, x, mem: m(x, mem, tgt_mask=torch.tensor(causal), memory_key_padding_mask=torch.tensor(mem_pad)),
           dtype)


def test_transformer_state_dict_keys_follow_pytorch():
    keys = set(nn.TransformerDecoderLayer(E, H, 16).state_dict())
    for name in ["self_attn.in_proj_weight", "self_attn.out_proj.bias", "multihead_attn.in_proj_bias",
                 "linear1.weight", "linear2.bias", "norm1.weight", "norm2.bias", "norm3.weight"]:
        assert name in keys
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(E, H, activation="swish")
    with pytest.raises(ValueError, match="not divisible"):
        nn.MultiheadAttention(10, 3)


# ------------------------------------------------------------------------------------------ invariants
def _mha(seed=0):
    tinygrad_llm.manual_seed(seed)
    with backend.default_dtype(np.float64):
        m = nn.MultiheadAttention(E, H, batch_first=True)
        m.in_proj_bias.data[:] = np.random.default_rng(seed).standard_normal(3 * E)
    return m


@given(T=st.integers(2, 7), t=st.data(), seed=st.integers(0, 100))
def test_causal_attention_never_leaks(T, t, seed):
    """Changing the tokens after position t leaves the outputs at positions <= t unchanged (MHA and encoder)."""
    pos = t.draw(st.integers(0, T - 2))
    r = np.random.default_rng(seed)
    x = r.standard_normal((2, T, E))
    x2 = x.copy()
    x2[:, pos + 1:] = r.standard_normal((2, T - pos - 1, E)) * 3
    m = _mha(seed)
    with backend.default_dtype(np.float64):
        enc = nn.TransformerEncoderLayer(E, H, 16, dropout=0.0, batch_first=True, norm_first=bool(seed % 2))
    for f in (lambda x: m(x, need_weights=False, is_causal=True)[0], lambda x: enc(x, is_causal=True)):
        a, b = f(Tensor(x)).numpy(), f(Tensor(x2)).numpy()
        assert_close(a[:, :pos + 1], b[:, :pos + 1], rtol=1e-12, atol=1e-12)
        assert not np.allclose(a[:, pos + 1:], b[:, pos + 1:])


@given(T=st.integers(1, 6), S=st.integers(1, 6), seed=st.integers(0, 100))
def test_masked_attention_rows_sum_to_one(T, S, seed):
    r = np.random.default_rng(seed)
    pad = r.random((2, S)) < 0.5
    pad[:, 0] = False                                        # at least one real key per row
    m = _mha(seed)
    _, w = m(Tensor(r.standard_normal((2, T, E))), Tensor(r.standard_normal((2, S, E))),
             key_padding_mask=pad, average_attn_weights=False)  # (B, H, T, S)
    w = w.numpy()
    assert_close(w.sum(-1), np.ones((2, H, T)), rtol=1e-12, atol=1e-12)
    assert (w[np.broadcast_to(pad[:, None, None, :], w.shape)] == 0).all()
    if T == S:
        _, wc = m(Tensor(r.standard_normal((2, T, E))), is_causal=True)
        assert_close(wc.numpy().sum(-1), np.ones((2, T)), rtol=1e-12, atol=1e-12)
        assert (np.triu(np.ones((T, T)), 1)[None] * wc.numpy() == 0).all()


@given(T=st.integers(1, 6), perm_seed=st.integers(0, 1000))
def test_unmasked_self_attention_is_permutation_equivariant(T, perm_seed):
    r = np.random.default_rng(perm_seed)
    perm = r.permutation(T)
    x = r.standard_normal((2, T, E))
    m = _mha(perm_seed)
    with backend.default_dtype(np.float64):
        enc = nn.TransformerEncoderLayer(E, H, 16, dropout=0.0, batch_first=True)
    for f in (lambda x: m(x, need_weights=False)[0], enc):
        assert_close(f(Tensor(x[:, perm])), f(Tensor(x)).numpy()[:, perm], rtol=1e-11, atol=1e-12)


@given(S=st.integers(1, 5), n_pad=st.integers(1, 4), seed=st.integers(0, 100))
def test_padding_positions_do_not_change_unpadded_outputs(S, n_pad, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal((1, S, E))
    padded = np.concatenate([x, r.standard_normal((1, n_pad, E)) * 5], axis=1)   # garbage in the padding
    pad = np.zeros((1, S + n_pad), bool)
    pad[:, S:] = True
    with backend.default_dtype(np.float64):
        enc = nn.TransformerEncoderLayer(E, H, 16, dropout=0.0, batch_first=True, norm_first=bool(seed % 2))
        dec = nn.TransformerDecoderLayer(E, H, 16, dropout=0.0, batch_first=True)
    assert_close(enc(Tensor(padded), src_key_padding_mask=pad).numpy()[:, :S], enc(Tensor(x)), rtol=1e-11, atol=1e-12)
    tgt = Tensor(r.standard_normal((1, 3, E)))
    assert_close(dec(tgt, Tensor(padded), memory_key_padding_mask=pad, tgt_is_causal=True),
                 dec(tgt, Tensor(x), tgt_is_causal=True), rtol=1e-11, atol=1e-12)
