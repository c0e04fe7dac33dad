r"""The Llama-style decoder blocks (SmolLM2, Llama 2/3, Mistral): RMSNorm, rotary embedding,
SwiGLU MLP and grouped-query attention with a KV cache. Names follow Hugging Face's ``LlamaModel``.

| layer | formula | op file |
|---|---|---|
| RMSNorm | $y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}} \odot \gamma$ | functional/rmsnorm.py |
| RotaryEmbedding | rotate pair $i$ at position $p$ by $\theta_{p,i} = p\,b^{-2i/d}$ | functional/rope.py |
| LlamaMLP | $\big(\mathrm{SiLU}(xW_g^\top) \odot xW_u^\top\big) W_d^\top$ | functional/swiglu.py |
| GroupedQueryAttention | $H$ query heads share $H_{kv}$ key/value heads, $H/H_{kv}$ each | functional/attention.py |

Grouped-query attention. With $H$ query heads and $H_{kv}$ key/value heads ($H_{kv}$ divides $H$),
query head $h$ reads key/value head $\lfloor h\,H_{kv}/H \rfloor$. The KV cache holds $2 \cdot L \cdot
H_{kv} \cdot T \cdot d$ numbers, a factor $H/H_{kv}$ (3 for SmolLM2) smaller than with one K and V
per query head. We never copy K and V $H/H_{kv}$ times: the queries are reshaped into groups
(B, H_kv, H/H_kv, T, d) and the keys (B, H_kv, 1, S, d) broadcast over the group axis.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import functional as F
from ..functional.rmsnorm import rms_norm
from ..functional.rope import rope, rope_angles
from ..functional.swiglu import swiglu
from ..tensor import Tensor
from .layers import Linear
from .module import Module, Parameter


class RMSNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = Parameter(np.ones((dim,), backend.get_default_dtype()))   # (D,)

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.dim}, eps={self.eps}"


class RotaryEmbedding(Module):
    """Rotates queries/keys by their positions; cos/sin are computed for the positions of each call
    (T x d/2 numbers, no table of max_position_embeddings rows to keep per layer; nothing is trained)."""

    def __init__(self, head_dim: int, max_position_embeddings: int = 2048, base: float = 10000.0,
                 interleaved: bool = True):
        super().__init__()
        self.head_dim, self.base, self.interleaved = head_dim, base, interleaved
        self.max_position_embeddings = max_position_embeddings

    def forward(self, x, start_pos: int = 0):
        """Rotate ``x`` (B, H, T, d) whose tokens sit at positions start_pos..start_pos+T-1."""
        T = x.shape[-2]
        if start_pos + T > self.max_position_embeddings:
            raise ValueError(f"RotaryEmbedding: position {start_pos + T - 1} requested but the model was built "
                             f"for {self.max_position_embeddings} positions (max_position_embeddings)")
        cos, sin = rope_angles(self.head_dim, np.arange(start_pos, start_pos + T), self.base, x.dtype)  # (T, d/2)
        return rope(x, backend.like(cos, x.data), backend.like(sin, x.data), self.interleaved)

    def extra_repr(self):
        return f"head_dim={self.head_dim}, base={self.base}, interleaved={self.interleaved}"


class LlamaMLP(Module):
    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate_proj = Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x):                                            # (B, T, C)
        return self.down_proj(swiglu(self.gate_proj(x), self.up_proj(x)))


class KVCache:
    """Keys and values of the tokens seen so far, one (k, v) pair of arrays per layer.

    Each array is (B, H_kv, T_seen, d); ``seen(layer)`` is T_seen, the position of the next token.
    """

    def __init__(self, n_layers: int):
        self.k = [None] * n_layers
        self.v = [None] * n_layers

    def seen(self, layer: int = 0) -> int:
        """How many tokens layer ``layer`` has cached: the position of its next token."""
        return 0 if self.k[layer] is None else self.k[layer].shape[-2]

    def update(self, layer: int, k, v):
        """Append this step's keys/values (B, H_kv, T, d) and return everything cached for the layer."""
        xp = backend.array_module(k)
        if self.k[layer] is not None:
            k = xp.concatenate([self.k[layer], k], axis=-2)
            v = xp.concatenate([self.v[layer], v], axis=-2)
        self.k[layer], self.v[layer] = k, v
        return k, v

    def reorder(self, rows):
        """Keep batch rows ``rows`` (an index array; rows may repeat), e.g. the surviving beams."""
        self.k = [None if k is None else k[rows] for k in self.k]
        self.v = [None if v is None else v[rows] for v in self.v]


