r"""``MultiheadAttention`` with PyTorch's layout: ``in_proj_weight`` (3E, E), ``in_proj_bias`` (3E), ``out_proj``.

$$\mathrm{MultiHead}(Q, K, V) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W^O,\qquad
\mathrm{head}_j = \mathrm{Attention}(Q W_j^Q, K W_j^K, V W_j^V)$$
Each head works in $d = E/h$ dimensions: $W^Q = [W_1^Q \dots W_h^Q]$ is one (E, E) map whose output is cut
into $h$ slices of $d$, so all heads cost one matrix product; the rows of ``in_proj_weight`` hold
$W^Q, W^K, W^V$ stacked (PyTorch stores $W^\top$, as ``Linear`` does). Self-attention passes the same
sequence as query, key and value; cross-attention takes queries from one sequence (the decoder) and keys
and values from another (the encoder's memory).

Masks follow ``torch.nn.MultiheadAttention``: in ``attn_mask`` (L, S) or (B·h, L, S) and in
``key_padding_mask`` (B, S) a boolean True means *not allowed* (padding), a float is added to the scores;
``is_causal=True`` without ``attn_mask`` hides future keys. All become one additive mask $M$ for
$\mathrm{softmax}(QK^\top/\sqrt d + M)V$, built by the one mask builder ``F.additive_mask``
(``functional/attention.py``; it takes boolean attention masks as True = *allowed*, so a boolean
``attn_mask`` is inverted here).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from .. import functional as F
from ..functional import ShapeError
from ..tensor import Tensor
from .layers import Linear
from .module import Module, Parameter


def _allowed(attn_mask):
    """PyTorch's MultiheadAttention marks hidden positions True; the mask builder marks allowed ones."""
    if attn_mask is None:
        return None
    m = attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask
    m = m if hasattr(m, "dtype") else np.asarray(m)
    return ~m if m.dtype == bool else m


class MultiheadAttention(Module):
    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.batch_first = dropout, batch_first
        bound = math.sqrt(6.0 / (embed_dim + 3 * embed_dim))                             # Xavier uniform, as PyTorch
        dt = backend.get_default_dtype()
        self.in_proj_weight = Parameter(backend.rng().uniform(-bound, bound, (3 * embed_dim, embed_dim)).astype(dt))
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dt)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        if bias:
            self.out_proj.bias = Parameter(np.zeros(embed_dim, dt))

    def _project(self, query, key, value):
        E, W, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:                                                 # self-attention: one GEMM
            qkv = F.linear(query, W, b)                                                   # (B, L, 3E)
            return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        if key is value:                                                                  # cross-attention: two GEMMs
            q = F.linear(query, W[:E], None if b is None else b[:E])
            kv = F.linear(key, W[E:], None if b is None else b[E:])                       # (B, S, 2E)
            return q, kv[..., :E], kv[..., E:]
        return tuple(F.linear(x, W[i * E:(i + 1) * E], None if b is None else b[i * E:(i + 1) * E])
                     for i, x in enumerate((query, key, value)))

    def forward(self, query, key=None, value=None, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        key = query if key is None else key
        value = key if value is None else value
        if query.ndim != 3 or key.ndim != 3 or value.ndim != 3 or query.shape[-1] != self.embed_dim:
            raise ShapeError(f"MultiheadAttention: query {query.shape}, key {key.shape}, value {value.shape} do not "
                             f"fit embed_dim={self.embed_dim} (expected 3-D inputs)")
        # [start:mha]
        q, k, v = self._project(query, key, value)
        if not self.batch_first:                                                          # (L, B, E) -> (B, L, E)
            q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        B, L, S, H, d = q.shape[0], q.shape[1], k.shape[1], self.num_heads, self.head_dim
        q = q.reshape(B, L, H, d).transpose(1, 2)                                          # (B, H, L, d)
        k = k.reshape(B, S, H, d).transpose(1, 2)                                          # (B, H, S, d)
        v = v.reshape(B, S, H, d).transpose(1, 2)                                          # (B, H, S, d)
        mask = F.additive_mask(L, S, _allowed(attn_mask), is_causal and attn_mask is None, key_padding_mask,
                               batch_heads=(B, H), dtype=q.dtype, xp=backend.array_module(q.data))
        p = self.dropout if self.training else 0.0
        if need_weights:                                                                  # composed: keeps the weights
            w = F.attention_weights(q, k, mask)                                            # (B, H, L, S)
            y = F.dropout(w, p, self.training) @ v                                         # (B, H, L, d)
        else:                                                                             # fused node
            w, y = None, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        y = y.transpose(1, 2).reshape(B, L, H * d)                                         # Concat(head_1..head_h)
        out = self.out_proj(y)                                                            # (B, L, E): W^O
        # [end:mha]
        if not self.batch_first:
            out = out.transpose(0, 1)
        if w is not None and average_attn_weights:
            w = w.mean(axis=1)                                                            # (B, L, S)
        return out, w

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
