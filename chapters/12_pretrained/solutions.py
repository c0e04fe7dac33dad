"""Chapter 12 exercise solutions (importable; tests/chapters/test_ch12_pretrained.py checks them)."""
from __future__ import annotations

import numpy as np


# Exercise 1: the parameter count of a Llama model from its config alone.
def llama_parameters_from_config(cfg) -> int:
    C, L, I = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    d = cfg.head_dim or C // cfg.num_attention_heads
    attn = C * cfg.num_attention_heads * d * 2 + 2 * C * cfg.num_key_value_heads * d   # W_Q, W_O, W_K, W_V
    mlp = 3 * C * I                                                                    # gate, up, down
    head = 0 if cfg.tie_word_embeddings else cfg.vocab_size * C
    return cfg.vocab_size * C + head + L * (attn + mlp + 2 * C) + C


# Exercise 2: KV-cache memory, and what grouped-query attention saves.
def kv_cache_bytes(n_layer, n_kv_heads, head_dim, n_tokens, batch=1, bytes_per_number=4) -> int:
    """K and V, for every layer, KV head, token and feature."""
    return 2 * n_layer * n_kv_heads * head_dim * n_tokens * batch * bytes_per_number


def gqa_saving(n_heads, n_kv_heads) -> float:
    """How many times smaller the cache is than with one K/V head per query head."""
    return n_heads / n_kv_heads


# Exercise 3: wall-clock time to train a model, from the 6 N D rule.
def training_days(n_params, n_tokens, flops_per_second, utilisation=1.0) -> float:
    return 6.0 * n_params * n_tokens / (flops_per_second * utilisation) / 86400.0


# Exercise 4: decode one Q4_1 block by hand.
def dequantize_q4_1_block(block: bytes) -> np.ndarray:
    """20 bytes: float16 scale d, float16 minimum m, 16 bytes holding 32 four-bit codes (low nibbles are
    weights 0..15, high nibbles 16..31); w_j = d q_j + m."""
    raw = np.frombuffer(bytes(block), dtype=np.uint8)
    if raw.size != 20:
        raise ValueError(f"dequantize_q4_1_block: a block is 20 bytes, got {raw.size}")
    d, m = raw[:4].view(np.float16).astype(np.float32)
    q = np.concatenate([raw[4:] & 0x0F, raw[4:] >> 4]).astype(np.float32)
    return d * q + m


# Exercise 5: undo llama.cpp's Q/K row permutation (GGUF layout -> Hugging Face layout).
def unpermute_qk(w, n_heads):
    """Inverse of ``models.llama.permute_qk_for_interleaved_rope``: rows (2i, 2i+1) of each head go back to
    rows (i, i + d/2)."""
    w = np.asarray(w)
    d = w.shape[0] // n_heads
    return w.reshape(n_heads, d // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
