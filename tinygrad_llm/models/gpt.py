r"""GPT: a decoder-only Transformer language model (GPT-2 layout and parameter names).

$$h_0 = W_{te}[x] + W_{pe}[0..T-1],\qquad
h_l = h'_l + \mathrm{MLP}(\mathrm{LN}_2(h'_l)),\quad h'_l = h_{l-1} + \mathrm{Attn}(\mathrm{LN}_1(h_{l-1})),$$
$$P(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}\big(\mathrm{LN}_f(h_L)\, W_{te}^\top\big)_t$$

Pre-LN blocks, causal multi-head self-attention with one fused ``c_attn`` projection to $[Q|K|V]$,
a tanh-GELU MLP ``c_fc`` → ``c_proj`` of width $4C$, a final ``ln_f`` and the output head tied to the
token embedding (no separate ``lm_head`` parameter). Names follow Hugging Face GPT-2
(``wte``, ``wpe``, ``h.{i}.attn.c_attn``, ``h.{i}.mlp.c_fc``, ``ln_f``) so ``models/gpt2_hf.py`` can
load GPT-2 checkpoints.

Counts. Per block $12C^2 + 13C$ parameters (4C² attention, 8C² MLP, biases, two LayerNorms), plus
$VC + TC$ embeddings and $2C$ for ``ln_f``. Training FLOPs per token (Kaplan et al.):
$$\mathrm{FLOPs} \approx 6N + 6\,L\,T\,C$$
($N$ = non-embedding parameters plus the tied head, $2N$ forward + $4N$ backward, and the attention
scores $QK^\top$ and $PV$: $2\cdot 2 L T C$ forward, doubled for backward, counted for the full window).

KV cache. At generation time each layer keeps the keys and values of the tokens already seen, so a
new token costs one row of attention instead of a full forward over the context. Because position
embeddings are absolute, the cache is only valid while the context starts at the same token; when the
context window ($T$ = ``block_size``) is full, the context jumps forward by half a window and the cache
is re-filled once from the kept half (see ``context_start``). The uncached path uses the same context
rule, so both produce the same tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..generation import GenerationMixin, KVCache
from ..nn import Dropout, Embedding, LayerNorm, Linear, Module, ModuleList
from ..tensor import Tensor
from . import gpt2_hf
from .config import ModelConfig


@dataclass
class GPTConfig(ModelConfig):
    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    layer_norm_eps: float = 1e-5

    PRESETS: ClassVar[dict] = {
        "tiny": dict(n_layer=2, n_head=2, n_embd=32, block_size=32),
        "cpu": dict(n_layer=4, n_head=4, n_embd=128, block_size=64),
        "baby": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2),
        "gpt2": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50257),
    }
    SIZES: ClassVar[tuple] = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")

    def __post_init__(self):
        self.check()
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd={self.n_embd} is not divisible by n_head={self.n_head}")

    def num_parameters(self) -> int:
        """Parameters a ``GPT`` of this config holds, from the formula alone (nothing is allocated):
        $VC + TC$ embeddings, $12C^2 + 4C$ per block ($+9C$ with biases) and $2C$ for ``ln_f``."""
        C, L = self.n_embd, self.n_layer
        per_block = 12 * C * C + 4 * C + (9 * C if self.bias else 0)
        return self.vocab_size * C + self.block_size * C + L * per_block + 2 * C

    def num_tensors(self) -> int:
        """Arrays in a ``GPT``'s ``state_dict`` of this config (12 per block with biases, 8 without, + 4)."""
        return 4 + self.n_layer * (12 if self.bias else 8)


def context_start(n: int, block_size: int) -> int:
    """First position of the context used to predict token ``n`` from ``ids[:n]``: 0 while the sequence
    fits, then it moves in jumps of half a window so a KV cache can be reused between jumps."""
    if n <= block_size:
        return 0
    shift = max(1, block_size // 2)
    return -(-(n - block_size) // shift) * shift


class CausalSelfAttention(Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.n_embd, self.dropout = cfg.n_head, cfg.n_embd, cfg.dropout
        self.c_attn = Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)   # x -> [q | k | v]
        self.c_proj = Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = Dropout(cfg.dropout)

    # [start:attention]
    def forward(self, x, cache: KVCache | None = None, layer: int = 0):
        B, T, C = x.shape
        H, D = self.n_head, C // self.n_head
        qkv = self.c_attn(x).reshape(B, T, 3, H, D).permute(2, 0, 3, 1, 4)  # (3, B, H, T, D)
        q, k, v = qkv[0], qkv[1], qkv[2]                                    # (B, H, T, D) each
        if cache is not None:                       # generation: the keys/values already seen come first
            k_all, v_all = cache.update(layer, k.data, v.data)             # (B, H, T_past + T, D)
            k, v = Tensor(k_all), Tensor(v_all)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1, dropout_p=self.dropout,
                                           training=self.training)           # (B, H, T, D)
        y = y.permute(0, 2, 1, 3).reshape(B, T, C)                          # (B, T, C)
        return self.resid_dropout(self.c_proj(y))
    # [end:attention]


class MLP(Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, eps=cfg.layer_norm_eps)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.n_embd, eps=cfg.layer_norm_eps)
        self.mlp = MLP(cfg)

    # [start:block]
    def forward(self, x, cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), cache, layer)  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))             # (B, T, C)
        return x
    # [end:block]