class GroupedQueryAttention(Module):
    def __init__(self, hidden_size: int, num_heads: int, num_kv_heads: int, head_dim: int | None = None,
                 max_position_embeddings: int = 2048, rope_base: float = 10000.0, rope_interleaved: bool = True):
        super().__init__()
        if num_heads % num_kv_heads:
            raise ValueError(f"GroupedQueryAttention: num_heads={num_heads} is not a multiple of "
                             f"num_kv_heads={num_kv_heads}")
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = head_dim or hidden_size // num_heads
        self.q_proj = Linear(hidden_size, num_heads * self.head_dim, bias=False)
        self.k_proj = Linear(hidden_size, num_kv_heads * self.head_dim, bias=False)
        self.v_proj = Linear(hidden_size, num_kv_heads * self.head_dim, bias=False)
        self.o_proj = Linear(num_heads * self.head_dim, hidden_size, bias=False)
        self.rotary = RotaryEmbedding(self.head_dim, max_position_embeddings, rope_base, rope_interleaved)

    # [start:gqa]
    def forward(self, x, cache: KVCache | None = None, layer: int = 0):
        B, T, _ = x.shape
        H, Hkv, d = self.num_heads, self.num_kv_heads, self.head_dim
        start = cache.seen(layer) if cache is not None else 0
        q = self.q_proj(x).reshape(B, T, H, d).transpose(1, 2)        # (B, H, T, d)
        k = self.k_proj(x).reshape(B, T, Hkv, d).transpose(1, 2)      # (B, Hkv, T, d)
        v = self.v_proj(x).reshape(B, T, Hkv, d).transpose(1, 2)      # (B, Hkv, T, d)
        q, k = self.rotary(q, start), self.rotary(k, start)
        if cache is not None:                                          # inference: keys of earlier tokens
            k_all, v_all = cache.update(layer, k.data, v.data)
            k, v = Tensor(k_all), Tensor(v_all)                        # (B, Hkv, S, d), S = start + T
        q = q.reshape(B, Hkv, H // Hkv, T, d)                          # query groups share one K/V head
        k, v = k.unsqueeze(2), v.unsqueeze(2)                          # (B, Hkv, 1, S, d)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)    # (B, Hkv, H/Hkv, T, d)
        y = y.reshape(B, H, T, d).transpose(1, 2).reshape(B, T, H * d)
        return self.o_proj(y)                                          # (B, T, C)
    # [end:gqa]

    def extra_repr(self):
        return f"num_heads={self.num_heads}, num_kv_heads={self.num_kv_heads}, head_dim={self.head_dim}"


class LlamaDecoderLayer(Module):
    """Pre-norm block: $h = x + \\mathrm{Attn}(\\mathrm{RMSNorm}(x))$, $y = h + \\mathrm{MLP}(\\mathrm{RMSNorm}(h))$."""

    def __init__(self, hidden_size, intermediate_size, num_heads, num_kv_heads, head_dim=None, eps=1e-6,
                 max_position_embeddings=2048, rope_base=10000.0, rope_interleaved=True):
        super().__init__()
        self.input_layernorm = RMSNorm(hidden_size, eps)
        self.self_attn = GroupedQueryAttention(hidden_size, num_heads, num_kv_heads, head_dim,
                                               max_position_embeddings, rope_base, rope_interleaved)
        self.post_attention_layernorm = RMSNorm(hidden_size, eps)
        self.mlp = LlamaMLP(hidden_size, intermediate_size)

    def forward(self, x, cache=None, layer=0):
        h = x + self.self_attn(self.input_layernorm(x), cache, layer)
        return h + self.mlp(self.post_attention_layernorm(h))
