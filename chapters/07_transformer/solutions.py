"""Solutions to the chapter 07 exercises (tested in tests/chapters/test_ch07_transformer.py)."""
from __future__ import annotations

import numpy as np

from tinygrad_llm import Tensor


# Exercise 1: parameters of a Transformer encoder layer with biases: attention 4E^2 + 4E (W^Q, W^K, W^V, W^O
# and their biases), FFN 2 E F + F + E, two LayerNorms 4E. A decoder layer adds a second attention and LayerNorm.
def encoder_layer_num_parameters(E: int, F: int) -> int:
    return (4 * E * E + 4 * E) + (2 * E * F + F + E) + 4 * E


def decoder_layer_num_parameters(E: int, F: int) -> int:
    return encoder_layer_num_parameters(E, F) + 4 * E * E + 4 * E + 2 * E


# Exercise 2: multi-head self-attention with a loop over heads, from PyTorch-layout weights (NumPy only).
def multihead_numpy(x, in_proj_weight, in_proj_bias, out_w, out_b, num_heads):
    B, T, E = x.shape
    d = E // num_heads
    q, k, v = np.split(x @ in_proj_weight.T + in_proj_bias, 3, axis=-1)          # (B, T, E) each
    heads = []
    for j in range(num_heads):
        s = slice(j * d, (j + 1) * d)
        a = q[..., s] @ np.swapaxes(k[..., s], -1, -2) / np.sqrt(d)              # (B, T, T)
        a = np.exp(a - a.max(-1, keepdims=True))
        heads.append((a / a.sum(-1, keepdims=True)) @ v[..., s])                # (B, T, d)
    return np.concatenate(heads, -1) @ out_w.T + out_b


# Exercise 3: the sinusoidal table moves by a fixed rotation: P_{p+k} = P_p R_k for every p, where R_k is
# block-diagonal with one 2x2 rotation by angle k * w_i per (sin, cos) feature pair.
def sinusoid_shift_matrix(d_model: int, k: int, base: float = 10000.0) -> np.ndarray:
    R = np.zeros((d_model, d_model))
    for i in range(d_model // 2):
        a = k * base ** (-2 * i / d_model)
        # [sin(x + a), cos(x + a)] = [sin x, cos x] @ [[cos a, -sin a], [sin a, cos a]]
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return R


# Exercise 4: post-LN vs pre-LN by hand for one sublayer f: post = LN(x + f(x)), pre = x + f(LN(x)).
def post_ln(x, f, eps=1e-5):
    y = x + f(x)
    return (y - y.mean(-1, keepdims=True)) / np.sqrt(y.var(-1, keepdims=True) + eps)


def pre_ln(x, f, eps=1e-5):
    return x + f((x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps))


# Exercise 5: cross-attention reads the memory (the encoder's output for the whole source, which is given
# before decoding starts), never the decoder's later positions: the only path from target position t + 1 to
# output t is the self-attention, and its causal mask cuts it. Check: replace every target token after t and
# measure how much the outputs at positions <= t move.
def change_before(layer, tgt, memory, t: int, seed: int = 0) -> float:
    """Largest change of a decoder layer's outputs at positions <= t (tgt (B, T, E), batch first) when the target
    positions after t are replaced by noise; self-attention causal, cross-attention unmasked."""
    other = np.array(tgt, copy=True)
    other[:, t + 1:] = np.random.default_rng(seed).standard_normal(other[:, t + 1:].shape)
    a = layer(Tensor(tgt), Tensor(memory), tgt_is_causal=True).numpy()
    b = layer(Tensor(other), Tensor(memory), tgt_is_causal=True).numpy()
    return float(np.abs(a[:, :t + 1] - b[:, :t + 1]).max())