class GPT(GenerationMixin, Module):
    def __init__(self, config: GPTConfig | None = None, **kwargs):
        super().__init__()
        cfg = config if config is not None else GPTConfig(**kwargs)
        self.config = cfg
        self.wte = Embedding(cfg.vocab_size, cfg.n_embd)        # (V, C), also the output head
        self.wpe = Embedding(cfg.block_size, cfg.n_embd)        # (T, C)
        self.drop = Dropout(cfg.dropout)
        self.h = ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = LayerNorm(cfg.n_embd, eps=cfg.layer_norm_eps)
        self._init_weights()

    def _init_weights(self):
        """GPT-2 init: N(0, 0.02) matrices, zero biases, residual projections scaled by 1/sqrt(2L)."""
        rng, dt = backend.rng(), backend.get_default_dtype()
        for name, p in self.named_parameters():
            if p.ndim < 2:
                if "ln" not in name:
                    p.data = np.zeros(p.shape, dt)
                continue
            std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("c_proj.weight") else 0.02
            p.data = (rng.standard_normal(p.shape) * std).astype(dt)

    # [start:forward]
    def forward(self, idx, targets=None, cache=None, start_pos: int = 0):
        """Logits (B, T, V) for token ids (B, T); with ``targets`` also the mean cross-entropy loss.
        ``cache`` (from ``new_cache``) and ``start_pos`` are for generation with a KV cache."""
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2:
            raise ValueError(f"GPT: expected token ids of shape (B, T), got {idx.shape}")
        B, T = idx.shape
        if start_pos + T > self.config.block_size:
            raise ValueError(f"GPT: positions {start_pos}..{start_pos + T - 1} exceed block_size "
                             f"{self.config.block_size}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise IndexError(f"GPT: token id out of range 0..{self.config.vocab_size - 1}")
        pos = np.arange(start_pos, start_pos + T)
        x = self.drop(self.wte(idx) + self.wpe(pos))            # (B, T, C)
        for i, block in enumerate(self.h):
            x = block(x, cache, i)                              # (B, T, C)
        x = self.ln_f(x)
        logits = F.linear(x, self.wte.weight)                   # (B, T, V): head tied to wte
        if targets is None:
            return logits
        loss = F.cross_entropy(logits, np.asarray(targets.data if isinstance(targets, Tensor) else targets))
        return logits, loss
    # [end:forward]

    # ---------------------------------------------------------------- generation hooks
    def new_cache(self) -> KVCache:
        return KVCache(self.config.n_layer)

    def next_logits(self, ids, state=None, use_cache=True):
        """Logits (B, V) for the token after ``ids`` (B, n). ``state`` is what the previous call returned;
        with ``use_cache`` only the new tokens go through the model while the context start is unchanged."""
        n, T = ids.shape[1], self.config.block_size
        s = context_start(n, T)
        with no_grad():
            if not use_cache:
                return self.forward(ids[:, s:]).data[:, -1], None
            if state is None or state["start"] != s:          # (re-)fill the cache from the window
                state = {"start": s, "seen": n, "cache": self.new_cache()}
                logits = self.forward(ids[:, s:], cache=state["cache"])
            else:
                seen = state["seen"]
                logits = self.forward(ids[:, seen:], cache=state["cache"], start_pos=seen - s)
                state["seen"] = n
        return logits.data[:, -1], state

    @staticmethod
    def reorder_state(state, index):
        """Keep/duplicate batch rows of the cache (beam search)."""
        if state is not None and state.get("cache") is not None:
            state["cache"].reorder(index)
        return state

    @classmethod
    def from_pretrained(cls, folder):
        """A GPT with the weights of a Hugging Face GPT-2 checkpoint folder (config.json + model.safetensors)."""
        hf = gpt2_hf.read_config(folder)
        model = cls(GPTConfig(**gpt2_hf.config_kwargs(hf)))
        model.load_state_dict(gpt2_hf.load_state(folder, model.state_dict()))
        return model.eval()

    # ---------------------------------------------------------------- counts
    def num_parameters(self, non_embedding: bool = False) -> int:
        n = super().num_parameters()
        if non_embedding:
            n -= self.wpe.weight.size
        return n

    def flops_per_token(self) -> int:
        """Training FLOPs per token: 6N (forward + backward of every weight) + 6LTC (attention scores)."""
        c = self.config
        N = self.num_parameters(non_embedding=True)
        return 6 * N + 6 * c.n_layer * c.block_size * c.n_embd

    @property
    def block_size(self):
        return self.config.block_size
