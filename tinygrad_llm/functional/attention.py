r"""Scaled dot-product attention: a composed version (matmul, softmax, masking) and a fused one.

$$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}} + M\right)V$$

$Q$ is (..., T_q, d_k), $K$ (..., T_k, d_k), $V$ (..., T_k, d_v). $M$ is 0 where a query may look
and $-\infty$ where it may not: ``is_causal=True`` hides keys after the query
($M_{ij} = -\infty$ for $j > i$); a boolean ``attn_mask`` is True where attention is *allowed*
(PyTorch's convention); a float ``attn_mask`` is added as is. Dividing by $\sqrt{d_k}$ keeps the
logits' variance near 1 when q and k have unit-variance entries, so softmax does not saturate.

Backward of the fused node. With $S = QK^\top s + M$ ($s = 1/\sqrt{d_k}$), $P = \mathrm{softmax}(S)$
row-wise and $O = PV$:
$$\bar V = P^\top \bar O,\qquad \bar P = \bar O V^\top,\qquad
\bar S = P \odot \big(\bar P - \mathrm{rowsum}(\bar P \odot P)\big),\qquad
\bar Q = s\,\bar S K,\qquad \bar K = s\,\bar S^\top Q$$
The mask is a constant, so it only enters through $P$ (masked entries have $P_{ij} = 0$ and get no
gradient). With dropout on $P$ the same holds with $\tilde P = P \odot D/(1-p)$ in $O = \tilde PV$ and
$\bar P = (\bar O V^\top) \odot D/(1-p)$. One node saves $Q, K, V, P$ instead of the five
intermediate tensors of the composed graph. ``scaled_dot_product_attention`` uses the fused node;
``scaled_dot_product_attention_composed`` builds the same function from primitives.

Looking at $P$. ``with capture_attention() as maps:`` records the probabilities $P$ of every attention
computed inside the ``with`` by this thread, fused or composed, one array (..., T_q, T_k) per call in call
order — for a decoder, one per layer. Models need no extra argument for it (the browser playground and the
heat maps of the chapters use it); other threads are not affected.
"""
from __future__ import annotations

import contextvars
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ._dispatch import dispatch
from ._util import ShapeError, data_of
from .dropout import dropout
from .matmul import matmul
from .shape import masked_fill
from .softmax import softmax


_CAPTURE: contextvars.ContextVar = contextvars.ContextVar("tinygrad_llm_attention_capture", default=None)


class capture_attention:
    """``with capture_attention() as maps:`` — ``maps`` receives a copy of the attention probabilities
    (..., T_q, T_k) of every attention computed inside the ``with`` by this thread, in order."""

    def __enter__(self) -> list:
        self.maps = []
        self._token = _CAPTURE.set(self.maps)
        return self.maps

    def __exit__(self, *exc):
        _CAPTURE.reset(self._token)
        return False


def _record(p):
    maps = _CAPTURE.get()
    if maps is not None:
        maps.append(p.copy())


def causal_mask(T_q, T_k, xp=np):
    """Boolean (T_q, T_k) mask, True where query i may see key j (j <= i + T_k - T_q)."""
    return xp.tril(xp.ones((T_q, T_k), dtype=bool), k=T_k - T_q)


def _check(q, k, v):
    if q.shape[-1] != k.shape[-1]:
        raise ShapeError(f"scaled_dot_product_attention: query of shape {q.shape} and key of shape {k.shape} "
                         "have different feature sizes")
    if v is not None and k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: key of shape {k.shape} and value of shape {v.shape} "
                         "have different lengths")


def additive_mask(T_q, T_k, attn_mask=None, is_causal=False, key_padding_mask=None, batch_heads=None,
                  dtype=np.float64, xp=np):
    """The one mask builder: $M$ as one array of 0 (may look) and $-\\infty$ (may not), or the given
    floats, broadcastable to the scores (..., T_q, T_k); None when nothing is masked. The parts add up:

    - ``is_causal``: hide key j from query i when j > i + T_k - T_q;
    - ``attn_mask``: boolean, True where attention is *allowed* (``F.scaled_dot_product_attention``'s
      convention), or floats added as they are; any shape that broadcasts to the scores. With
      ``num_heads`` (``nn.MultiheadAttention``) it must be (T_q, T_k) or (B·num_heads, T_q, T_k), the
      latter becoming (B, num_heads, T_q, T_k);
    - ``key_padding_mask``: (B, T_k), boolean True where key j is *padding* (PyTorch's convention for
      it), or floats; it becomes (B, 1, 1, T_k).

    The masks stay on the device they came on (``xp`` builds the causal part when no mask array is
    given); ``Function.apply`` moves the result next to the scores.
    """
    given = [data_of(m) for m in (attn_mask, key_padding_mask) if m is not None]
    given = [m if hasattr(m, "dtype") else np.asarray(m) for m in given]
    xp = array_module(*given) if given else xp
    m = None
    if is_causal:
        m = xp.where(causal_mask(T_q, T_k, xp), 0.0, -np.inf).astype(dtype)
    if attn_mask is not None:
        a = xp.asarray(data_of(attn_mask))
        a = xp.where(a, 0.0, -np.inf).astype(dtype) if a.dtype == bool else a.astype(dtype)
        if batch_heads is not None:
            B, H = batch_heads
            if a.shape == (B * H, T_q, T_k):
                a = a.reshape(B, H, T_q, T_k)
            elif a.shape != (T_q, T_k):
                raise ShapeError(f"MultiheadAttention: attn_mask of shape {a.shape}, expected {(T_q, T_k)} "
                                 f"or {(B * H, T_q, T_k)}")
        m = a if m is None else m + a
    if key_padding_mask is not None:
        kp = xp.asarray(data_of(key_padding_mask))
        if kp.ndim != 2 or kp.shape[1] != T_k or (batch_heads is not None and kp.shape[0] != batch_heads[0]):
            want = f"({'batch' if batch_heads is None else batch_heads[0]}, {T_k})"
            raise ShapeError(f"MultiheadAttention: key_padding_mask of shape {kp.shape}, expected {want}")
        kp = xp.where(kp, -np.inf, 0.0).astype(dtype) if kp.dtype == bool else kp.astype(dtype)
        kp = kp.reshape(kp.shape[0], 1, 1, T_k)
        m = kp if m is None else m + kp
    return m


