r"""Scaled dot-product attention, composed from matmul, softmax and masking.

$$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}} + M\right)V$$

$Q$ is (..., T_q, d_k), $K$ (..., T_k, d_k), $V$ (..., T_k, d_v). $M$ is 0 where a query may look
and $-\infty$ where it may not: ``is_causal=True`` hides keys after the query
($M_{ij} = -\infty$ for $j > i$); a boolean ``attn_mask`` is True where attention is *allowed*
(PyTorch's convention); a float ``attn_mask`` is added as is. Dividing by $\sqrt{d_k}$ keeps the
logits' variance near 1 when q and k have unit-variance entries, so softmax does not saturate.
The gradient flows through matmul, softmax and masked_fill; nothing new is needed.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..backend import array_module
from ._util import ShapeError, data_of
from .dropout import dropout
from .matmul import matmul
from .shape import masked_fill
from .softmax import softmax


def causal_mask(T_q, T_k, xp=np):
    """Boolean (T_q, T_k) mask, True where query i may see key j (j <= i + T_k - T_q)."""
    return xp.tril(xp.ones((T_q, T_k), dtype=bool), k=T_k - T_q)


def attention_weights(q, k, attn_mask=None, is_causal=False, scale=None):
    """The attention probabilities softmax(QKᵀ·scale + M), shape (..., T_q, T_k)."""
    if q.shape[-1] != k.shape[-1]:
        raise ShapeError(f"scaled_dot_product_attention: query of shape {q.shape} and key of shape {k.shape} "
                         "have different feature sizes")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = matmul(q, k.transpose(-2, -1)) * scale           # (..., T_q, T_k)
    T_q, T_k = scores.shape[-2], scores.shape[-1]
    xp = array_module(scores.data)
    if is_causal:
        scores = masked_fill(scores, ~causal_mask(T_q, T_k, xp), -np.inf)
    if attn_mask is not None:
        m = backend.like(data_of(attn_mask), scores.data)
        if m.dtype == bool:
            scores = masked_fill(scores, ~m, -np.inf)
        else:
            scores = scores + m.astype(scores.dtype)
    return softmax(scores, axis=-1)


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, dropout_p=0.0, scale=None,
                                 training=True):
    if k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: key of shape {k.shape} and value of shape {v.shape} "
                         "have different lengths")
    w = attention_weights(q, k, attn_mask, is_causal, scale)  # (..., T_q, T_k)
    if dropout_p > 0.0:
        w = dropout(w, dropout_p, training)
    return matmul(w, v)                                       # (..., T_q, d_v)
