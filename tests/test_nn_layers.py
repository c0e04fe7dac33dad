"""Linear, Embedding, LayerNorm, LSTMCell, LSTM, positions and Module bookkeeping: equal to PyTorch with copied
weights (forward and every gradient, float64 and float32), fused cells equal to composed ones, clear errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_matches_torch(dtype):
    import torch
    parity("Linear", lambda: nn.Linear(5, 3), torch.nn.Linear(5, 3), [randn(2, 4, 5)],
           lambda m, x: m(x), lambda m, x: m(x), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_torch(dtype):
    import torch
    ids = np.array([[1, 4, 4], [0, 6, 1]])
    parity("Embedding", lambda: nn.Embedding(7, 3), torch.nn.Embedding(7, 3), [],
           lambda m: m(ids), lambda m: m(torch.tensor(ids)), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm_matches_torch(dtype):
    import torch
    theirs = torch.nn.LayerNorm(6)
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(6))
        theirs.bias.copy_(torch.randn(6))
    parity("LayerNorm", lambda: nn.LayerNorm(6), theirs, [randn(3, 2, 6)], lambda m, x: m(x), lambda m, x: m(x), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_patch_embedding_matches_torch_conv2d(dtype):
    """A linear map of flattened P x P patches is a Conv2d with kernel P and stride P (same weight array)."""
    import torch
    parity("PatchEmbedding", lambda: nn.PatchEmbedding(3, 8, 4), torch.nn.Conv2d(3, 8, 4, stride=4), [randn(2, 3, 8, 12)],
           lambda m, x: m(x), lambda m, x: m(x).flatten(2).transpose(1, 2), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_modality_projector_matches_torch(dtype):
    """Pixel shuffle (torch: pixel_unshuffle on the token grid, channels reordered) then a Linear without bias."""
    import torch
    B, S, D, r, out = 2, 4, 3, 2, 5

    class TorchProjector(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(D * r * r, out, bias=False)

        def forward(self, x):
            g = torch.nn.functional.pixel_unshuffle(x.reshape(B, S, S, D).permute(0, 3, 1, 2), r)
            g = g.reshape(B, D, r, r, S // r, S // r).permute(0, 4, 5, 2, 3, 1).reshape(B, (S // r) ** 2, r * r * D)
            return self.proj(g)

    parity("ModalityProjector", lambda: nn.ModalityProjector(D, out, r), TorchProjector(), [randn(B, S * S, D)],
           lambda m, x: m(x), lambda m, x: m(x), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_vit_block_matches_torch(dtype):
    """The ViT block of models/vit.py: pre-LN encoder layer, exact GELU, LayerNorm eps 1e-6, batch first."""
    import torch
    from tinygrad_llm.models.vit import ViTConfig, vit_block
    cfg = ViTConfig(dim=16, heads=4, depth=1, dropout=0.0)
    theirs = torch.nn.TransformerEncoderLayer(16, 4, cfg.mlp_ratio * 16, dropout=0.0, activation="gelu",
                                              layer_norm_eps=1e-6, batch_first=True, norm_first=True)
    with torch.no_grad():
        for p in theirs.parameters():                   # torch zero-inits the biases; make them count
            p.add_(0.1 * torch.randn_like(p))
    parity("ViT block", lambda: vit_block(cfg), theirs, [randn(2, 17, 16)], lambda m, x: m(x), lambda m, x: m(x), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_cell_matches_torch(dtype, fused):
    import torch
    parity("LSTMCell", lambda: nn.LSTMCell(4, 5, fused=fused), torch.nn.LSTMCell(4, 5), [randn(3, 4), randn(3, 5), randn(3, 5)],
           lambda m, x, h, c: m(x, (h, c)), lambda m, x, h, c: m(x, (h, c)), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_matches_torch(dtype, batch_first, with_state):
    import torch
    L, B, T, C, H = 3, 2, 5, 4, 6
    x = randn(B, T, C) if batch_first else randn(T, B, C)
    arrays = [x, randn(L, B, H), randn(L, B, H)] if with_state else [x]

    def run(m, x, *state):
        return m(x, tuple(state)) if state else m(x)

    parity("LSTM", lambda: nn.LSTM(C, H, num_layers=L, batch_first=batch_first),
           torch.nn.LSTM(C, H, num_layers=L, batch_first=batch_first), arrays, run, run, dtype)


def test_lstm_state_dict_names_follow_pytorch():
    keys = list(nn.LSTM(3, 4, num_layers=2).state_dict())
    assert keys == [f"{w}_{k}_l{l}" for l in range(2) for w, k in
                    [("weight", "ih"), ("weight", "hh"), ("bias", "ih"), ("bias", "hh")]]
    assert list(nn.LSTMCell(3, 4).state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


@given(data=st.data())
def test_fused_lstm_cell_equals_composed(data):
    B, H = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    z = np.array(data.draw(st.lists(st.floats(-4, 4), min_size=B * 4 * H, max_size=B * 4 * H))).reshape(B, 4 * H)
    c = np.array(data.draw(st.lists(st.floats(-2, 2), min_size=B * H, max_size=B * H))).reshape(B, H)
    za, ca, zb, cb = (Tensor(a.copy(), requires_grad=True) for a in (z, c, z, c))
    (ha, c2a), (hb, c2b) = F.lstm_cell(za, ca), F.lstm_cell_composed(zb, cb)
    assert_close(ha, hb, rtol=1e-12, atol=1e-14)
    assert_close(c2a, c2b, rtol=1e-12, atol=1e-14)
    gh, gc = np.random.default_rng(1).standard_normal((2, B, H))
    ((ha * Tensor(gh)).sum() + (c2a * Tensor(gc)).sum()).backward()
    ((hb * Tensor(gh)).sum() + (c2b * Tensor(gc)).sum()).backward()
    assert_close(za.grad, zb.grad, rtol=1e-10, atol=1e-12)
    assert_close(ca.grad, cb.grad, rtol=1e-10, atol=1e-12)


def test_lstm_sequence_node_equals_loop_of_composed_cells():
    T, B, H = 4, 2, 3
    zx, h0, c0, w = randn(T, B, 4 * H), randn(B, H), randn(B, H), randn(4 * H, H) * 0.5
    a = [Tensor(v.copy(), requires_grad=True) for v in (zx, h0, c0, w)]
    b = [Tensor(v.copy(), requires_grad=True) for v in (zx, h0, c0, w)]
    hc = F.lstm_sequence(*a)                                        # (T, B, 2H)
    h, c, hs, cs = b[1], b[2], [], []
    for t in range(T):
        h, c = F.lstm_cell_composed(b[0][t] + h @ b[3].T, c)
        hs.append(h)
        cs.append(c)
    ref = F.concat([F.stack(hs, 0), F.stack(cs, 0)], -1)
    assert_close(hc, ref, rtol=1e-12, atol=1e-13)
    g = np.random.default_rng(3).standard_normal(hc.shape)
    hc.backward(Tensor(g))
    ref.backward(Tensor(g))
    for x, y in zip(a, b):
        assert_close(x.grad, y.grad, rtol=1e-10, atol=1e-12)


def test_gradcheck_lstm_cell_and_sequence():
    B, H = 2, 2
    z, c = Tensor(randn(B, 4 * H), requires_grad=True), Tensor(randn(B, H), requires_grad=True)
    assert gradcheck(lambda z, c: F.concat(list(F.lstm_cell(z, c)), -1), z, c)
    args = [Tensor(randn(3, B, 4 * H), requires_grad=True), Tensor(randn(B, H), requires_grad=True),
            Tensor(randn(B, H), requires_grad=True), Tensor(randn(4 * H, H), requires_grad=True)]
    assert gradcheck(F.lstm_sequence, *args)


def test_truncated_bptt_detached_state_stops_gradient():
    with backend.default_dtype(np.float64):
        lstm = nn.LSTM(3, 4, batch_first=True)
    x1, x2 = Tensor(randn(2, 5, 3), requires_grad=True), Tensor(randn(2, 5, 3), requires_grad=True)
    _, (h, c) = lstm(x1)
    out, _ = lstm(x2, (h.detach(), c.detach()))
    out.sum().backward()
    assert x1.grad is None and x2.grad is not None
    out, _ = lstm(x2, (h, c))                                       # not detached: reaches the first chunk
    out.sum().backward()
    assert x1.grad is not None and np.abs(x1.grad.numpy()).max() > 0


def test_lstm_bad_shapes_raise():
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ShapeError, match="input_size=3"):
        lstm(Tensor(np.zeros((5, 2, 7), np.float32)))
    with pytest.raises(ShapeError, match="initial state"):
        lstm(Tensor(np.zeros((5, 2, 3), np.float32)), (Tensor(np.zeros((1, 2, 4))), Tensor(np.zeros((1, 2, 4)))))


# ------------------------------------------------------------------------------------------ positions
def test_sinusoidal_table_matches_formula_and_rotates():
    T, d = 9, 6
    P = nn.sinusoidal_table(T, d, dtype=np.float64)
    for p in range(T):
        for k in range(d // 2):
            w = 1.0 / 10000 ** (2 * k / d)
            assert P[p, 2 * k] == pytest.approx(np.sin(p * w), abs=1e-14)
            assert P[p, 2 * k + 1] == pytest.approx(np.cos(p * w), abs=1e-14)
    # P_{p+1} is the same rotation of P_p for every p (a fixed linear map)
    w = 1.0 / 10000 ** (np.arange(0, d, 2) / d)
    rot_sin = P[:-1, 0::2] * np.cos(w) + P[:-1, 1::2] * np.sin(w)
    assert_close(rot_sin, P[1:, 0::2], atol=1e-12)
    pe = nn.SinusoidalPositionalEncoding(d, max_len=T)
    x = Tensor(np.zeros((2, 4, d), np.float32))
    assert_close(pe(x), np.broadcast_to(P[:4], (2, 4, d)), atol=1e-6)
    with pytest.raises(ValueError, match="max_len=9"):
        pe(Tensor(np.zeros((1, 10, d), np.float32)))


def test_learned_positions_gradient_sums_over_batch():
    with backend.default_dtype(np.float64):
        pos = nn.LearnedPositionalEmbedding(8, 3)
    x = Tensor(randn(4, 5, 3))
    y = pos(x, start=2)
    assert_close(y, x.numpy() + pos.weight.numpy()[2:7], atol=1e-14)
    g = randn(4, 5, 3)
    y.backward(Tensor(g))
    expected = np.zeros((8, 3))
    expected[2:7] = g.sum(0)
    assert_close(pos.weight.grad, expected, atol=1e-12)
    with pytest.raises(ValueError, match="max_len=8"):
        pos(x, start=4)


# ------------------------------------------------------------------------------------------ Module bookkeeping
def test_load_state_dict_errors_name_keys_and_shapes():
    m = nn.Sequential([nn.Linear(3, 4), nn.LayerNorm(4)])
    sd = m.state_dict()
    with pytest.raises(KeyError, match=r"missing keys \['1.bias'\]"):
        m.load_state_dict({k: v for k, v in sd.items() if k != "1.bias"})
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        m.load_state_dict({**sd, "extra": np.zeros(2)})
    bad = dict(sd)
    bad["0.weight"] = np.zeros((4, 5))
    before = m.state_dict()
    with pytest.raises(ShapeError, match=r"'0.weight' has shape \(4, 5\) in the checkpoint but \(4, 3\)"):
        m.load_state_dict(bad)
    for k in before:                                                 # nothing was written
        assert np.array_equal(before[k], m.state_dict()[k])
    out = m.load_state_dict({k: v for k, v in sd.items() if k != "1.bias"}, strict=False)
    assert out["missing_keys"] == ["1.bias"]


def test_embedding_out_of_range_id_error():
    emb = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match="token id 5 is out of range for a vocabulary of size 5"):
        emb(np.array([0, 5]))
    with pytest.raises(IndexError, match="token id -1"):
        emb(np.array([-1, 2]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([0.5]))