def attention_weights(q, k, attn_mask=None, is_causal=False, scale=None):
    """The attention probabilities softmax(QKᵀ·scale + M), shape (..., T_q, T_k) (composed)."""
    _check(q, k, None)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = matmul(q, k.transpose(-2, -1)) * scale           # (..., T_q, T_k)
    T_q, T_k = scores.shape[-2], scores.shape[-1]
    xp = array_module(scores.data)
    if is_causal:
        scores = masked_fill(scores, ~causal_mask(T_q, T_k, xp), -np.inf)
    if attn_mask is not None:
        m = data_of(attn_mask)
        m = m if hasattr(m, "dtype") else np.asarray(m)
        if m.dtype == bool:
            scores = masked_fill(scores, ~m, -np.inf)
        else:
            scores = scores + m.astype(scores.dtype)
    w = softmax(scores, axis=-1)
    _record(w.data)
    return w


def scaled_dot_product_attention_composed(q, k, v, attn_mask=None, is_causal=False, dropout_p=0.0, scale=None,
                                          training=True):
    """The formula from primitives: matmul, scale, masked_fill, softmax, dropout, matmul."""
    _check(q, k, v)
    w = attention_weights(q, k, attn_mask, is_causal, scale)  # (..., T_q, T_k)
    if dropout_p > 0.0:
        w = dropout(w, dropout_p, training)
    return matmul(w, v)                                       # (..., T_q, d_v)


class Attention(Function):
    """One node: $O = \\mathrm{softmax}(QK^\\top s + M)V$ with the analytic backward above."""

    @staticmethod
    def forward(ctx, q, k, v, mask, scale, dropout_p):
        # [start:fused-attention-forward]
        s = dispatch("matmul", q * q.dtype.type(scale), k.swapaxes(-1, -2))  # (..., T_q, T_k); scaling q is cheaper
        if mask is not None:
            if np.broadcast_shapes(s.shape, mask.shape) == s.shape:
                s += mask                                      # in place
            else:
                s = s + mask                                   # the mask adds batch dimensions
        p = dispatch("softmax_forward", s, -1)                 # (..., T_q, T_k)
        d = None
        if dropout_p > 0.0:
            keep = backend.random_uniform(p.shape, like_array=p, dtype=p.dtype) >= dropout_p
            d = keep * p.dtype.type(1.0 / (1.0 - dropout_p))   # 0 or 1/(1-p)
        out = dispatch("matmul", p if d is None else p * d, v)  # (..., T_q, d_v)
        # [end:fused-attention-forward]
        _record(p)
        ctx.save_for_backward(q, k, v, p, d)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, g):                                      # g (..., T_q, d_v)
        q, k, v, p, d = ctx.saved_tensors
        # [start:fused-attention-backward]
        pd = p if d is None else p * d
        gv = dispatch("matmul", pd.swapaxes(-1, -2), g)        # (..., T_k, d_v)
        gp = dispatch("matmul", g, v.swapaxes(-1, -2))         # (..., T_q, T_k)
        if d is not None:
            gp *= d
        gs = dispatch("softmax_backward", p, gp, -1)           # P * (gP - rowsum(gP * P))
        sc = gs.dtype.type(ctx.scale)
        gq = dispatch("matmul", gs, k) * sc                    # (..., T_q, d_k)
        gk = dispatch("matmul", gs.swapaxes(-1, -2), q) * sc   # (..., T_k, d_k)
        # [end:fused-attention-backward]
        return gq, gk, gv, None, None, None


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, dropout_p=0.0, scale=None,
                                 training=True):
    """Fused attention (one graph node); same arguments and result as the composed version."""
    _check(q, k, v)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    dtype = np.result_type(q.dtype, k.dtype)
    mask = additive_mask(q.shape[-2], k.shape[-2], attn_mask, is_causal, dtype=dtype, xp=array_module(q.data))
    return Attention.apply(q, k, v, mask, float(scale), float(dropout_p) if training else 0.0)
