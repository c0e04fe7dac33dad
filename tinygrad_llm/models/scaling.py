r"""Parameter and FLOP arithmetic for decoder-only Transformers, from GPT-2 small to GPT-3 175B.

GPT-2 / GPT-3 block of width $C$ (MLP width $4C$): attention has $W_{QKV}$ ($3C^2 + 3C$) and
$W_O$ ($C^2 + C$), the MLP $4C^2 + 4C$ and $4C^2 + C$, two LayerNorms $4C$. With vocabulary $V$,
context $T$ and a head tied to the token embedding:
$$N_{\mathrm{GPT}} = VC + TC + L\,(12C^2 + 13C) + 2C \approx 12\,L\,C^2$$
Llama block (no biases, $H_{kv}$ key/value heads of size $d$, SwiGLU width $I$, two RMSNorm vectors):
$$N_{\mathrm{Llama}} = VC + L\,\big(2C^2 + 2C\,H_{kv}d + 3CI + 2C\big) + C$$
Compute: a forward pass costs one multiply and one add per weight per token, plus the attention
scores and the weighted sum over a context of $T$ ($2\cdot 2\,T C$ per layer):
$$F_{\mathrm{fwd}} \approx 2N + 4\,L\,T\,C \ \text{per token},\qquad F_{\mathrm{train}} \approx 6N \ \text{per token}$$
(backward costs twice the forward: one product for the input gradient, one for the weight gradient).
GPT-3 175B trained on 300B tokens: $6 \cdot 1.75\times10^{11} \cdot 3\times10^{11} \approx 3.1\times10^{23}$ FLOPs.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecoderShape:
    name: str
    n_layer: int
    d_model: int
    n_head: int
    vocab_size: int = 50257
    n_ctx: int = 1024


# Published shapes (GPT-2 paper table 2 / the released configs; GPT-3 paper table 2.1).
GPT2_FAMILY = [
    DecoderShape("GPT-2 small", 12, 768, 12),
    DecoderShape("GPT-2 medium", 24, 1024, 16),
    DecoderShape("GPT-2 large", 36, 1280, 20),
    DecoderShape("GPT-2 XL", 48, 1600, 25),
]
GPT3_FAMILY = [
    DecoderShape("GPT-3 Small", 12, 768, 12, n_ctx=2048),
    DecoderShape("GPT-3 Medium", 24, 1024, 16, n_ctx=2048),
    DecoderShape("GPT-3 Large", 24, 1536, 16, n_ctx=2048),
    DecoderShape("GPT-3 XL", 24, 2048, 24, n_ctx=2048),
    DecoderShape("GPT-3 2.7B", 32, 2560, 32, n_ctx=2048),
    DecoderShape("GPT-3 6.7B", 32, 4096, 32, n_ctx=2048),
    DecoderShape("GPT-3 13B", 40, 5140, 40, n_ctx=2048),
    DecoderShape("GPT-3 175B", 96, 12288, 96, n_ctx=2048),
]


# [start:gpt-params]
def gpt_parameters(n_layer, d_model, vocab_size=50257, n_ctx=1024) -> int:
    """Exact parameter count of a GPT-2-style model with a tied output head."""
    C = d_model
    per_block = (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C) + 4 * C
    return vocab_size * C + n_ctx * C + n_layer * per_block + 2 * C
# [end:gpt-params]


def llama_parameters(n_layer, d_model, intermediate, n_kv_heads, head_dim, vocab_size, tied=True) -> int:
    """Exact parameter count of a Llama-style model (no biases, RMSNorm, SwiGLU, GQA)."""
    C = d_model
    per_block = 2 * C * C + 2 * C * n_kv_heads * head_dim + 3 * C * intermediate + 2 * C
    return vocab_size * C * (1 if tied else 2) + n_layer * per_block + C


# [start:flops]
def forward_flops_per_token(n_params, n_layer, d_model, n_ctx) -> float:
    """2 FLOPs per weight (multiply + add) plus attention over a context of n_ctx tokens."""
    return 2.0 * n_params + 4.0 * n_layer * n_ctx * d_model


def training_flops(n_params, n_tokens) -> float:
    """Forward + backward (twice the forward) ~ 6 N FLOPs per training token."""
    return 6.0 * n_params * n_tokens
# [end:flops]


def table(shapes=None):
    """Rows (name, L, C, heads, parameters, forward GFLOPs per token, 12 L C^2 share) for the given shapes."""
    rows = []
    for s in shapes or GPT2_FAMILY + GPT3_FAMILY:
        n = gpt_parameters(s.n_layer, s.d_model, s.vocab_size, s.n_ctx)
        rows.append((s.name, s.n_layer, s.d_model, s.n_head, n,
                     forward_flops_per_token(n, s.n_layer, s.d_model, s.n_ctx) / 1e9,
                     12 * s.n_layer * s.d_model ** 2 / n))
    return rows
