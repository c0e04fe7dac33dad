r"""Transformer encoder and decoder layers with PyTorch's option and parameter names.

Post-LN (the original Transformer, ``norm_first=False``) normalises after each residual sum; pre-LN
(``norm_first=True``, GPT-2 and most modern models) normalises the input of each sublayer and leaves the
residual stream untouched, which keeps gradients well scaled in deep stacks and trains without a long warm-up:
$$\text{post-LN: } X \leftarrow \mathrm{LayerNorm}(X + \mathrm{Sublayer}(X)),\qquad
\text{pre-LN: } X \leftarrow X + \mathrm{Sublayer}(\mathrm{LayerNorm}(X))$$
The position-wise feed-forward network applies the same two-layer MLP to every position:
$$\mathrm{FFN}(x) = \phi(x W_1^\top + b_1)\, W_2^\top + b_2,\qquad \phi \in \{\mathrm{ReLU}, \mathrm{GELU}\}$$
An encoder layer is self-attention then FFN. A decoder layer is masked self-attention (a causal mask:
position $t$ sees only $\le t$), cross-attention (queries from the decoder, keys and values from the
encoder's output, the memory), then FFN — three sublayers, three residuals, three LayerNorms.
Dropout is applied to each sublayer's output before the residual sum, and inside the FFN and attention.
"""
from __future__ import annotations

from .. import functional as F
from .attention import MultiheadAttention
from .layers import Dropout, LayerNorm, Linear
from .module import Module


def _activation(activation):
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"Transformer layer: activation must be 'relu', 'gelu' or a callable, got {activation!r}")


class TransformerEncoderLayer(Module):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        self.norm_first, self._act = norm_first, _activation(activation)

    def _sa(self, x, attn_mask, key_padding_mask, is_causal):
        y, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                              need_weights=False, is_causal=is_causal)
        return self.dropout1(y)

    def _ff(self, x):
        return self.dropout2(self.linear2(self.dropout(self._act(self.linear1(x)))))

    # [start:encoder]
    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src                                                                     # (B, T, d) or (T, B, d)
        if self.norm_first:                                                         # pre-LN
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff(self.norm2(x))
        else:                                                                       # post-LN
            x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff(x))
        return x
    # [end:encoder]


class TransformerDecoderLayer(Module):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1, self.dropout2, self.dropout3 = Dropout(dropout), Dropout(dropout), Dropout(dropout)
        self.norm_first, self._act = norm_first, _activation(activation)

    def _sa(self, x, attn_mask, key_padding_mask, is_causal):
        y, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                              need_weights=False, is_causal=is_causal)
        return self.dropout1(y)

    def _mha(self, x, mem, attn_mask, key_padding_mask, is_causal):
        y, _ = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                   need_weights=False, is_causal=is_causal)
        return self.dropout2(y)

    def _ff(self, x):
        return self.dropout3(self.linear2(self.dropout(self._act(self.linear1(x)))))

    # [start:decoder]
    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt                                                                     # (B, T, d); memory (B, S, d)
        if self.norm_first:                                                         # pre-LN
            x = x + self._sa(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff(self.norm3(x))
        else:                                                                       # post-LN
            x = self.norm1(x + self._sa(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff(x))
        return x
    # [end:decoder]
