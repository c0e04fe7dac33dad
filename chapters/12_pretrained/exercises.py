"""Chapter 12 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch12_pretrained.py --answers chapters/12_pretrained/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import numpy as np


def llama_parameters_from_config(cfg) -> int:
    """Exercise 1. Write the parameter count of a Llama model as a function of its config (RMSNorm weights
    included, tied or untied head) and check it against `num_parameters()` of a model you build."""
    raise NotImplementedError("exercise 1: write llama_parameters_from_config")


def kv_cache_bytes(n_layer, n_kv_heads, head_dim, n_tokens, batch=1, bytes_per_number=4) -> int:
    """Exercise 2. How many bytes does SmolLM2's KV cache take for a 2048-token context in float32? How much would
    it take with 9 key/value heads, and how much with a single one (multi-query attention)?

    K and V, for every layer, KV head, token and feature."""
    raise NotImplementedError("exercise 2: write kv_cache_bytes")


def gqa_saving(n_heads, n_kv_heads) -> float:
    """Exercise 2. How many bytes does SmolLM2's KV cache take for a 2048-token context in float32? How much would
    it take with 9 key/value heads, and how much with a single one (multi-query attention)?

    How many times smaller the cache is than with one K/V head per query head."""
    raise NotImplementedError("exercise 2: write gqa_saving")


def training_days(n_params, n_tokens, flops_per_second, utilisation=1.0) -> float:
    r"""Exercise 3. Using $F_{\mathrm{train}} \approx 6ND$: how many days would GPT-3 175B take on 1024 GPUs that
    each sustain 100 TFLOP/s? And at 40% utilisation?"""
    raise NotImplementedError("exercise 3: write training_days")


def dequantize_q4_1_block(block: bytes) -> np.ndarray:
    """Exercise 4. Decode one Q4_1 block (20 bytes) by hand with NumPy and compare it with `GGUFFile.tensor`.

    20 bytes: float16 scale d, float16 minimum m, 16 bytes holding 32 four-bit codes (low nibbles are weights
    0..15, high nibbles 16..31); w_j = d q_j + m."""
    raise NotImplementedError("exercise 4: write dequantize_q4_1_block")


def unpermute_qk(w, n_heads):
    """Exercise 5. Write the inverse of `permute_qk_for_interleaved_rope` (GGUF layout back to Hugging Face layout)
    and check that the pair of functions round-trips.

    Inverse of ``models.llama.permute_qk_for_interleaved_rope``: rows (2i, 2i+1) of each head go back to rows
    (i, i + d/2)."""
    raise NotImplementedError("exercise 5: write unpermute_qk")
